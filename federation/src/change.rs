//! Changes: one mutation of one entity made at one site, and the rules every change must meet
//! (ids, sizes, characters, kinds, the status state machine) before anyone merges it. Which
//! text fields may span lines is decided here; what that allows is [`crate::text`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::clock::Hlc;
use crate::error::{Error, Result, quote};
use crate::ids::{PublicNumber, check_slug};
use crate::model::{
    ArticleDraft, ArticleField, BrandField, CallEvent, Comment, EntityKey, EntityKind, FieldValue,
    PolicyField, SuggestionField, TicketField,
};
use crate::status::check_transition;
use crate::text::{Lines, check_required, check_text};

/// Most operations in one change.
pub const MAX_OPS: usize = 64;
/// Longest short text (names, subjects, aliases, references), in bytes.
pub const MAX_SHORT_TEXT: usize = 512;
/// Longest comment body, in bytes.
pub const MAX_COMMENT_BODY: usize = 16 * 1024;
/// Longest long text (article bodies, templates, scripts), in bytes.
pub const MAX_LONG_TEXT: usize = 64 * 1024;
/// Most entries in a list field.
pub const MAX_LIST_LEN: usize = 64;

/// The position of a write in the last-writer-wins order: HLC first, then site id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// When.
    pub hlc: Hlc,
    /// Where.
    pub site: String,
}

/// One operation of a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    /// Set a scalar field.
    Set(FieldValue),
    /// Add a comment (tickets).
    AddComment(Comment),
    /// Add a call event (call logs).
    AddCallEvent(CallEvent),
    /// Delete the entity (final).
    Delete {
        /// Why, for the audit trail.
        reason: String,
    },
}

/// One mutation of one entity, made at one site.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The entity.
    pub key: EntityKey,
    /// The operations, applied together.
    pub ops: Vec<FieldOp>,
    /// The writing site.
    pub origin_site: String,
    /// The site's sequence number of this change (from 1).
    pub origin_seq: u64,
    /// When it was made.
    pub hlc: Hlc,
}

impl Change {
    /// The position of every write in this change.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            hlc: self.hlc,
            site: self.origin_site.clone(),
        }
    }

    /// Checks every rule a change must meet on its own; errors name the field under `change.`.
    pub fn validate(&self) -> Result<()> {
        check_entity_id(&self.key).map_err(|e| e.within("change.key"))?;
        check_slug("change.origin_site", &self.origin_site)?;
        if self.origin_seq == 0 {
            return Err(Error::invalid("change.origin_seq", "must be 1 or more"));
        }
        if self.hlc.wall_ms == 0 {
            return Err(Error::invalid(
                "change.hlc",
                "must be set (wall_ms above 0)",
            ));
        }
        if self.ops.is_empty() {
            return Err(Error::invalid(
                "change.ops",
                "a change needs at least one operation",
            ));
        }
        if self.ops.len() > MAX_OPS {
            return Err(Error::TooLarge {
                field: "change.ops".into(),
                size: self.ops.len(),
                limit: MAX_OPS,
            });
        }
        let mut registers = BTreeSet::new();
        let mut elements = BTreeSet::new();
        for (i, op) in self.ops.iter().enumerate() {
            let path = format!("change.ops[{i}]");
            check_op(&self.key, op).map_err(|e| e.within(&path))?;
            let fresh = match op {
                FieldOp::Set(value) => registers.insert(value.register()),
                FieldOp::AddComment(c) => elements.insert(c.id.clone()),
                FieldOp::AddCallEvent(e) => elements.insert(e.id.clone()),
                FieldOp::Delete { .. } => registers.insert("\0delete".to_owned()),
            };
            if !fresh {
                return Err(Error::invalid(
                    path,
                    "the same field, element or delete appears twice in one change; allowed: \
                     each at most once",
                ));
            }
        }
        Ok(())
    }
}

/// Checks an entity id against its kind's format.
pub fn check_entity_id(key: &EntityKey) -> Result<()> {
    match key.kind {
        EntityKind::Ticket => PublicNumber::parse("id", &key.id).map(|_| ()),
        EntityKind::Article | EntityKind::Policy | EntityKind::Suggestion => {
            check_slug("id", &key.id)
        }
        EntityKind::Brand if key.id == "brand" => Ok(()),
        EntityKind::Brand => Err(Error::invalid(
            "id",
            format!("{}: the brand's id is always \"brand\"", quote(&key.id)),
        )),
        EntityKind::CallLog => check_call_log_id(&key.id),
    }
}

/// The site a call log id names: `<site>.<yyyy-mm-dd>`.
pub fn call_log_site(id: &str) -> Option<&str> {
    id.split_once('.').map(|(site, _)| site)
}

fn check_call_log_id(id: &str) -> Result<()> {
    let bad = || {
        Error::invalid(
            "id",
            format!(
                "{} is not a call log id; expected <site>.<yyyy-mm-dd>, e.g. dortmund.2026-11-26",
                quote(id)
            ),
        )
    };
    let (site, date) = id.split_once('.').ok_or_else(bad)?;
    check_slug("id", site).map_err(|_| bad())?;
    let parts: Vec<&str> = date.split('-').collect();
    let shape = [4, 2, 2];
    let digits_ok = parts.len() == 3
        && parts
            .iter()
            .zip(shape)
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_digit()));
    if !digits_ok {
        return Err(bad());
    }
    let month: u32 = parts[1].parse().map_err(|_| bad())?;
    let day: u32 = parts[2].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    Ok(())
}

fn check_op(key: &EntityKey, op: &FieldOp) -> Result<()> {
    match op {
        FieldOp::Set(value) => {
            if value.kind() != key.kind {
                return Err(Error::invalid(
                    "set",
                    format!("a {} field cannot be set on a {}", value.kind(), key.kind),
                ));
            }
            check_value(key, value).map_err(|e| e.within("set"))
        }
        FieldOp::AddComment(comment) => {
            if key.kind != EntityKind::Ticket {
                return Err(Error::invalid(
                    "add_comment",
                    format!("comments belong to tickets, not to a {}", key.kind),
                ));
            }
            check_comment(comment).map_err(|e| e.within("add_comment"))
        }
        FieldOp::AddCallEvent(event) => {
            if key.kind != EntityKind::CallLog {
                return Err(Error::invalid(
                    "add_call_event",
                    format!("call events belong to call logs, not to a {}", key.kind),
                ));
            }
            if call_log_site(&key.id) != Some(event.site.as_str()) {
                return Err(Error::invalid(
                    "add_call_event.site",
                    format!(
                        "{} is not the site of call log {}",
                        quote(&event.site),
                        quote(&key.id)
                    ),
                ));
            }
            check_call_event(event).map_err(|e| e.within("add_call_event"))
        }
        FieldOp::Delete { reason } => {
            check_text("delete.reason", reason, MAX_SHORT_TEXT, Lines::One)
        }
    }
}

/// A list of at most [`MAX_LIST_LEN`] non-empty one-line short texts (article tags).
pub(crate) fn check_list(field: &str, values: &[String]) -> Result<()> {
    if values.len() > MAX_LIST_LEN {
        return Err(Error::TooLarge {
            field: field.to_owned(),
            size: values.len(),
            limit: MAX_LIST_LEN,
        });
    }
    for (i, value) in values.iter().enumerate() {
        check_required(&format!("{field}[{i}]"), value, MAX_SHORT_TEXT, Lines::One)?;
    }
    Ok(())
}

/// A list as [`check_list`] whose every entry is a slug (focus teams, tenants).
pub(crate) fn check_slug_list(field: &str, values: &[String]) -> Result<()> {
    check_list(field, values)?;
    for (i, value) in values.iter().enumerate() {
        check_slug(&format!("{field}[{i}]"), value)?;
    }
    Ok(())
}

fn check_draft(draft: &ArticleDraft) -> Result<()> {
    if draft.is_empty() {
        return if draft == &ArticleDraft::default() {
            Ok(())
        } else {
            Err(Error::invalid(
                "draft.title",
                "is empty but the draft has other content; allowed: a title, or an empty draft \
                 (no language, body, tags or teams) to discard it",
            ))
        };
    }
    if draft.language.is_none() {
        return Err(Error::invalid(
            "draft.language",
            "is missing; allowed: de, en",
        ));
    }
    check_required("draft.title", &draft.title, MAX_SHORT_TEXT, Lines::One)?;
    check_required("draft.body", &draft.body, MAX_LONG_TEXT, Lines::Many)?;
    check_list("draft.tags", &draft.tags)?;
    check_slug_list("draft.focus_teams", &draft.focus_teams)
}

fn check_colour(field: &str, value: &str) -> Result<()> {
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{} is not a colour; allowed: #rrggbb", quote(value)),
        ))
    }
}

fn check_percent(field: &str, value: u32) -> Result<()> {
    if value > 100 {
        return Err(Error::invalid(
            field,
            format!("{value} is not a percentage; allowed: 0 to 100"),
        ));
    }
    Ok(())
}

fn check_value(key: &EntityKey, value: &FieldValue) -> Result<()> {
    match value {
        FieldValue::Ticket(f) => check_ticket_field(key, f).map_err(|e| e.within("ticket")),
        FieldValue::Article(f) => {
            let r = match f {
                ArticleField::Version(_) | ArticleField::Language(_) | ArticleField::State(_) => {
                    Ok(())
                }
                ArticleField::Title(t) => check_required("title", t, MAX_SHORT_TEXT, Lines::One),
                ArticleField::Body(t) => check_text("body", t, MAX_LONG_TEXT, Lines::Many),
                ArticleField::Tags(tags) => check_list("tags", tags),
                ArticleField::FocusTeams(teams) => check_slug_list("focus_teams", teams),
                ArticleField::Draft(draft) => check_draft(draft),
            };
            r.map_err(|e| e.within("article"))
        }
        FieldValue::Brand(f) => {
            let r = match f {
                BrandField::Version(_) => Ok(()),
                BrandField::DisplayName(t) => {
                    check_required("display_name", t, MAX_SHORT_TEXT, Lines::One)
                }
                BrandField::HotlineNumber(t) => {
                    check_required("hotline_number", t, MAX_SHORT_TEXT, Lines::One)
                }
                // An empty greeting or template is a withdrawn one (a register stays).
                BrandField::Greeting(_, _, t) => {
                    check_text("greeting.text", t, MAX_LONG_TEXT, Lines::Many)
                }
                BrandField::AliasPatterns(patterns) => check_list("alias_patterns", patterns),
                BrandField::AccentColor(c) => check_colour("accent_color", c),
                BrandField::Template(name, _, t) => check_slug("template.name", name)
                    .and_then(|()| check_text("template.text", t, MAX_LONG_TEXT, Lines::Many)),
                BrandField::Signature(t) => check_text("signature", t, MAX_SHORT_TEXT, Lines::Many),
                BrandField::ForbiddenTerms(terms) => check_list("forbidden_terms", terms),
            };
            r.map_err(|e| e.within("brand"))
        }
        FieldValue::Policy(f) => {
            let r = match f {
                PolicyField::DisplayName(t) => {
                    check_required("display_name", t, MAX_SHORT_TEXT, Lines::One)
                }
                PolicyField::Handlers(list) => check_slug_list("handlers", list),
                PolicyField::PiiGrants(list) => check_slug_list("pii_grants", list),
                PolicyField::SlaAnswerSeconds(s) if (1..=3600).contains(s) => Ok(()),
                PolicyField::SlaAnswerSeconds(s) => Err(Error::invalid(
                    "sla_answer_seconds",
                    format!("{s} is out of range; allowed: 1 to 3600 seconds"),
                )),
                PolicyField::SlaTargetPercent(p) => check_percent("sla_target_percent", *p),
                PolicyField::FcrTargetPercent(p) => check_percent("fcr_target_percent", *p),
                PolicyField::ReviewCadence(_) => Ok(()),
                PolicyField::PartnerRetentionDays(d) => crate::retention::check_days(*d),
            };
            r.map_err(|e| e.within("policy"))
        }
        FieldValue::Suggestion(f) => {
            let r = match f {
                SuggestionField::ArticleId(id) => check_slug("article_id", id),
                SuggestionField::AuthorTenant(t) => check_slug("author_tenant", t),
                SuggestionField::BaseVersion(_)
                | SuggestionField::State(_)
                | SuggestionField::ProposedLanguage(_)
                | SuggestionField::AcceptedVersion(_) => Ok(()),
                SuggestionField::RejectReason(t) => {
                    check_text("reject_reason", t, MAX_LONG_TEXT, Lines::Many)
                }
                SuggestionField::ProposedTitle(t) => {
                    check_text("proposed_title", t, MAX_SHORT_TEXT, Lines::One)
                }
                SuggestionField::ProposedBody(t) => {
                    check_text("proposed_body", t, MAX_LONG_TEXT, Lines::Many)
                }
                SuggestionField::ProposedTags(tags) => check_list("proposed_tags", tags),
                SuggestionField::Rationale(t) => {
                    check_text("rationale", t, MAX_LONG_TEXT, Lines::Many)
                }
            };
            r.map_err(|e| e.within("suggestion"))
        }
    }
}

fn check_ticket_field(key: &EntityKey, field: &TicketField) -> Result<()> {
    match field {
        TicketField::PublicNumber(n) if *n == key.id => Ok(()),
        TicketField::PublicNumber(n) => Err(Error::invalid(
            "public_number",
            format!(
                "{} differs from the ticket's id {}; they must be equal",
                quote(n),
                quote(&key.id)
            ),
        )),
        TicketField::FocusTeam(t) => check_slug("focus_team", t),
        TicketField::HandlingSite(s) => check_slug("handling_site", s),
        TicketField::OriginTenant(t) => check_slug("origin_tenant", t),
        TicketField::Status(transition) => check_transition("status", *transition),
        TicketField::CustomerRef(t) => {
            check_required("customer_ref", t, MAX_SHORT_TEXT, Lines::One)
        }
        TicketField::Category(t) => check_required("category", t, MAX_SHORT_TEXT, Lines::One),
        TicketField::Subject(t) => check_text("subject", t, MAX_SHORT_TEXT, Lines::One),
        TicketField::AssigneeAlias(t) => {
            check_text("assignee_alias", t, MAX_SHORT_TEXT, Lines::One)
        }
        TicketField::CustomerName(t) => check_text("customer_name", t, MAX_SHORT_TEXT, Lines::One),
        TicketField::CustomerEmail(t) => {
            check_text("customer_email", t, MAX_SHORT_TEXT, Lines::One)
        }
        TicketField::CustomerPhone(t) => {
            check_text("customer_phone", t, MAX_SHORT_TEXT, Lines::One)
        }
        TicketField::AccessCode(t) => check_access_code_hash(t),
        TicketField::Rating(rating) => {
            crate::service::check_score(u32::from(rating.score))?;
            check_text(
                "rating.remark",
                &rating.remark,
                MAX_RATING_REMARK,
                Lines::Many,
            )
        }
        TicketField::Priority(_)
        | TicketField::Language(_)
        | TicketField::Channel(_)
        | TicketField::OpenedAt(_)
        | TicketField::FirstAnswerAt(_)
        | TicketField::ResolvedAt(_)
        | TicketField::FirstContact(_)
        | TicketField::ArchivedAt(_)
        | TicketField::ErasedAt(_) => Ok(()),
    }
}

/// Checks the stored form of an access code: `<16 to 64 hex salt>:<64 hex sha-256>`.
fn check_access_code_hash(value: &str) -> Result<()> {
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = value.split_once(':').is_some_and(|(salt, hash)| {
        (16..=64).contains(&salt.len()) && hex(salt) && hash.len() == 64 && hex(hash)
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "access_code",
            "is not a salted hash; allowed: <16 to 64 lowercase hex salt>:<64 lowercase hex \
             sha-256>, never the code itself",
        ))
    }
}

/// Checks the id of a comment or call event: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn check_element_id(field: &str, id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{} is not a valid element id; allowed: 1 to 64 of A-Z a-z 0-9 - _ .",
                quote(id)
            ),
        ))
    }
}

fn check_comment(comment: &Comment) -> Result<()> {
    check_element_id("id", &comment.id)?;
    check_slug("author_tenant", &comment.author_tenant)?;
    check_text(
        "author_alias",
        &comment.author_alias,
        MAX_SHORT_TEXT,
        Lines::One,
    )?;
    if comment.attachments.len() > crate::attachment::MAX_PER_COMMENT {
        return Err(Error::TooLarge {
            field: "attachments".into(),
            size: comment.attachments.len(),
            limit: crate::attachment::MAX_PER_COMMENT,
        });
    }
    for (i, file) in comment.attachments.iter().enumerate() {
        crate::attachment::check_ref(file).map_err(|e| e.within(&format!("attachments[{i}]")))?;
    }
    // A comment that carries files may leave its text empty (a file attached to the ticket).
    if comment.attachments.is_empty() {
        check_required("body", &comment.body, MAX_COMMENT_BODY, Lines::Many)
    } else {
        check_text("body", &comment.body, MAX_COMMENT_BODY, Lines::Many)
    }
}

fn check_call_event(event: &CallEvent) -> Result<()> {
    check_element_id("id", &event.id)?;
    if let Some(team) = &event.focus_team {
        check_slug("focus_team", team)?;
    }
    if let Some(number) = &event.ticket_number {
        PublicNumber::parse("ticket_number", number)?;
    }
    for (field, seconds) in [
        ("talk_seconds", event.talk_seconds),
        ("wrap_seconds", event.wrap_seconds),
    ] {
        if seconds > MAX_CALL_SECONDS {
            return Err(Error::invalid(
                field,
                format!(
                    "{seconds} seconds is more than allowed; at most {MAX_CALL_SECONDS} (one day)"
                ),
            ));
        }
    }
    Ok(())
}

/// The longest remark a customer may give with a rating, in bytes.
pub const MAX_RATING_REMARK: usize = 1000;

/// The most talk or wrap-up seconds one call event may report: one day.
pub const MAX_CALL_SECONDS: u32 = 86_400;

#[cfg(test)]
mod tests;
