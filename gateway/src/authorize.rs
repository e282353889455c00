//! Who may make which change (DESIGN.md section 5). The tenant comes from the caller's
//! certificate only; these rules compare it with what the change claims and with the entity as
//! the gateway holds it.

use hotline_federation::ids::{INHOUSE, PublicNumber};
use hotline_federation::model::{
    EntityKind, FieldValue, SuggestionField, SuggestionState, TicketField,
};
use hotline_federation::visibility::{Directory, sees};
use hotline_federation::{Change, EntityState, FieldOp};
use hotline_proto::v1::RejectReason;

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
    /// The gateway itself (policies seeded from config).
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

/// Checks `change` by `caller` against the entity's state `before`. `leased` answers whether
/// a ticket number was leased to the caller's site.
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
        return Err(refuse(
            RejectReason::OriginMismatch,
            format!(
                "origin_site {:?} is not your site; your certificate names site {site:?}",
                change.origin_site
            ),
        ));
    }
    let inhouse = tenant == INHOUSE;
    match change.key.kind {
        EntityKind::Ticket => authorize_ticket(
            tenant,
            site,
            change,
            before,
            directory,
            ticket_prefix,
            leased,
        ),
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy if !inhouse => Err(refuse(
            RejectReason::Forbidden,
            format!(
                "only the in-house team changes {}s; partners read them and may propose article \
                 edits as suggestions",
                change.key.kind
            ),
        )),
        EntityKind::Article | EntityKind::Brand | EntityKind::Policy => Ok(()),
        EntityKind::Suggestion => authorize_suggestion(tenant, change, before, directory),
        EntityKind::CallLog => {
            let owner = hotline_federation::change::call_log_site(&change.key.id);
            if owner == Some(site) {
                Ok(())
            } else {
                Err(refuse(
                    RejectReason::Forbidden,
                    format!(
                        "call log {} belongs to another site; report call events as {site}.<date>",
                        change.key.id
                    ),
                ))
            }
        }
    }
}

fn authorize_ticket(
    tenant: &str,
    site: &str,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
    ticket_prefix: &str,
    leased: impl FnOnce(&PublicNumber) -> bool,
) -> Result<(), Refusal> {
    let id = &change.key.id;
    let exists = !before.is_empty();
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
        let sets_origin = change.ops.iter().any(|op| {
            matches!(op, FieldOp::Set(FieldValue::Ticket(TicketField::OriginTenant(t))) if t == tenant)
        });
        if !sets_origin {
            return Err(refuse(
                RejectReason::Invalid,
                format!("creating ticket {id} needs origin_tenant = {tenant:?} in the same change"),
            ));
        }
    }
    for op in &change.ops {
        match op {
            FieldOp::Set(FieldValue::Ticket(TicketField::OriginTenant(t))) => {
                if exists || t != tenant {
                    return Err(refuse(
                        RejectReason::Forbidden,
                        format!(
                            "origin_tenant is written once, by the creating tenant ({tenant:?} may not set {t:?})"
                        ),
                    ));
                }
            }
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
                if !comment.id.starts_with(&format!("{site}-")) {
                    return Err(refuse(
                        RejectReason::Invalid,
                        format!(
                            "comment id {:?} must start with your site, \"{site}-\"",
                            comment.id
                        ),
                    ));
                }
                if let Some(existing) = before.comments.get(&comment.id) {
                    if existing.value != *comment {
                        return Err(refuse(
                            RejectReason::Invalid,
                            format!(
                                "comment id {} is taken by a different comment; comment ids are unique per ticket",
                                comment.id
                            ),
                        ));
                    }
                }
            }
            FieldOp::Delete { .. } if tenant != INHOUSE => {
                return Err(refuse(
                    RejectReason::Forbidden,
                    "only the in-house team deletes tickets; close it instead",
                ));
            }
            FieldOp::Set(_) | FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => {}
        }
    }
    Ok(())
}

fn authorize_suggestion(
    tenant: &str,
    change: &Change,
    before: &EntityState,
    directory: &Directory,
) -> Result<(), Refusal> {
    if tenant == INHOUSE {
        return Ok(());
    }
    if !before.is_empty() && !sees(tenant, before, directory) {
        return Err(refuse(
            RejectReason::Forbidden,
            format!(
                "suggestion {} does not exist for you; suggestion ids are unique, pick another",
                change.key.id
            ),
        ));
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
            format!(
                "suggestion {} has been decided by the in-house team; propose a new one",
                change.key.id
            ),
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
        let names_author = change.ops.iter().any(|op| {
            matches!(op, FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(t))) if t == tenant)
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
