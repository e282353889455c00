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
//!   another site's ids; a ticket's access code is written once, in its creating change;
//! - articles, the brand and policies: in-house only (an article's draft never leaves
//!   in-house: see [`crate::visibility::strip`]);
//! - suggestions: ids are `<site>-<number>` of the proposing site; partners propose and edit
//!   their open ones, only in-house decides (state, reject reason, accepted version) or
//!   deletes;
//! - call logs: each site writes only its own, naming focus teams its tenant handles
//!   (in-house: configured ones);
//! - what a refusal tells a partner never names another tenant's teams or sites: a team it
//!   does not handle and one that does not exist, a foreign site and an unregistered name, get
//!   the same answer.
//!
//! Layout: this module holds the entry point [`authorize`] and what the rules share; `ticket`
//! holds the ticket rules, `others` those of suggestions and call logs.

use hotline_proto::v1::RejectReason;

mod others;
mod rule;
mod ticket;

pub use rule::Rule;

use crate::change::{Change, FieldOp};
use crate::ids::{INHOUSE, PublicNumber};
use crate::model::{EntityKind, FieldValue, TicketField, TicketStatus};
use crate::state::EntityState;
use crate::visibility::Directory;

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

/// Why a change was refused: the rule it breaks and a message that says what was wrong and
/// what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule the change breaks.
    pub rule: Rule,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl Refusal {
    /// A refusal by `rule`.
    pub fn new(rule: Rule, message: impl Into<String>) -> Self {
        Refusal {
            rule,
            message: message.into(),
        }
    }

    /// The wire's reason class of the rule.
    pub fn reason(&self) -> RejectReason {
        self.rule.reason()
    }

    /// The refusal as sent on the wire (push answers and dead letters): the one conversion.
    pub fn to_wire(&self) -> hotline_proto::v1::Rejected {
        hotline_proto::v1::Rejected {
            reason: self.reason() as i32,
            message: self.message.clone(),
            rule: self.rule.name().to_owned(),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn refuse(rule: Rule, message: impl Into<String>) -> Refusal {
    Refusal::new(rule, message)
}

/// The answer for a ticket the caller may not see: exactly the answer for a missing one.
pub fn no_such_ticket(id: &str, site: &str) -> Refusal {
    refuse(
        Rule::TicketVisibleOrLeased,
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
        Rule::OriginSeqUnique,
        format!(
            "origin_seq {origin_seq} of site {site} was accepted before with different content; \
             each change needs its own origin_seq (a retry must resend exactly the same change)"
        ),
    )
}

/// The refusal for a change from another site than the caller's.
pub fn origin_mismatch(claimed: &str, site: &str) -> Refusal {
    refuse(
        Rule::OriginIsCaller,
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
            Rule::DeleteIsFinal,
            format!(
                "{} {} is deleted, and a delete is final; create a new one instead",
                change.key.kind, change.key.id
            ),
        ));
    }
    let who = Who { tenant, site };
    match change.key.kind {
        EntityKind::Ticket => {
            ticket::authorize_ticket(who, change, before, directory, ticket_prefix, leased)
        }
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy if !inhouse => Err(refuse(
            Rule::InhouseOwnsSharedKinds,
            "only the in-house team changes articles, the brand and focus team policies; \
             partners read them and may propose article edits as suggestions",
        )),
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy => Ok(()),
        EntityKind::Suggestion => others::authorize_suggestion(who, change, before, directory),
        EntityKind::CallLog => others::authorize_call_log(who, change, before, directory),
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
