//! Events for partner tools: every change to a ticket or a suggestion the site can see, local
//! or from the gateway, and every revocation of a ticket, becomes a webhook event. This module only renders an
//! event's body; the store collects the bodies of a step as values and queues them, one entry
//! per target, in the same atomic batch as the change itself (see [`crate::replica`]), and
//! [`crate::webhooks`] delivers them.

use std::sync::Arc;

use hotline_federation::EntityState;
use hotline_federation::model::{EntityKey, EntityKind};
use tokio::sync::Notify;

use crate::mapping::Mapping;
use crate::views::knowledge::SuggestionChangedEvent;
use crate::views::{self, TicketChangedEvent, TicketRevokedEvent};
use crate::webhooks::WebhookTarget;

/// Renders webhook events for ticket and suggestion changes.
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

    /// The targets each event is queued for, in the order of the configuration.
    pub fn targets(&self) -> &[WebhookTarget] {
        &self.targets
    }

    /// The body of `ticket.changed` with the ticket as the site now sees it, or of
    /// `suggestion.changed` with the suggestion; `None` when nothing is sent (another kind, or
    /// no targets).
    pub fn changed(&self, entity: &EntityState, now_ms: u64) -> Option<Vec<u8>> {
        match entity.key.kind {
            EntityKind::Ticket => self.body(|| {
                serde_json::to_vec(&TicketChangedEvent {
                    event: "ticket.changed".into(),
                    site: self.site.clone(),
                    number: entity.key.id.clone(),
                    at_ms: now_ms,
                    ticket: views::ticket(entity, &self.mapping),
                })
            }),
            EntityKind::Suggestion => self.body(|| {
                serde_json::to_vec(&SuggestionChangedEvent {
                    event: "suggestion.changed".into(),
                    site: self.site.clone(),
                    id: entity.key.id.clone(),
                    at_ms: now_ms,
                    suggestion: views::knowledge::suggestion(entity),
                })
            }),
            EntityKind::Article | EntityKind::Brand | EntityKind::Policy | EntityKind::CallLog => {
                None
            }
        }
    }

    /// The body of `ticket.revoked`: the site lost sight of the ticket and purged it, for
    /// partners' retention of the closed ticket ending (`expired`) or a change of access;
    /// `None` when nothing is sent (not a ticket, or no targets).
    pub fn revoked(&self, key: &EntityKey, expired: bool, now_ms: u64) -> Option<Vec<u8>> {
        if key.kind != EntityKind::Ticket {
            return None;
        }
        self.body(|| {
            serde_json::to_vec(&TicketRevokedEvent {
                event: "ticket.revoked".into(),
                site: self.site.clone(),
                number: key.id.clone(),
                at_ms: now_ms,
                reason: if expired { "retention" } else { "access" }.into(),
            })
        })
    }

    /// Renders a body with the types the OpenAPI document describes, so the two cannot drift.
    fn body(&self, render: impl FnOnce() -> serde_json::Result<Vec<u8>>) -> Option<Vec<u8>> {
        if self.targets.is_empty() {
            return None;
        }
        Some(render().unwrap_or_default())
    }
}
