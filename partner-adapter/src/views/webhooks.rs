//! The webhook events tools receive, and the events no target accepted.

use super::*;

/// Body of the `ticket.changed` webhook event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketChangedEvent {
    /// `ticket.changed`.
    #[schema(pattern = "^ticket\\.changed$")]
    pub event: String,
    /// The site sending the event.
    #[schema(value_type = Slug)]
    pub site: String,
    /// The ticket's number.
    #[schema(value_type = TicketNumber)]
    pub number: String,
    /// When the change was applied here, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The ticket as the site now sees it.
    pub ticket: TicketView,
}

/// Body of the `ticket.revoked` webhook event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketRevokedEvent {
    /// `ticket.revoked`.
    #[schema(pattern = "^ticket\\.revoked$")]
    pub event: String,
    /// The site sending the event.
    #[schema(value_type = Slug)]
    pub site: String,
    /// The ticket's number.
    #[schema(value_type = TicketNumber)]
    pub number: String,
    /// When the ticket was purged here, in ms since the Unix epoch.
    pub at_ms: u64,
    /// Why: `retention` (the ticket was closed longer than its focus team's
    /// partner_retention_days; in-house keeps it) or `access` (a re-route, a policy change, a
    /// delete).
    #[schema(pattern = "^(access|retention)$")]
    pub reason: String,
}

/// A webhook event a target did not accept.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDeadLetter)]
pub struct WebhookDeadLetterView {
    /// The target's name.
    pub target: String,
    /// The event id, as sent in `x-hotline-event-id`.
    pub event_id: u64,
    /// Failed attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: String,
    /// When given up, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The body that was sent; a JSON string if it was not JSON.
    #[schema(schema_with = webhook_body)]
    pub body: serde_json::Value,
}

impl From<crate::webhooks::WebhookDeadLetter> for WebhookDeadLetterView {
    fn from(dead: crate::webhooks::WebhookDeadLetter) -> Self {
        let crate::webhooks::WebhookDeadLetter {
            target,
            event_id,
            attempts,
            last_error,
            at_ms,
            body,
        } = dead;
        WebhookDeadLetterView {
            target,
            event_id,
            attempts,
            last_error,
            at_ms,
            body,
        }
    }
}

/// The schema of a webhook dead letter's body: one of the events, or a string.
fn webhook_body() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::Ref;
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(Ref::from_schema_name("TicketChangedEvent"))
        .item(Ref::from_schema_name("TicketRevokedEvent"))
        .item(Ref::from_schema_name("SuggestionChangedEvent"))
        .item(crate::api::fields::string())
        .description(Some(
            "The body that was sent; a JSON string if it was not JSON.",
        ))
        .into()
}

/// Webhook events given up.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeadLetterList {
    /// The webhook dead letters.
    pub dead_letters: Vec<WebhookDeadLetterView>,
}
