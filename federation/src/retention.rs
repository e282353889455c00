//! How long partner sites keep closed tickets (DESIGN.md section 8a).
//!
//! A focus team's policy says how many days partners keep a closed ticket
//! (`partner_retention_days`, [`DEFAULT_PARTNER_DAYS`] without it). When that time has passed,
//! the gateway's retention sweep writes the ticket's in-house-only `archived_at_ms` register;
//! from then on no partner tenant sees the ticket ([`crate::visibility::sees`]), so every partner
//! site that held it receives a revocation and purges it, and a partner asking for it gets the
//! answer a missing ticket gets. In-house keeps the ticket. The decision is the gateway's, on
//! its clock, so every site purges for the same reason at the same log position (a site that
//! was offline purges when it catches up).

use crate::authority::current_status;
use crate::error::{Error, Result};
use crate::model::{EntityKind, FieldValue, PolicyField, TicketStatus};
use crate::state::EntityState;

/// Days partners keep a closed ticket when its team's policy does not say.
pub const DEFAULT_PARTNER_DAYS: u32 = 90;

/// The longest retention a policy may set: about a hundred years.
pub const MAX_DAYS: u32 = 36_500;

/// One day in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// The register the sweep writes.
pub const ARCHIVED_REGISTER: &str = "archived_at_ms";

/// Checks a policy's `partner_retention_days`.
pub fn check_days(days: u32) -> Result<()> {
    if days <= MAX_DAYS {
        return Ok(());
    }
    Err(Error::invalid(
        "partner_retention_days",
        format!(
            "{days} is out of range; allowed: 0 (purge at the next sweep after closing) to \
             {MAX_DAYS} days"
        ),
    ))
}

/// The days partners keep a closed ticket of the team whose policy is `policy` (`None`: the
/// team has no policy, or it was deleted).
pub fn partner_days(policy: Option<&EntityState>) -> u32 {
    let written = policy.filter(|p| p.deleted.is_none()).and_then(|p| {
        match p.value("partner_retention_days") {
            Some(FieldValue::Policy(PolicyField::PartnerRetentionDays(days))) => Some(*days),
            _ => None,
        }
    });
    written.unwrap_or(DEFAULT_PARTNER_DAYS)
}

/// When the ticket was closed (ms, the clock of the write that closed it), or `None` while it
/// is not closed.
pub fn closed_at_ms(ticket: &EntityState) -> Option<u64> {
    if current_status(ticket) != Some(TicketStatus::Closed) {
        return None;
    }
    ticket
        .registers
        .get("status")
        .map(|status| status.winner.stamp.hlc.wall_ms)
}

/// True once the partners' retention of the ticket ended: no partner sees it any more.
pub fn archived(ticket: &EntityState) -> bool {
    ticket.key.kind == EntityKind::Ticket && ticket.registers.contains_key(ARCHIVED_REGISTER)
}

/// The moment partners' retention of `ticket` ends under a retention of `days`, or `None`
/// when it never will as things stand (not a ticket, not closed, deleted, or archived already).
pub fn partner_expiry_ms(ticket: &EntityState, days: u32) -> Option<u64> {
    if ticket.key.kind != EntityKind::Ticket || ticket.deleted.is_some() || archived(ticket) {
        return None;
    }
    let closed = closed_at_ms(ticket)?;
    Some(closed.saturating_add(u64::from(days) * DAY_MS))
}

/// True when the in-house retention of `days` of the closed `ticket` ended at `now_ms`: its
/// personal data is then erased (`erasure`); the ticket's facts stay for the figures.
pub fn inhouse_erase_due(ticket: &EntityState, days: u32, now_ms: u64) -> bool {
    if ticket.key.kind != EntityKind::Ticket || crate::erasure::erased(ticket) {
        return false;
    }
    closed_at_ms(ticket)
        .is_some_and(|closed| closed.saturating_add(u64::from(days) * DAY_MS) <= now_ms)
}

/// True when the sweep at `now_ms` must archive `ticket` under a retention of `days`.
pub fn partner_purge_due(ticket: &EntityState, days: u32, now_ms: u64) -> bool {
    partner_expiry_ms(ticket, days).is_some_and(|expiry| expiry <= now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Change, FieldOp};
    use crate::clock::Hlc;
    use crate::model::{EntityKey, StatusTransition, TicketField};

    fn ticket_with(ops: Vec<(u64, FieldValue)>) -> EntityState {
        let key = EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001");
        let mut state = EntityState::new(key.clone());
        for (i, (at, value)) in ops.into_iter().enumerate() {
            state.apply(&Change {
                key: key.clone(),
                ops: vec![FieldOp::Set(value)],
                origin_site: "site-a".into(),
                origin_seq: i as u64 + 1,
                hlc: Hlc::new(at, 0),
            });
        }
        state
    }

    fn status(from: Option<TicketStatus>, to: TicketStatus) -> FieldValue {
        FieldValue::Ticket(TicketField::Status(StatusTransition { from, to }))
    }

    fn closed_at(at: u64) -> EntityState {
        ticket_with(vec![
            (10, status(None, TicketStatus::New)),
            (20, status(Some(TicketStatus::New), TicketStatus::Resolved)),
            (
                at,
                status(Some(TicketStatus::Resolved), TicketStatus::Closed),
            ),
        ])
    }

    /// The ticket is due exactly when its team's days have passed since the close, not a
    /// millisecond before: partners keep it for the whole period the policy promises.
    #[test]
    fn due_exactly_when_the_days_have_passed_since_closing() {
        let ticket = closed_at(1_000);
        assert_eq!(closed_at_ms(&ticket), Some(1_000));
        assert!(!partner_purge_due(&ticket, 2, 1_000 + 2 * DAY_MS - 1));
        assert!(partner_purge_due(&ticket, 2, 1_000 + 2 * DAY_MS));
        assert!(partner_purge_due(&ticket, 0, 1_000));
        assert!(!partner_purge_due(&ticket, 0, 999));
    }

    /// Only a closed ticket ages out: resolved ones may still be reopened, and an archived or
    /// deleted one is not archived again.
    #[test]
    fn only_closed_live_unarchived_tickets_are_due() {
        let resolved = ticket_with(vec![
            (10, status(None, TicketStatus::New)),
            (20, status(Some(TicketStatus::New), TicketStatus::Resolved)),
        ]);
        assert_eq!(closed_at_ms(&resolved), None);
        assert!(!partner_purge_due(&resolved, 0, u64::MAX));

        let mut archived_one = closed_at(30);
        archived_one.apply(&Change {
            key: archived_one.key.clone(),
            ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::ArchivedAt(
                40,
            )))],
            origin_site: "gateway".into(),
            origin_seq: 1,
            hlc: Hlc::new(40, 0),
        });
        assert!(archived(&archived_one));
        assert!(!partner_purge_due(&archived_one, 0, u64::MAX));

        let mut deleted = closed_at(30);
        deleted.apply(&Change {
            key: deleted.key.clone(),
            ops: vec![FieldOp::Delete {
                reason: "spam".into(),
            }],
            origin_site: "inhouse-1".into(),
            origin_seq: 9,
            hlc: Hlc::new(50, 0),
        });
        assert!(!partner_purge_due(&deleted, 0, u64::MAX));
    }

    /// A policy without the register, a deleted policy and no policy all mean the default; a
    /// written value (0 included) is taken as written.
    #[test]
    fn partner_days_default_and_written() {
        assert_eq!(partner_days(None), DEFAULT_PARTNER_DAYS);
        let key = EntityKey::new(EntityKind::Policy, "billing");
        let mut policy = EntityState::new(key.clone());
        let set = |days| Change {
            key: key.clone(),
            ops: vec![FieldOp::Set(FieldValue::Policy(
                PolicyField::PartnerRetentionDays(days),
            ))],
            origin_site: "gateway".into(),
            origin_seq: 1,
            hlc: Hlc::new(5, 0),
        };
        assert_eq!(partner_days(Some(&policy)), DEFAULT_PARTNER_DAYS);
        policy.apply(&set(0));
        assert_eq!(partner_days(Some(&policy)), 0);
        policy.deleted = Some(crate::change::Stamp {
            hlc: Hlc::new(6, 0),
            site: "gateway".into(),
        });
        assert_eq!(partner_days(Some(&policy)), DEFAULT_PARTNER_DAYS);
    }

    fn archive(ticket: &mut EntityState) {
        let key = ticket.key.clone();
        ticket.apply(&Change {
            key,
            ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::ArchivedAt(
                9_000,
            )))],
            origin_site: "gateway".into(),
            origin_seq: 7,
            hlc: Hlc::new(9_000, 0),
        });
    }

    /// A ticket of tenant t1 in a team t2 handles: once archived neither its creating tenant
    /// nor the handler sees it, in-house still does, and redaction gives partners nothing.
    #[test]
    fn an_archived_ticket_is_seen_in_house_only() {
        use crate::ids::INHOUSE;
        use crate::visibility::{Directory, TeamAccess, redact, sees};
        let mut ticket = closed_at(1_000);
        let key = ticket.key.clone();
        ticket.apply(&Change {
            key,
            ops: vec![
                FieldOp::Set(FieldValue::Ticket(TicketField::OriginTenant("t1".into()))),
                FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam("desk".into()))),
            ],
            origin_site: "site-a".into(),
            origin_seq: 4,
            hlc: Hlc::new(5, 0),
        });
        let mut directory = Directory::default();
        directory.teams.insert(
            "desk".into(),
            TeamAccess {
                handlers: ["t2".to_string()].into(),
                pii_grants: Default::default(),
            },
        );
        for tenant in ["t1", "t2", INHOUSE] {
            assert!(sees(tenant, &ticket, &directory), "{tenant} before");
        }
        archive(&mut ticket);
        assert!(!sees("t1", &ticket, &directory));
        assert!(!sees("t2", &ticket, &directory));
        assert!(redact("t2", &ticket, &directory).is_none());
        assert!(sees(INHOUSE, &ticket, &directory));
    }

    /// Writes to an archived ticket: a partner of the creating tenant gets exactly the answer
    /// of a ticket that does not exist (any field, a comment); no site, in-house included,
    /// writes `archived_at_ms` (own, archived or missing ticket).
    #[test]
    fn partners_write_to_an_archived_ticket_as_to_a_missing_one() {
        use crate::authority::{Caller, Rule, authorize, no_such_ticket};
        use crate::model::Comment;
        use crate::visibility::Directory;
        let mut ticket = closed_at(1_000);
        let key = ticket.key.clone();
        ticket.apply(&Change {
            key: key.clone(),
            ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::OriginTenant(
                "t1".into(),
            )))],
            origin_site: "site-a".into(),
            origin_seq: 4,
            hlc: Hlc::new(5, 0),
        });
        let directory = Directory::default();
        let partner = Caller::Site {
            tenant: "t1".into(),
            site: "site-a".into(),
        };
        let change = |ops: Vec<FieldOp>| Change {
            key: key.clone(),
            ops,
            origin_site: "site-a".into(),
            origin_seq: 50,
            hlc: Hlc::new(10_000, 0),
        };
        let comment = FieldOp::AddComment(Comment {
            id: "site-a-1".into(),
            author_alias: "A".into(),
            author_tenant: "t1".into(),
            visibility: crate::model::Visibility::Federation,
            body: "hello".into(),
            created_at_ms: 10_000,
            attachments: Vec::new(),
        });
        let subject = FieldOp::Set(FieldValue::Ticket(TicketField::Subject("x".into())));
        let stamp = FieldOp::Set(FieldValue::Ticket(TicketField::ArchivedAt(1)));
        let check = |caller: &Caller, state: &EntityState, ops: Vec<FieldOp>| {
            authorize(caller, &change(ops), state, &directory, "ASZ", |_| false)
        };
        // Before archiving the partner may comment; the stamp is never a site's to write.
        assert!(check(&partner, &ticket, vec![comment.clone()]).is_ok());
        let own = check(&partner, &ticket, vec![stamp.clone()]).unwrap_err();
        assert_eq!(own.rule, Rule::RetentionBySweep);
        archive(&mut ticket);
        let missing = EntityState::new(key.clone());
        let expected = no_such_ticket(&key.id, "site-a");
        for ops in [vec![comment], vec![subject], vec![stamp.clone()]] {
            let archived = check(&partner, &ticket, ops.clone()).unwrap_err();
            assert_eq!(archived, expected);
            assert_eq!(check(&partner, &missing, ops).unwrap_err(), expected);
        }
        let inhouse = Caller::Site {
            tenant: crate::ids::INHOUSE.into(),
            site: "site-a".into(),
        };
        let refused = check(&inhouse, &ticket, vec![stamp]).unwrap_err();
        assert_eq!(refused.rule, Rule::RetentionBySweep);
        assert!(
            refused.message.contains("retention sweep"),
            "{}",
            refused.message
        );
    }

    /// The range check names the field and what is allowed.
    #[test]
    fn days_beyond_the_maximum_are_refused_with_the_range() {
        assert!(check_days(0).is_ok());
        assert!(check_days(MAX_DAYS).is_ok());
        let message = check_days(MAX_DAYS + 1).unwrap_err().to_string();
        assert!(message.contains("partner_retention_days"), "{message}");
        assert!(message.contains("0 (purge at the next sweep after closing) to 36500"));
    }
}
