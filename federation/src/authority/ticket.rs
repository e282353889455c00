//! The ticket rules of the authority: creation, focus teams, handling sites, status, comments
//! and deletes.

use super::Rule;

use super::{
    Refusal, Who, current_status, focus_team, id_of_site, listed, names_tenant, no_such_ticket,
    refuse, teams_handled,
};
use crate::change::{Change, FieldOp};
use crate::ids::PublicNumber;
use crate::model::{FieldValue, TicketField, TicketStatus};
use crate::state::EntityState;
use crate::visibility::{Directory, sees};

pub(super) fn authorize_ticket(
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
        let number =
            PublicNumber::parse("id", id).map_err(|e| refuse(Rule::WellFormed, e.to_string()))?;
        if number.prefix != ticket_prefix || !leased(&number) {
            return Err(no_such_ticket(id, site));
        }
        let sets_origin = names_tenant(change, tenant, |v| match v {
            FieldValue::Ticket(TicketField::OriginTenant(t)) => Some(t),
            _ => None,
        });
        if !sets_origin {
            return Err(refuse(
                Rule::CreateNamesTenant,
                format!("creating ticket {id} needs origin_tenant = {tenant:?} in the same change"),
            ));
        }
        if !who.inhouse() && set_team.is_none() {
            return Err(refuse(
                Rule::CreateNamesFocusTeam,
                format!(
                    "creating ticket {id} needs its focus_team in the same change; tenant {tenant} \
                     may create tickets in: {}",
                    listed(&teams_handled(tenant, directory))
                ),
            ));
        }
    }
    let team_now = focus_team(before);
    if crate::erasure::erased(before) {
        check_not_personal(id, change)?;
    }
    for op in &change.ops {
        let FieldOp::Set(FieldValue::Ticket(field)) = op else {
            check_ticket_element(who, op, before)?;
            continue;
        };
        match field {
            TicketField::OriginTenant(t) if exists || t != tenant => {
                return Err(refuse(
                    Rule::OriginTenantOnce,
                    format!(
                        "origin_tenant is written once, by the creating tenant ({tenant:?} may \
                         not set {t:?})"
                    ),
                ));
            }
            TicketField::AccessCode(_) if exists => {
                return Err(refuse(
                    Rule::AccessCodeOnce,
                    format!(
                        "ticket {id}'s access code is written once, when the ticket is created; \
                         the customer keeps the code they were given"
                    ),
                ));
            }
            TicketField::Rating(_) => {
                return Err(refuse(
                    Rule::RatingByCustomer,
                    format!(
                        "ticket {id}'s rating is the customer's, given on the status page; no \
                         site writes it"
                    ),
                ));
            }
            TicketField::ArchivedAt(_) => {
                return Err(refuse(
                    Rule::RetentionBySweep,
                    format!(
                        "ticket {id}'s archived_at_ms is written by the gateway's retention \
                         sweep when partners' retention of the closed ticket ends; no site \
                         writes it"
                    ),
                ));
            }
            TicketField::ErasedAt(_) => {
                return Err(refuse(
                    Rule::ErasureByStaff,
                    format!(
                        "ticket {id}'s erased_at_ms is written by the gateway when in-house \
                         staff erase the customer (hotline admin erase); no site writes it"
                    ),
                ));
            }
            TicketField::FocusTeam(team) => {
                // Not even the same team again: a partner's write of the current team with a
                // clock ahead would outrank (and so undo) an in-house move made meanwhile.
                if !who.inhouse() && exists {
                    return Err(refuse(
                        Rule::OnlyInhouseReroutes,
                        format!(
                            "only the in-house team writes the focus team of an existing ticket \
                             (it is {}); escalate it instead (status escalated)",
                            team_now.unwrap_or("none")
                        ),
                    ));
                }
                check_team(who, team, "focus_team", directory)?;
                check_outranks(change, before, "focus_team")?;
            }
            TicketField::HandlingSite(handler) => {
                let owner = directory.site_tenants.get(handler);
                if !who.inhouse() {
                    // A partner names only its own tenant's sites, and learns nothing else: a
                    // foreign site and an unregistered name get the same answer.
                    let sure = directory.sites_complete || directory.own_sites_complete;
                    match owner {
                        Some(owner) if owner == tenant => {}
                        None if !sure => {} // a site that does not know; the gateway decides
                        _ => return Err(not_own_site(handler, tenant, directory)),
                    }
                } else if owner.is_none() && directory.sites_complete {
                    return Err(refuse(
                        Rule::SiteRegistered,
                        format!(
                            "handling_site {handler} is not a registered site; known: {}",
                            listed(directory.site_tenants.keys())
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
                        Rule::StatusFromCurrent,
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

fn not_own_site(handler: &str, tenant: &str, directory: &Directory) -> Refusal {
    let own = directory
        .site_tenants
        .iter()
        .filter(|(_, t)| *t == tenant)
        .map(|(s, _)| s);
    refuse(
        Rule::SiteOfOwnTenant,
        format!(
            "handling_site {handler} is not a site of tenant {tenant}; yours: {}",
            listed(own)
        ),
    )
}

/// Comments and deletes of a ticket.
/// An erased ticket takes no personal data again: no contact field, no comment (whose text
/// would be erased at once).
fn check_not_personal(id: &str, change: &Change) -> Result<(), Refusal> {
    for op in &change.ops {
        let what = match op {
            FieldOp::Set(value) if value.is_pii() => value.register(),
            FieldOp::AddComment(_) => "a comment".to_owned(),
            FieldOp::Set(_) | FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => continue,
        };
        return Err(refuse(
            Rule::ErasureByStaff,
            format!(
                "ticket {id}'s customer data was erased; it takes no customer name, email, \
                 phone or comment any more ({what} refused); other fields may still change"
            ),
        ));
    }
    Ok(())
}

fn check_ticket_element(who: Who<'_>, op: &FieldOp, before: &EntityState) -> Result<(), Refusal> {
    let Who { tenant, site } = who;
    match op {
        FieldOp::AddComment(comment) => {
            if comment.author_tenant != tenant {
                return Err(refuse(
                    Rule::AuthorIsCaller,
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
                    Rule::IdOfOwnSite,
                    format!(
                        "comment id {:?} is not one of your site's; allowed: \"{site}-<number>\"",
                        comment.id
                    ),
                ));
            }
            if let Some(existing) = before.comments.get(&comment.id) {
                if existing.value != *comment {
                    return Err(refuse(
                        Rule::CommentIdUnique,
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
            Rule::OnlyInhouseDeletes,
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
            Rule::WriteOutranksCurrent,
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

/// A focus team named in a change: in-house names configured teams (where the checker knows
/// them all); a partner names only teams its tenant handles, and the answer for one it does not
/// handle is the same whether the team exists or not, listing only its own.
pub(super) fn check_team(
    who: Who<'_>,
    team: &str,
    field: &str,
    directory: &Directory,
) -> Result<(), Refusal> {
    let tenant = who.tenant;
    if !who.inhouse() {
        if directory.handles(tenant, team) {
            return Ok(());
        }
        return Err(refuse(
            Rule::TeamHandled,
            format!(
                "tenant {tenant} does not handle focus team {team} ({field}); it handles: {}",
                listed(&teams_handled(tenant, directory))
            ),
        ));
    }
    if directory.teams.contains_key(team) || !directory.teams_complete {
        return Ok(());
    }
    Err(refuse(
        Rule::TeamConfigured,
        format!(
            "{field} {team} is not a configured focus team; known: {}",
            listed(directory.teams.keys())
        ),
    ))
}
