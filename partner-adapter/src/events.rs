//! Ticket events for partner tools: every change to a ticket the site can see, local or from
//! the gateway, and every revocation, becomes a webhook event written in the same atomic step
//! as the change itself (see [`crate::webhooks`] for delivery).

use std::sync::Arc;

use hotline_federation::EntityState;
use hotline_federation::model::{EntityKey, EntityKind};
use serde_json::json;
use tokio::sync::Notify;

use crate::error::Result;
use crate::mapping::Mapping;
use crate::replica::{Replica, Step};
use crate::views;
use crate::webhooks::{WebhookTarget, queue_writes};

/// Builds webhook events for ticket changes.
#[derive(Debug)]
pub struct TicketEvents {
    targets: Vec<WebhookTarget>,
    mapping: Mapping,
    site: String,
    /// Woken after events were written.
    pub notify: Arc<Notify>,
}

impl TicketEvents {
    /// Events for `targets`, in the site's vocabulary.
    pub fn new(
        targets: Vec<WebhookTarget>,
        mapping: Mapping,
        site: String,
        notify: Arc<Notify>,
    ) -> Self {
        TicketEvents {
            targets,
            mapping,
            site,
            notify,
        }
    }

    fn write(&self, replica: &Replica, step: &mut Step, body: serde_json::Value) -> Result<()> {
        if self.targets.is_empty() {
            return Ok(());
        }
        let id = replica.next_webhook_id(step)?;
        let body = serde_json::to_vec(&body).unwrap_or_default();
        for (key, value) in queue_writes(&self.targets, id, &body) {
            step.put(key, value);
        }
        Ok(())
    }

    /// `ticket.changed` with the ticket as the site now sees it.
    pub fn changed(
        &self,
        replica: &Replica,
        step: &mut Step,
        ticket: &EntityState,
        now_ms: u64,
    ) -> Result<()> {
        if ticket.key.kind != EntityKind::Ticket {
            return Ok(());
        }
        let body = json!({
            "event": "ticket.changed",
            "site": self.site,
            "number": ticket.key.id,
            "at_ms": now_ms,
            "ticket": views::ticket(ticket, &self.mapping),
        });
        self.write(replica, step, body)
    }

    /// `ticket.revoked`: the site lost sight of the ticket and purged it.
    pub fn revoked(
        &self,
        replica: &Replica,
        step: &mut Step,
        key: &EntityKey,
        now_ms: u64,
    ) -> Result<()> {
        if key.kind != EntityKind::Ticket {
            return Ok(());
        }
        let body = json!({
            "event": "ticket.revoked",
            "site": self.site,
            "number": key.id,
            "at_ms": now_ms,
        });
        self.write(replica, step, body)
    }
}
