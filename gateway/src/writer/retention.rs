//! The end of partners' retention of a closed ticket: the sweep names tickets it found due,
//! and the writer, on the current state, writes each one's in-house-only `archived_at_ms`
//! register (a change like any other: in the log, the audit trail and every partner's
//! revocation). A ticket no longer due here (reopened cannot happen, but its team's days may
//! have grown, or a second sweep archived it) is left alone.

use hotline_federation::FieldOp;
use hotline_federation::authority::focus_team;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::retention;

use super::{Group, Receipted, Writer};
use crate::error::Result;

/// The actor the audit trail names for the sweep's changes.
pub const RETENTION_ACTOR: &str = "retention";

impl Writer {
    /// Archives `ticket` when partners' retention of it has ended at the writer's clock;
    /// `None` when it is not due (or not a ticket).
    pub(super) fn process_archive(
        &mut self,
        group: &mut Group,
        ticket: &EntityKey,
    ) -> Result<Option<Receipted>> {
        if ticket.kind != EntityKind::Ticket {
            return Ok(None);
        }
        let now = (self.settings.now_ms)();
        let before = self.load(group, ticket)?;
        let policy = match focus_team(&before) {
            Some(team) => Some(self.load(group, &EntityKey::new(EntityKind::Policy, team))?),
            None => None,
        };
        let days = retention::partner_days(policy.as_deref().filter(|p| !p.is_empty()));
        if !retention::partner_purge_due(&before, days, now) {
            return Ok(None);
        }
        // Released before the write, so the ticket is changed in place, not copied.
        drop(before);
        let ops = vec![FieldOp::Set(FieldValue::Ticket(TicketField::ArchivedAt(
            now,
        )))];
        self.process_seed(
            group,
            RETENTION_ACTOR,
            "retention.archive",
            ticket.clone(),
            ops,
        )
        .map(Some)
    }
}
