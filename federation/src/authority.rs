//! Who may make which change (DESIGN.md section 5), written once for the gateway (which
//! enforces it) and the adapters (which refuse at once what the gateway would refuse).
//!
//! The caller's tenant and site come from its certificate, never from the change. Each rule
//! compares them with what the change claims and with the entity as the checker holds it:
//!
//! - a site writes only changes stamped with its own site;
//! - an entity the caller may not see answers exactly like one that does not exist;
//! - a deleted entity is final: partners no longer see it, in-house may not write it;
//! - tickets: created only with a number leased to the site, naming the creating tenant; a
//!   partner creates them only in focus teams its tenant handles and never moves one to another
//!   team (only in-house re-routes; a partner escalates); a status change names the status the
//!   writer saw, and is a conflict when that is not the current one (so `closed` stays final);
//!   focus teams and handling sites must be configured ones, a partner names only its own
//!   tenant's sites; comment ids
//!   carry the writing site as `<site>-<number>`, so no site can write, probe or clash with
//!   another site's ids;
//! - articles, the brand and policies: in-house only;
//! - suggestions: ids are `<site>-<number>` of the proposing site; partners propose and edit
//!   their open ones, only in-house decides or deletes;
//! - call logs: each site writes only its own, naming configured focus teams.

use hotline_proto::v1::RejectReason;

use crate::change::{Change, FieldOp, call_log_site};
use crate::ids::{INHOUSE, PublicNumber};
use crate::model::{
    EntityKind, FieldValue, SuggestionField, SuggestionState, TicketField, TicketStatus,
};
use crate::state::EntityState;
use crate::visibility::{Directory, sees};

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A site, identified by its certificate.
    Site {
        /// Its tenant.
        tenant: String,
        /// The site.
        site: String,
    },
    /// The gateway itself (policies seeded from its config).
    Gateway,
}

/// Why a change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn refuse(reason: RejectReason, message: impl Into<String>) -> Refusal {
    Refusal {
        reason,
        message: message.into(),
    }
}

/// The answer for a ticket the caller may not see: exactly the answer for a missing one.
pub fn no_such_ticket(id: &str, site: &str) -> Refusal {
    refuse(
        RejectReason::Forbidden,
        format!(
            "ticket {id} does not exist for you, and its number was not leased to site {site}; \
             create tickets only with numbers from your own lease"
        ),
    )
}

/// The refusal for a change whose `(origin_site, origin_seq)` was accepted before with other
/// content.
pub fn reused_origin_seq(site: &str, origin_seq: u64) -> Refusal {
    refuse(
        RejectReason::Conflict,
        format!(
            "origin_seq {origin_seq} of site {site} was accepted before with different content; \
             each change needs its own origin_seq (a retry must resend exactly the same change)"
        ),
    )
}

/// The refusal for a change from another site than the caller's.
pub fn origin_mismatch(claimed: &str, site: &str) -> Refusal {
    refuse(
        RejectReason::OriginMismatch,
        format!("origin_site {claimed:?} is not your site; your certificate names site {site:?}"),
    )
}

/// True when an element or entity id has the form `<site>-<number>`: the site is everything
/// before the last `-`, so `berlin-mitte-7` belongs to `berlin-mitte`, never to `berlin`.
pub fn id_of_site(id: &str, site: &str) -> bool {
    match id.rsplit_once('-') {
        Some((owner, number)) => {
            owner == site && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

/// The focus teams `tenant` handles (in-house: every configured one).
pub fn teams_handled(tenant: &str, directory: &Directory) -> Vec<String> {
    directory
        .teams
        .iter()
        .filter(|(_, access)| tenant == INHOUSE || access.handlers.contains(tenant))
        .map(|(team, _)| team.clone())
        .collect()
}

fn listed<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.into_iter().map(String::as_str).collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The current status of a ticket, if set.
pub fn current_status(state: &EntityState) -> Option<TicketStatus> {
    match state.value("status") {
        Some(FieldValue::Ticket(TicketField::Status(t))) => Some(t.to),
        _ => None,
    }
}

/// The focus team of a ticket, if set.
pub fn focus_team(state: &EntityState) -> Option<&str> {
    match state.value("focus_team") {
        Some(FieldValue::Ticket(TicketField::FocusTeam(team))) => Some(team),
        _ => None,
    }
}

/// Checks `change` by `caller` against the entity's state `before` (empty when nothing is
/// stored). `directory` holds the configured focus teams and registered sites; `leased`
/// answers whether a ticket number was leased to the caller's site.
pub fn authorize(
    caller: &Caller,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
    ticket_prefix: &str,
    leased: impl FnOnce(&PublicNumber) -> bool,
) -> Result<(), Refusal> {
    let (tenant, site) = match caller {
        Caller::Gateway => return Ok(()),
        Caller::Site { tenant, site } => (tenant.as_str(), site.as_str()),
    };
    if change.origin_site != site {
        return Err(origin_mismatch(&change.origin_site, site));
    }
    let inhouse = tenant == INHOUSE;
    if before.deleted.is_some() && inhouse {
        return Err(refuse(
            RejectReason::Forbidden,
            format!(
                "{} {} is deleted, and a delete is final; create a new one instead",
                change.key.kind, change.key.id
            ),
        ));
    }
    let who = Who { tenant, site };
    match change.key.kind {
        EntityKind::Ticket => {
            authorize_ticket(who, change, before, directory, ticket_prefix, leased)
        }
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy if !inhouse => Err(refuse(
            RejectReason::Forbidden,
            "only the in-house team changes articles, the brand and focus team policies; \
             partners read them and may propose article edits as suggestions",
        )),
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy => Ok(()),
        EntityKind::Suggestion => authorize_suggestion(who, change, before, directory),
        EntityKind::CallLog => authorize_call_log(who, change, before, directory),
    }
}

#[derive(Clone, Copy)]
struct Who<'a> {
    tenant: &'a str,
    site: &'a str,
}

impl Who<'_> {
    fn inhouse(&self) -> bool {
        self.tenant == INHOUSE
    }
}

fn authorize_ticket(
    who: Who<'_>,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
    ticket_prefix: &str,
    leased: impl FnOnce(&PublicNumber) -> bool,
) -> Result<(), Refusal> {
    let Who { tenant, site } = who;
    let id = &change.key.id;
    let exists = !before.is_empty();
    let set_team = change.ops.iter().find_map(|op| match op {
        FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam(t))) => Some(t.as_str()),
        _ => None,
    });
    if exists {
        if !sees(tenant, before, directory) {
            return Err(no_such_ticket(id, site));
        }
    } else {
        let number = PublicNumber::parse("id", id)
            .map_err(|e| refuse(RejectReason::Invalid, e.to_string()))?;
        if number.prefix != ticket_prefix || !leased(&number) {
            return Err(no_such_ticket(id, site));
        }
        let sets_origin = names_tenant(change, tenant, |v| match v {
            FieldValue::Ticket(TicketField::OriginTenant(t)) => Some(t),
            _ => None,
        });
        if !sets_origin {
            return Err(refuse(
                RejectReason::Invalid,
                format!("creating ticket {id} needs origin_tenant = {tenant:?} in the same change"),
            ));
        }
        if !who.inhouse() && set_team.is_none() {
            return Err(refuse(
                RejectReason::Invalid,
                format!(
                    "creating ticket {id} needs its focus_team in the same change; tenant {tenant} \
                     may create tickets in: {}",
                    listed(&teams_handled(tenant, directory))
                ),
            ));
        }
    }
    let team_now = focus_team(before);
    for op in &change.ops {
        let FieldOp::Set(FieldValue::Ticket(field)) = op else {
            check_ticket_element(who, op, before)?;
            continue;
        };
        match field {
            TicketField::OriginTenant(t) if exists || t != tenant => {
                return Err(refuse(
                    RejectReason::Forbidden,
                    format!(
                        "origin_tenant is written once, by the creating tenant ({tenant:?} may \
                         not set {t:?})"
                    ),
                ));
            }
            TicketField::FocusTeam(team) => {
                check_team(team, "focus_team", directory)?;
                // Not even the same team again: a partner's write of the current team with a
                // clock ahead would outrank (and so undo) an in-house move made meanwhile.
                if !who.inhouse() && exists {
                    return Err(refuse(
                        RejectReason::Forbidden,
                        format!(
                            "only the in-house team writes the focus team of an existing ticket \
                             (it is {}); escalate it instead (status escalated)",
                            team_now.unwrap_or("none")
                        ),
                    ));
                }
                check_outranks(change, before, "focus_team")?;
                if !who.inhouse() && !exists && !directory.handles(tenant, team) {
                    return Err(refuse(
                        RejectReason::Forbidden,
                        format!(
                            "tenant {tenant} does not handle focus team {team}; it may create \
                             tickets in: {}",
                            listed(&teams_handled(tenant, directory))
                        ),
                    ));
                }
            }
            TicketField::HandlingSite(handler) => {
                let known = directory.site_tenants.get(handler);
                if known.is_none() && !directory.sites_complete {
                    // A site does not know the registry; the gateway decides.
                    continue;
                }
                let Some(owner) = known else {
                    return Err(refuse(
                        RejectReason::Invalid,
                        format!(
                            "handling_site {handler} is not a registered site; known: {}",
                            listed(directory.site_tenants.keys())
                        ),
                    ));
                };
                if !who.inhouse() && owner != tenant {
                    let own = directory
                        .site_tenants
                        .iter()
                        .filter(|(_, t)| *t == tenant)
                        .map(|(s, _)| s);
                    return Err(refuse(
                        RejectReason::Forbidden,
                        format!(
                            "handling_site {handler} is not a site of tenant {tenant}; yours: {}",
                            listed(own)
                        ),
                    ));
                }
            }
            TicketField::Status(transition) => {
                check_outranks(change, before, "status")?;
                let current = current_status(before);
                if transition.from != current {
                    let name = |s: Option<TicketStatus>| s.map_or("none", TicketStatus::as_str);
                    return Err(refuse(
                        RejectReason::Conflict,
                        format!(
                            "ticket {id} is {}, not {} as this change assumes; read it again and \
                             change the status from what it is now{}",
                            name(current),
                            name(transition.from),
                            if current == Some(TicketStatus::Closed) {
                                " (closed is final)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            // Customer data may be written without the grant to read it (an agent records
            // the caller's name for in-house); it never comes back to the writer.
            _ => {}
        }
    }
    Ok(())
}

/// Comments and deletes of a ticket.
fn check_ticket_element(who: Who<'_>, op: &FieldOp, before: &EntityState) -> Result<(), Refusal> {
    let Who { tenant, site } = who;
    match op {
        FieldOp::AddComment(comment) => {
            if comment.author_tenant != tenant {
                return Err(refuse(
                    RejectReason::Forbidden,
                    format!(
                        "comment {} names author_tenant {:?}; your certificate says {tenant:?}",
                        comment.id, comment.author_tenant
                    ),
                ));
            }
            // Ids carry the writing site, so no site can probe (or clash with) the ids of
            // comments it may not read.
            if !id_of_site(&comment.id, site) {
                return Err(refuse(
                    RejectReason::Invalid,
                    format!(
                        "comment id {:?} is not one of your site's; allowed: \"{site}-<number>\"",
                        comment.id
                    ),
                ));
            }
            if let Some(existing) = before.comments.get(&comment.id) {
                if existing.value != *comment {
                    return Err(refuse(
                        RejectReason::Invalid,
                        format!(
                            "comment id {} is taken by a different comment of your site; comment \
                             ids are unique per ticket",
                            comment.id
                        ),
                    ));
                }
            }
            Ok(())
        }
        FieldOp::Delete { .. } if !who.inhouse() => Err(refuse(
            RejectReason::Forbidden,
            "only the in-house team deletes tickets; close it instead",
        )),
        FieldOp::Delete { .. } | FieldOp::Set(_) | FieldOp::AddCallEvent(_) => Ok(()),
    }
}

/// A write to a register that decides access or the life cycle (focus team, status) must win
/// it: a change that would lose to a write stamped later (an offline change, or one stamped by
/// a clock running ahead) is a conflict, not an acknowledged write without effect. A writer
/// that has seen the current value always stamps later, because its clock observed it.
fn check_outranks(change: &Change, before: &EntityState, register: &str) -> Result<(), Refusal> {
    match before.registers.get(register) {
        Some(current) if current.winner.stamp >= change.stamp() => Err(refuse(
            RejectReason::Conflict,
            format!(
                "{register} of {} {} was written later (at {}.{} by site {}) than this change \
                 (at {}.{}); read it again and write it anew",
                change.key.kind,
                change.key.id,
                current.winner.stamp.hlc.wall_ms,
                current.winner.stamp.hlc.logical,
                current.winner.stamp.site,
                change.hlc.wall_ms,
                change.hlc.logical
            ),
        )),
        _ => Ok(()),
    }
}

fn check_team(team: &str, field: &str, directory: &Directory) -> Result<(), Refusal> {
    if directory.teams.contains_key(team) || !directory.teams_complete {
        return Ok(());
    }
    Err(refuse(
        RejectReason::Invalid,
        format!(
            "{field} {team} is not a configured focus team; known: {}",
            listed(directory.teams.keys())
        ),
    ))
}

fn authorize_suggestion(
    who: Who<'_>,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
) -> Result<(), Refusal> {
    let Who { tenant, site } = who;
    let id = &change.key.id;
    if before.is_empty() && !id_of_site(id, site) {
        // The same answer whether another site's suggestion has this id or nobody's does.
        return Err(foreign_suggestion_id(id, site));
    }
    if who.inhouse() {
        return Ok(());
    }
    if !id_of_site(id, site) || (!before.is_empty() && !sees(tenant, before, directory)) {
        return Err(foreign_suggestion_id(id, site));
    }
    let decided = !matches!(
        before.value("state"),
        None | Some(FieldValue::Suggestion(SuggestionField::State(
            SuggestionState::Open
        )))
    );
    if decided {
        return Err(refuse(
            RejectReason::Forbidden,
            format!("suggestion {id} has been decided by the in-house team; propose a new one"),
        ));
    }
    for op in &change.ops {
        match op {
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(t)))
                if t != tenant =>
            {
                return Err(refuse(
                    RejectReason::Forbidden,
                    format!("author_tenant must be your tenant {tenant:?}, not {t:?}"),
                ));
            }
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::State(state)))
                if *state != SuggestionState::Open || !before.is_empty() =>
            {
                return Err(refuse(
                    RejectReason::Forbidden,
                    "only the in-house team accepts or rejects suggestions",
                ));
            }
            FieldOp::Delete { .. } => {
                return Err(refuse(
                    RejectReason::Forbidden,
                    "only the in-house team deletes suggestions",
                ));
            }
            _ => {}
        }
    }
    if before.is_empty() {
        let names_author = names_tenant(change, tenant, |v| match v {
            FieldValue::Suggestion(SuggestionField::AuthorTenant(t)) => Some(t),
            _ => None,
        });
        if !names_author {
            return Err(refuse(
                RejectReason::Invalid,
                format!("a new suggestion needs author_tenant = {tenant:?} in the same change"),
            ));
        }
    }
    Ok(())
}

/// The answer for a suggestion id that is not the caller's site's: the same whether another
/// site's suggestion has it or nobody's does.
fn foreign_suggestion_id(id: &str, site: &str) -> Refusal {
    refuse(
        RejectReason::Invalid,
        format!("{id} is not one of your site's suggestion ids; allowed: \"{site}-<number>\""),
    )
}

/// True when `change` sets a field to the caller's tenant (`origin_tenant`, `author_tenant`).
fn names_tenant(
    change: &Change,
    tenant: &str,
    field: impl Fn(&FieldValue) -> Option<&String>,
) -> bool {
    change.ops.iter().any(|op| match op {
        FieldOp::Set(value) => field(value).is_some_and(|t| t == tenant),
        _ => false,
    })
}

fn authorize_call_log(
    who: Who<'_>,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
) -> Result<(), Refusal> {
    let Who { site, .. } = who;
    if call_log_site(&change.key.id) != Some(site) {
        return Err(refuse(
            RejectReason::Forbidden,
            format!(
                "call log {} belongs to another site; report call events as {site}.<date>",
                change.key.id
            ),
        ));
    }
    if before.deleted.is_some() {
        return Err(refuse(
            RejectReason::Forbidden,
            format!(
                "call log {} is deleted, and a delete is final",
                change.key.id
            ),
        ));
    }
    for op in &change.ops {
        match op {
            FieldOp::AddCallEvent(event) => {
                if let Some(team) = &event.focus_team {
                    check_team(team, "focus_team", directory)?;
                }
            }
            FieldOp::Delete { .. } if !who.inhouse() => {
                return Err(refuse(
                    RejectReason::Forbidden,
                    "only the in-house team deletes call logs",
                ));
            }
            FieldOp::Delete { .. } | FieldOp::Set(_) | FieldOp::AddComment(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A site's ids are told apart from a longer site's that starts with the same name.
    #[test]
    fn ids_carry_their_site_unambiguously() {
        assert!(id_of_site("berlin-7", "berlin"));
        assert!(id_of_site("berlin-mitte-7", "berlin-mitte"));
        assert!(!id_of_site("berlin-mitte-7", "berlin"));
        assert!(!id_of_site("berlin-2-5", "berlin"));
        assert!(!id_of_site("berlin-", "berlin"));
        assert!(!id_of_site("berlin", "berlin"));
        assert!(!id_of_site("berlin-7a", "berlin"));
    }
}
