//! The OpenAPI 3.1 description of the local API, served at `/openapi.json` without a token.
//!
//! Generated, not written: the paths come from the handlers' `#[utoipa::path]` declarations
//! collected by [`crate::api::routes`] (the same list the router serves), the schemas from the
//! request and response types (`crate::api::requests`, `crate::api::fields`,
//! [`crate::views`]). At run time [`document`] adds what only the site's config knows: its
//! status, priority and category terms as enums, and the status transitions in its terms.
//! The webhook events, which OpenAPI describes under `webhooks` (not modelled by utoipa), are
//! added as JSON around the generated event schemas.

use std::collections::BTreeMap;

use hotline_federation::model::{Priority, TicketStatus};
use hotline_federation::status::allowed_after;
use serde_json::{Value, json};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi as _, ToSchema};

use crate::api::ErrorBody;
use crate::api::fields::CategoryTerm;
use crate::mapping::{Mapping, Vocabulary};
use crate::views::knowledge::SuggestionChangedEvent;
use crate::views::{TicketChangedEvent, TicketRevokedEvent};

const INTRO: &str = "The local API of a partner site's adapter, for the partner's own tools \
(CRM, ticket tool, ACD). It works offline: writes go to the site's replica and outbox and reach \
the gateway when it is reachable.\n\n\
Every endpoint except `/openapi.json` needs `Authorization: Bearer <token>` (the scheme's name \
in any case) with the token of a configured tool. Request bodies are JSON objects in UTF-8, at \
most `api.max_body_bytes` (default 262144) bytes; unknown fields are refused. Statuses, \
priorities and categories are in the site's own vocabulary when it configures a mapping \
(the enums of this document are the site's terms), otherwise in ours.\n\n\
Every error is `{\"code\", \"message\"}` (schema `Error`), also for unknown paths (404 \
`not_found`) and methods a path does not serve (405 `method_not_allowed`, with `Allow`); the \
message names the field in this API's terms and says what is allowed. A request this document \
forbids gets 400 `bad_request` (a malformed ticket number too, in the path, the query or the \
body); a well-formed request that a rule of the federation refuses given what is stored gets \
404, 409 or 422 (`refused` with the rule's name in `rule` when the gateway would refuse it \
too).";

/// What the generated part of the document starts from: info, tags, security.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Virtual Hotline partner adapter",
        version = env!("CARGO_PKG_VERSION"),
        description = INTRO,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "http://127.0.0.1:8080",
        description = "The default `api.listen`; keep the API on the site's LAN.")),
    tags(
        (name = "tickets", description = "Tickets, numbered locally, also offline."),
        (name = "calls", description = "ACD facts for the site's daily call log."),
        (name = "knowledge", description = "The knowledge base: search (offline too), articles \
            written and published in-house, and the suggestions every site may propose."),
        (name = "brand", description = "The one face to the customer: greetings and templates rendered from the brand."),
        (name = "sync", description = "The link to the gateway and refused changes."),
        (name = "webhooks", description = "Signed events for partner tools."),
        (name = "meta", description = "This description."),
    ),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
    components(schemas(
        ErrorBody,
        TicketChangedEvent,
        TicketRevokedEvent,
        SuggestionChangedEvent
    )),
)]
struct Base;

/// Adds the bearer security scheme.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The token of one of the tools in the adapter's `tools` config.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document's fixed part, for [`crate::api::routes`] to add the paths to.
pub(crate) fn base() -> OpenApi {
    Base::openapi()
}

/// What each error status means, for the responses of every operation.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => {
            "`bad_request`: the request breaks this document: the body is not a UTF-8 JSON \
             object of the expected shape (unknown or missing fields, wrong types), a value \
             breaks its field's rule (length, characters, pattern, range, enum of our own \
             vocabulary), or a path or query parameter is malformed; or `unmapped_value`: a \
             status, priority or category is not one of the site's terms (the enums of this \
             document; the message lists them)."
        }
        401 => {
            "`unauthorized`: no `Authorization: Bearer` header, or a token of no configured tool."
        }
        404 => {
            "`not_found`: the ticket, dead letter, article or suggestion is not known at this \
             site (one the site may not see answers the same)."
        }
        409 => {
            "`conflict`: the change conflicts with what is stored: no ticket numbers left \
             offline (the site's leased block is used up and the gateway has not been \
             reachable), a concurrent change, an article id that exists already, an \
             article without a draft to publish, or a suggestion decided already."
        }
        413 => {
            "`too_large`: the body is larger than `api.max_body_bytes` (a file: larger than \
             `files.max_bytes`, 10 MiB by default; nothing was stored)."
        }
        415 => {
            "`unsupported_media_type`: a file's declared Content-Type is not allowed \
             (application/pdf, application/zip, image/gif, image/jpeg, image/png, image/webp, \
             text/plain) or its bytes are not of that type; nothing was stored."
        }
        502 => {
            "`gateway`: the file is not at this site yet and the gateway cannot be reached \
             now; try again once the site is connected."
        }
        422 => {
            "`refused`: the gateway would refuse this change too, by the rule `rule` names \
             (checked here with the same code before anything is stored), e.g. \
             `team_handled` (a new ticket in a focus team the tenant does not handle), \
             `only_inhouse_reroutes` (moving a ticket to another focus team: escalate \
             instead), `site_of_own_tenant` (a handling site of another tenant), \
             `entity_bounds` (a ticket that would hold more than 1,000 comments or 2 MiB of \
             them), `inhouse_owns_shared_kinds` (a partner writing an article), \
             `only_inhouse_decides` (a partner deciding a suggestion); or `invalid`: a rule of the federation refuses the change given what is \
             stored (a status transition not allowed from the current status, a proposed new \
             article without its title, body or language, an edit proposing nothing)."
        }
        503 => {
            "`storage`: the local store failed or is corrupt (run `hotline-adapter recover`); \
             or, for a write, `clock_skew`: the site's clock runs further ahead of the \
             gateway's than it accepts (fix the clock; nothing was stored)."
        }
        _ => "An error.",
    }
}

/// Error responses with the `Error` schema, one per status.
fn errors(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|&status| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build();
            let response = ResponseBuilder::new()
                .description(meaning(status))
                .content("application/json", content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a set of error responses an operation can answer.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident, [$($status:literal),+]) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                errors(&[$($status),+])
            }
        }
    };
}

error_set!(
    /// A write: anything can be refused.
    WriteErrors,
    [400, 401, 404, 409, 413, 422, 503]
);
error_set!(
    /// An upload: a write that can also be too large or of a type not allowed.
    FileWriteErrors,
    [400, 401, 404, 409, 413, 415, 422, 503]
);
error_set!(
    /// Reading a file, which may need the gateway.
    FileReadErrors,
    [400, 401, 404, 502, 503]
);
error_set!(
    /// A read by path or query parameters.
    ReadErrors,
    [400, 401, 404, 503]
);
error_set!(
    /// A read without parameters.
    ServiceErrors,
    [401, 503]
);
error_set!(
    /// Replaying a dead letter.
    ReplayErrors,
    [400, 401, 404, 409, 422, 503]
);

/// A string enum of `terms`, described.
fn terms_schema(terms: Vec<String>, description: String) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(terms))
        .description(Some(description))
        .into()
}

/// `ours` in the site's terms.
fn theirs<'a>(vocabulary: &Vocabulary, ours: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    ours.into_iter().map(|o| vocabulary.to_theirs(o)).collect()
}

/// Puts the site's vocabulary into the document's schemas: statuses and priorities always as
/// enums (their tables cover every value of ours), categories as an enum when the site maps
/// them, free text otherwise.
fn vocabulary(doc: &mut OpenApi, mapping: &Mapping) {
    let status = |s: &TicketStatus| s.as_str();
    let transitions: Vec<String> = TicketStatus::ALL
        .iter()
        .map(|from| {
            let to = theirs(
                &mapping.status,
                allowed_after(Some(*from)).iter().map(status),
            );
            let to = if to.is_empty() {
                "none (final)".to_owned()
            } else {
                to.join(", ")
            };
            format!("{} -> {to}", mapping.status.to_theirs(from.as_str()))
        })
        .collect();
    let schemas = [
        (
            "Status",
            terms_schema(
                theirs(&mapping.status, TicketStatus::ALL.iter().map(status)),
                format!(
                    "A ticket status in the site's terms. A change may move a ticket: {}.",
                    transitions.join("; ")
                ),
            ),
        ),
        (
            "NewTicketStatus",
            terms_schema(
                theirs(&mapping.status, allowed_after(None).iter().map(status)),
                "The status a new ticket starts in, in the site's terms.".to_owned(),
            ),
        ),
        (
            "Priority",
            terms_schema(
                theirs(&mapping.priority, Priority::ALL.iter().map(|p| p.as_str())),
                "A priority in the site's terms.".to_owned(),
            ),
        ),
        (
            "Category",
            match mapping.category.terms() {
                Some(terms) => terms_schema(
                    terms.into_iter().map(str::to_owned).collect(),
                    "A ticket category in the site's terms.".to_owned(),
                ),
                None => <CategoryTerm as utoipa::PartialSchema>::schema(),
            },
        ),
    ];
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, schema) in schemas {
        components.schemas.insert(name.to_owned(), schema);
    }
}

/// The webhook events, each POSTed to every configured target.
fn webhooks() -> Value {
    let event = |id: &str, summary: &str, description: &str, schema: &str| {
        json!({ "post": {
            "operationId": id, "tags": ["webhooks"], "summary": summary,
            "description": format!("{description} Sent to every target in the `webhooks` \
                config, per target in event-id order. Delivery is at least once: de-duplicate \
                by `x-hotline-event-id`. Check `x-hotline-signature` before trusting the body."),
            "security": [],
            "parameters": [
                { "name": "x-hotline-signature", "in": "header", "required": true,
                  "description": "`sha256=` and the lowercase hex HMAC-SHA256 of the raw body, \
                    keyed with the target's `secret`.",
                  "schema": { "type": "string", "pattern": "^sha256=[0-9a-f]{64}$" } },
                { "name": "x-hotline-event-id", "in": "header", "required": true,
                  "description": "The event id (decimal); the same event may arrive more than \
                    once.",
                  "schema": { "type": "string", "pattern": "^[0-9]+$" } },
            ],
            "requestBody": { "required": true, "content": { "application/json": {
                "schema": { "$ref": format!("#/components/schemas/{schema}") } } } },
            "responses": {
                "2XX": { "description": "Accepted; the event is delivered." },
                "default": { "description": "Not accepted (nor are no answer within 10 s and \
                    connection errors): retried with exponential backoff and jitter \
                    (`sync.webhook_backoff_min_ms` to `sync.webhook_backoff_max_ms`), then a \
                    webhook dead letter after the target's `max_attempts` (default 8)." },
            },
        } })
    };
    json!({
        "ticket.changed": event("ticketChanged", "A ticket changed",
            "A ticket the site can see was created or changed, here or elsewhere.",
            "TicketChangedEvent"),
        "ticket.revoked": event("ticketRevoked", "A ticket was revoked",
            "The site lost sight of a ticket and purged it from its replica.",
            "TicketRevokedEvent"),
        "suggestion.changed": event("suggestionChanged", "A suggestion changed",
            "A suggestion the site can see was proposed, accepted or rejected, here or \
            elsewhere (a partner site sees its tenant's own).",
            "SuggestionChangedEvent"),
    })
}

/// The OpenAPI document as served for a site with `mapping`.
pub fn document(mapping: &Mapping) -> Value {
    let (open, guarded) = crate::api::routes();
    let mut doc = open.merge(guarded).into_openapi();
    vocabulary(&mut doc, mapping);
    let mut value = serde_json::to_value(&doc).unwrap_or_else(
        |e| json!({ "openapi": "3.1.0", "info": { "title": format!("cannot serialise: {e}") } }),
    );
    value["webhooks"] = webhooks();
    value
}
