//! The OpenAPI 3.1 description of the local API, served at `/openapi.json` without a token.
//!
//! It documents the routes of [`crate::api::router`], their bodies and errors exactly as the
//! handlers implement them, and the webhook events of [`crate::events`] under `webhooks`.
//! `tests/openapi.rs` fails when a served route is not documented here or a `$ref` dangles.

use serde_json::{Map, Value, json};

const INTRO: &str = "The local API of a partner site's adapter, for the partner's own tools \
(CRM, ticket tool, ACD). It works offline: writes go to the site's replica and outbox and reach \
the gateway when it is reachable.\n\n\
Every endpoint except `/openapi.json` needs `Authorization: Bearer <token>` with the token of a \
configured tool. Request bodies are JSON in UTF-8, at most `api.max_body_bytes` (default \
262144) bytes; unknown fields are refused. Statuses, priorities and categories are in the \
partner's own vocabulary when the site configures a mapping, otherwise in ours.\n\n\
Every error is `{\"code\", \"message\"}` (schema `Error`); the message says what is allowed. \
Unknown paths answer 404 `not_found`.";

/// The OpenAPI document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Virtual Hotline partner adapter",
            "version": env!("CARGO_PKG_VERSION"),
            "summary": "Offline-first site replica and partner-tool API",
            "description": INTRO,
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "http://127.0.0.1:8080",
            "description": "The default `api.listen`; keep the API on the site's LAN." }],
        "tags": [
            { "name": "tickets", "description": "Tickets, numbered locally, also offline." },
            { "name": "calls", "description": "ACD facts for the site's daily call log." },
            { "name": "sync", "description": "The link to the gateway and refused changes." },
            { "name": "webhooks", "description": "Signed events for partner tools." },
            { "name": "meta", "description": "This description." },
        ],
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "webhooks": webhooks(),
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer",
                "description": "The token of one of the tools in the adapter's `tools` config." } },
            "schemas": schemas(),
        },
    })
}

/// A reference to `components.schemas.<name>`.
fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A JSON request body of schema `name`, or a response with one.
fn body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema_ref(name) } } })
}

/// A response with a JSON body of schema `name`.
fn ok(description: &str, name: &str) -> Value {
    json!({ "description": description, "content": body(name)["content"] })
}

/// `op` with the error responses for `codes`, each with the `Error` schema, in `responses`.
fn operation(mut op: Value, codes: &[u16]) -> Value {
    let meaning = json!({
        "400": "`bad_request`: the body is not UTF-8 JSON of the expected shape (unknown or \
            missing fields, wrong types), a text holds a control character (only multi-line \
            text such as a comment body may hold line breaks and tabs), a query or path \
            parameter is malformed, or there is nothing to do.",
        "401": "`unauthorized`: no `Authorization: Bearer` header, or a token of no configured \
            tool.",
        "403": "`forbidden`: the site's tenant may not make this change, and the gateway would \
            refuse it too (the same rule, hotline_federation::authority, checked here before \
            anything is stored): creating a ticket in a focus team the tenant does not handle, \
            moving a ticket to another focus team (only in-house re-routes; escalate instead).",
        "404": "`not_found`: the ticket or dead letter is not known at this site.",
        "409": "`conflict`: no ticket numbers left offline; the site's leased block is used up \
            and the gateway has not been reachable to grant more.",
        "413": "`too_large`: the body is larger than `api.max_body_bytes`.",
        "422": "`invalid`: a value breaks a domain rule (unknown enum value, malformed id, \
            empty required text, text over its limit, status transition not allowed, a ticket \
            that would hold more than 1,000 comments or 2 MiB of them); or \
            `unmapped_value`: a status, priority or category has no entry in the site's \
            mapping (the message lists the known terms).",
        "503": "`storage`: the local store failed or is corrupt (run `hotline-adapter \
            recover`); or, for a write, `clock_skew`: the site's clock runs further ahead of the \
            gateway's than it accepts (fix the clock; nothing was stored).",
    });
    let errors = codes.iter().map(|code| {
        let code = code.to_string();
        let response = ok(meaning[&code].as_str().unwrap_or("An error."), "Error");
        (code, response)
    });
    if let Some(responses) = op["responses"].as_object_mut() {
        responses.extend(errors);
    }
    op
}

/// A parameter `within` the path or a header (both required), or the query (optional).
fn param(name: &str, within: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name, "in": within, "required": within != "query",
        "description": description, "schema": schema,
    })
}

fn paths() -> Value {
    let number = json!({ "name": "number", "in": "path", "required": true,
        "description": "The ticket's public number.", "schema": schema_ref("TicketNumber") });
    let seq = json!({ "name": "origin_seq", "in": "path", "required": true,
        "description": "As listed by `GET /v1/dead-letters`.",
        "schema": { "type": "integer", "minimum": 0 } });
    json!({
        "/openapi.json": { "get": operation(json!({
            "operationId": "getOpenApi", "tags": ["meta"], "summary": "This OpenAPI document",
            "description": "The OpenAPI 3.1 description of this API. Needs no token.",
            "security": [],
            "responses": { "200": { "description": "The document.",
                "content": { "application/json": { "schema": { "type": "object" } } } } },
        }), &[]) },
        "/v1/tickets": {
            "post": operation(json!({
                "operationId": "createTicket", "tags": ["tickets"], "summary": "Create a ticket",
                "description": "Creates a ticket numbered from the site's leased block, also while \
                    the gateway is unreachable. Defaults: status `new`, priority `normal` (in the \
                    partner's terms), language `de`, channel `phone`; `first_contact` defaults to \
                    whether the status is `resolved`. A new ticket may start as `new`, \
                    `in_progress` or `resolved` only. The adapter sets `public_number`, \
                    `origin_tenant`, `handling_site` (this site), `opened_at_ms`, and \
                    `first_answer_at_ms` / `resolved_at_ms` as the status implies. \
                    `focus_team` must be one the site's tenant handles (GET /v1/focus-teams).",
                "requestBody": body("NewTicket"),
                "responses": { "201": ok("The new ticket.", "Ticket") },
            }), &[400, 401, 403, 409, 413, 422, 503]),
            "get": operation(json!({
                "operationId": "findTickets", "tags": ["tickets"], "summary": "Find tickets",
                "description": "Finds the tickets of a customer, or one ticket by number. Give \
                    exactly one of `customer_ref` or `number`; other parameters are refused. \
                    Tickets not known at this site are left out (no 404).",
                "parameters": [
                    param("customer_ref", "query", "The customer's reference in the partner's \
                        CRM.", json!({ "type": "string" })),
                    param("number", "query", "A public ticket number.", schema_ref("TicketNumber")),
                ],
                "responses": { "200": ok("The tickets found.", "TicketList") },
            }), &[400, 401, 503]),
        },
        "/v1/tickets/{number}": {
            "parameters": [number],
            "get": operation(json!({
                "operationId": "getTicket", "tags": ["tickets"], "summary": "Read a ticket",
                "description": "The ticket as this site sees it.",
                "responses": { "200": ok("The ticket.", "Ticket") },
            }), &[400, 401, 404, 503]),
            "patch": operation(json!({
                "operationId": "updateTicket", "tags": ["tickets"], "summary": "Change a ticket",
                "description": "Sets the fields given; absent (or null) fields stay as they are. \
                    A status equal to the current one is no change; a request that changes \
                    nothing is refused with 400. Status transitions allowed: new -> in_progress, \
                    escalated, resolved, closed; in_progress -> waiting_on_customer, escalated, \
                    resolved; waiting_on_customer -> in_progress, resolved, closed; escalated -> \
                    in_progress, resolved; resolved -> closed, in_progress; closed is final \
                    (others: 422 `invalid`). Reaching in_progress or resolved sets \
                    `first_answer_at_ms` once; reaching resolved sets `resolved_at_ms`.",
                "requestBody": body("TicketUpdate"),
                "responses": { "200": ok("The ticket after the change.", "Ticket") },
            }), &[400, 401, 403, 404, 413, 422, 503]),
        },
        "/v1/tickets/{number}/comments": {
            "parameters": [number],
            "post": operation(json!({
                "operationId": "addComment", "tags": ["tickets"], "summary": "Comment on a ticket",
                "description": "Adds a comment by this site's tenant; comments are immutable.",
                "requestBody": body("NewComment"),
                "responses": { "201": ok("The comment's id and the ticket.", "CommentCreated") },
            }), &[400, 401, 404, 413, 422, 503]),
        },
        "/v1/tickets/{number}/history": {
            "parameters": [number],
            "get": operation(json!({
                "operationId": "getTicketHistory", "tags": ["tickets"],
                "summary": "A ticket's history",
                "description": "Each field's winning write and the writes it superseded, with \
                    their clocks and sites, and the comments.",
                "responses": { "200": ok("The history.", "TicketHistory") },
            }), &[400, 401, 404, 503]),
        },
        "/v1/call-events": {
            "post": operation(json!({
                "operationId": "recordCallEvent", "tags": ["calls"],
                "summary": "Record a call event",
                "description": "Records an ACD fact in the site's call log of the event's day \
                    (UTC), `<site>.<yyyy-mm-dd>`.",
                "requestBody": body("NewCallEvent"),
                "responses": { "201": ok("The event's id and call log.", "CallEventRecorded") },
            }), &[400, 401, 413, 422, 503]),
        },
        "/v1/focus-teams": {
            "get": operation(json!({
                "operationId": "listFocusTeams", "tags": ["tickets"],
                "summary": "The focus teams this site may use",
                "description": "The focus teams the site's tenant handles (in-house: all), with \
                    whether the tenant is granted their customer data. New tickets name one of \
                    them; partners never move a ticket to another team.",
                "responses": { "200": ok("The teams.", "FocusTeamList") },
            }), &[401, 503]),
        },
        "/v1/sync/status": {
            "get": operation(json!({
                "operationId": "getSyncStatus", "tags": ["sync"],
                "summary": "The link to the gateway",
                "description": "Connection, replication lag, queues and ticket numbers left.",
                "responses": { "200": ok("The status.", "SyncStatus") },
            }), &[401, 503]),
        },
        "/v1/dead-letters": {
            "get": operation(json!({
                "operationId": "listDeadLetters", "tags": ["sync"],
                "summary": "Changes the gateway refused",
                "description": "Local changes the gateway refused, parked out of the outbox.",
                "responses": { "200": ok("The dead letters.", "DeadLetterList") },
            }), &[401, 503]),
        },
        "/v1/dead-letters/{origin_seq}/replay": {
            "parameters": [seq],
            "post": operation(json!({
                "operationId": "replayDeadLetter", "tags": ["sync"],
                "summary": "Replay a refused change",
                "description": "Puts the refused change back into the outbox at its place, \
                    e.g. after the cause was fixed at the gateway or the site's clock was \
                    corrected, and applies it to the local copy again. It keeps its origin_seq \
                    and its clock reading, except a change refused for its clock \
                    (REJECT_REASON_CLOCK_SKEW), which gets a new reading. A change that is \
                    still malformed stays parked (422); while the site's clock is too far \
                    ahead, 503 clock_skew. No request body.",
                "responses": { "202": { "description": "Queued again; no body." } },
            }), &[400, 401, 404, 422, 503]),
        },
        "/v1/webhooks/dead-letters": {
            "get": operation(json!({
                "operationId": "listWebhookDeadLetters", "tags": ["webhooks"],
                "summary": "Webhook events no target accepted",
                "description": "Events a target did not accept within its `max_attempts`, \
                    ordered by target (its position in the config), then event id.",
                "responses": { "200": ok("The webhook dead letters.", "WebhookDeadLetterList") },
            }), &[401, 503]),
        },
    })
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
                param("x-hotline-signature", "header", "`sha256=` and the lowercase hex \
                    HMAC-SHA256 of the raw body, keyed with the target's `secret`.",
                    json!({ "type": "string", "pattern": "^sha256=[0-9a-f]{64}$" })),
                param("x-hotline-event-id", "header", "The event id (decimal); the same event \
                    may arrive more than once.",
                    json!({ "type": "string", "pattern": "^[0-9]+$" })),
            ],
            "requestBody": body(schema),
            "responses": {
                "2XX": { "description": "Accepted; the event is delivered." },
                "default": {
                    "description": "Not accepted (nor are no answer within 10 s and connection \
                        errors): retried with exponential backoff and jitter \
                        (`sync.webhook_backoff_min_ms` to `sync.webhook_backoff_max_ms`), then \
                        a webhook dead letter after the target's `max_attempts` (default 8).",
                },
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
    })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn count(description: &str) -> Value {
    json!({ "type": "integer", "minimum": 0, "description": description })
}

fn boolean(description: &str) -> Value {
    json!({ "type": "boolean", "description": description })
}

fn enumeration(description: &str, values: &[&str]) -> Value {
    json!({ "type": "string", "description": description, "enum": values })
}

/// A time, in ms since the Unix epoch.
fn ms(what: &str) -> Value {
    count(&format!("{what}, in ms since the Unix epoch."))
}

/// A reference to schema `name`, described for one use.
fn described(name: &str, description: &str) -> Value {
    let mut schema = schema_ref(name);
    schema["description"] = json!(description);
    schema
}

/// `schema` that also accepts `null` (serde reads `null` as absent).
fn nullable(mut schema: Value) -> Value {
    if schema.get("$ref").is_some() {
        return json!({ "anyOf": [schema, { "type": "null" }] });
    }
    if let Some(kind) = schema.get("type").cloned() {
        schema["type"] = json!([kind, "null"]);
    }
    schema
}

/// A request object: `required` fields, the rest optional and nullable, unknown fields refused.
fn request(description: &str, required: &[&str], mut properties: Value) -> Value {
    for (name, schema) in properties.as_object_mut().into_iter().flatten() {
        if !required.contains(&name.as_str()) {
            *schema = nullable(schema.take());
        }
    }
    json!({
        "type": "object", "description": description, "required": required,
        "properties": properties, "additionalProperties": false,
    })
}

/// A response object whose properties are always present.
fn record(description: &str, properties: Value) -> Value {
    let keys = properties.as_object().map(Map::keys);
    let required: Vec<&String> = keys.into_iter().flatten().collect();
    json!({
        "type": "object", "description": description, "required": required,
        "properties": properties,
    })
}

/// A list of schema `item`s.
fn array(item: &str) -> Value {
    json!({ "type": "array", "items": schema_ref(item) })
}

/// Every schema: shared values, request bodies, response bodies.
fn schemas() -> Value {
    let mut all = values();
    for part in [requests(), responses()] {
        if let (Some(all), Value::Object(part)) = (all.as_object_mut(), part) {
            all.extend(part);
        }
    }
    all
}

/// Values used by requests and responses.
fn values() -> Value {
    let vocabulary = |what: &str, ours: &[&str]| {
        json!({
            "type": "string",
            "description": format!("A ticket {what}, in the partner's terms when the site maps \
                them, otherwise ours; unmapped input is refused with 422 `unmapped_value`."),
            "examples": ours,
        })
    };
    json!({
        "Error": record("Every error of the API.", json!({
            "code": enumeration("Stable error code. The endpoints answer bad_request (400), \
                unauthorized (401), forbidden (403), not_found (404), conflict (409), too_large (413), invalid \
                and unmapped_value (422) and storage (503); gateway (502) and internal (500) \
                complete the adapter's set.", &["bad_request", "unauthorized", "forbidden",
                "not_found", "conflict", "too_large", "invalid", "unmapped_value", "storage", "gateway",
                "clock_skew", "internal"]),
            "message": string("What went wrong and what is allowed, for people."),
        })),
        "FocusTeamList": record("The focus teams a site may use.", json!({
            "teams": {
                "type": "array",
                "items": record("One focus team.", json!({
                    "id": string("The team's id, as tickets name it."),
                    "display_name": string("Its human name."),
                    "customer_data": { "type": "boolean",
                        "description": "Whether the tenant is granted the customer data (name, \
                            email, phone) of the team's tickets." },
                })),
            },
        })),
        "TicketNumber": {
            "type": "string",
            "description": "A public ticket number, PREFIX-YYYY-NNNNNN: 2 to 5 letters A-Z, a \
                year 2000 to 2999, six digits not all zero. Malformed numbers are refused (400).",
            "pattern": "^[A-Z]{2,5}-2[0-9]{3}-[0-9]{6}$",
            "examples": ["ASZ-2026-004711"],
        },
        "Slug": {
            "type": "string",
            "description": "An id: 1 to 64 of a-z, 0-9 and '-', starting with a letter.",
            "pattern": "^[a-z][a-z0-9-]{0,63}$",
        },
        "Status": vocabulary("status",
            &["new", "in_progress", "waiting_on_customer", "escalated", "resolved", "closed"]),
        "Priority": vocabulary("priority", &["low", "normal", "high", "critical"]),
        "Category": {
            "type": "string",
            "description": "A ticket category, non-empty, at most 512 bytes; in the partner's \
                terms when the site maps categories (unmapped input: 422 `unmapped_value`), \
                otherwise free.",
        },
        "Language": enumeration("The customer's language.", &["de", "en"]),
        "Channel": enumeration("How the customer reached the hotline.",
            &["phone", "email", "portal", "chat"]),
        "Visibility": enumeration("Who may read a comment: the customer too (public), every site \
            that sees the ticket (federation), or the authoring tenant and in-house only (tenant).",
            &["public", "federation", "tenant"]),
        "CallOutcome": enumeration("How a call ended.",
            &["offered", "answered", "abandoned", "transferred"]),
    })
}

/// Request bodies.
fn requests() -> Value {
    let text = string("Free text, at most 512 bytes of UTF-8.");
    let mut update = request(
        "Changes to a ticket; absent or null fields stay as they are. At \
        least one field must change.",
        &[],
        json!({
            "status": schema_ref("Status"),
            "priority": schema_ref("Priority"),
            "category": schema_ref("Category"),
            "subject": text, "assignee_alias": text,
            "focus_team": described("Slug", "The focus team."),
            "handling_site": described("Slug", "The site handling the ticket."),
            "first_contact": boolean("Solved at first contact."),
            "customer_name": text, "customer_email": text, "customer_phone": text,
        }),
    );
    update["minProperties"] = json!(1);
    json!({
        "NewTicket": request("A new ticket; optional fields may also be null.",
            &["customer_ref", "focus_team", "category"], json!({
            "customer_ref": string("The customer's reference in the partner's CRM; non-empty, at \
                most 512 bytes."),
            "focus_team": described("Slug", "The focus team the ticket belongs to."),
            "category": schema_ref("Category"),
            "priority": described("Priority", "Default: `normal`."),
            "status": described("Status", "Default: `new`; only new, in_progress or resolved."),
            "language": described("Language", "Default: `de`."),
            "channel": described("Channel", "Default: `phone`."),
            "subject": text, "assignee_alias": text,
            "first_contact": boolean("Solved at first contact; default: status is resolved."),
            "customer_name": text, "customer_email": text, "customer_phone": text,
        })),
        "TicketUpdate": update,
        "NewComment": request("A new comment.", &["author_alias", "visibility", "body"], json!({
            "author_alias": text,
            "visibility": schema_ref("Visibility"),
            "body": string("The text; non-empty, at most 16384 bytes."),
        })),
        "NewCallEvent": request("One ACD fact; optional fields may also be null.",
            &["outcome", "wait_seconds"], json!({
            "id": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
                "description": "Unique within the call log; default `<site>-<origin_seq>`." },
            "outcome": schema_ref("CallOutcome"),
            "wait_seconds": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u64,
                "description": "How long the caller waited." },
            "at_ms": ms("When it happened; default: now"),
            "focus_team": schema_ref("Slug"),
            "ticket_number": schema_ref("TicketNumber"),
        })),
    })
}

/// Response and webhook bodies.
fn responses() -> Value {
    json!({
        "Comment": record("A comment on a ticket.", json!({
            "id": string("Unique within the ticket: `<site>-<origin_seq>`."),
            "author_alias": string("The advisor's alias."),
            "author_tenant": described("Slug", "The advisor's tenant."),
            "visibility": schema_ref("Visibility"),
            "body": string("The text."),
            "created_at_ms": ms("When written"),
        })),
        "Ticket": {
            "type": "object",
            "description": "A ticket as this site sees it. Besides `number`, `comments` and \
                `deleted`, each field (named as its register in the federation) is present only \
                once set and if the site may read it.",
            "required": ["number", "comments", "deleted"],
            "properties": {
                "number": schema_ref("TicketNumber"),
                "public_number": schema_ref("TicketNumber"),
                "customer_ref": string("The customer's reference in the partner's CRM."),
                "focus_team": described("Slug", "The focus team."),
                "category": schema_ref("Category"),
                "priority": schema_ref("Priority"),
                "status": schema_ref("Status"),
                "language": schema_ref("Language"),
                "channel": schema_ref("Channel"),
                "opened_at_ms": ms("When opened"),
                "first_answer_at_ms": ms("When first worked on or resolved"),
                "resolved_at_ms": ms("When last resolved"),
                "first_contact": boolean("Solved at first contact."),
                "handling_site": described("Slug", "The site handling the ticket."),
                "assignee_alias": string("The assigned advisor's alias."),
                "subject": string("The subject."),
                "origin_tenant": described("Slug", "The tenant that opened the ticket."),
                "customer_name": string("The customer's name."),
                "customer_email": string("The customer's email address."),
                "customer_phone": string("The customer's phone number."),
                "comments": { "type": "array", "items": schema_ref("Comment"),
                    "description": "Oldest first." },
                "deleted": boolean("The ticket was deleted."),
            },
        },
        "TicketList": record("Tickets found.", json!({ "tickets": array("Ticket") })),
        "CommentCreated": record("A written comment.", json!({
            "id": string("The comment's id."),
            "ticket": schema_ref("Ticket"),
        })),
        "FieldWrite": record("One write of a field.", json!({
            "value": { "description": "The value, as in `Ticket` (partner's terms)." },
            "at_ms": ms("The write's hybrid clock"),
            "logical": count("The hybrid clock's logical counter."),
            "site": string("The site that wrote it."),
        })),
        "FieldHistory": record("A field's writes.", json!({
            "field": string("The field's name, as in `Ticket`."),
            "current": schema_ref("FieldWrite"),
            "superseded": array("FieldWrite"),
        })),
        "TicketHistory": record("A ticket's history.", json!({
            "number": schema_ref("TicketNumber"),
            "fields": array("FieldHistory"),
            "comments": array("Comment"),
        })),
        "CallEventRecorded": record("A recorded call event.", json!({
            "id": string("The event's id."),
            "call_log": string("The call log: `<site>.<yyyy-mm-dd>`."),
        })),
        "SyncStatus": record("The link to the gateway.", json!({
            "site": schema_ref("Slug"),
            "tenant": schema_ref("Slug"),
            "connected": boolean("A session with the gateway is up."),
            "last_contact_ms": ms("Last time anything arrived from the gateway (0: never)"),
            "cursor": count("Position in the gateway's log applied here."),
            "gateway_head": count("The gateway's head as last heard (at least `cursor`)."),
            "lag": count("`gateway_head` - `cursor`."),
            "outbox_depth": count("Local changes not yet accepted by the gateway."),
            "dead_letters": count("Changes the gateway refused (`GET /v1/dead-letters`)."),
            "clock_ahead_ms": { "type": ["integer", "null"], "description": "How far this \
                site's clock ran ahead of the gateway's at the last heartbeat, ms (negative: \
                behind; null before the first). Beyond the gateway's allowed skew, local writes \
                are refused with 503 `clock_skew`." },
            "awaiting_gateway_copy": count("Entities whose local copy waits to be replaced by \
                the gateway's, after a refused change or a duplicate acknowledgement."),
            "pushed_since_start": count("Changes the gateway acknowledged since the adapter \
                started."),
            "duplicates_since_start": count("Of those, changes the gateway already held (re-sent \
                after an acknowledgement was lost)."),
            "ticket_numbers_left": count("Ticket numbers left in the leased blocks."),
            "lease_refused": nullable(string("Why the gateway refused the last lease of ticket \
                numbers (e.g. the site holds as many unused numbers as it allows); null once a \
                lease succeeds. Syncing goes on; the lease is asked for again later.")),
            "webhooks_pending": count("Webhook deliveries queued, over all targets."),
            "webhook_dead_letters": count("Webhook events given up \
                (`GET /v1/webhooks/dead-letters`)."),
            "last_error": string("Why the last session ended; empty if none."),
        })),
        "DeadLetter": record("A change the gateway refused.", json!({
            "origin_seq": count("The change's sequence number at this site; replay with it."),
            "entity": string("The entity's id (a ticket number or call log)."),
            "reason": { "type": "string", "description": "Why it was refused (a number if \
                unknown).", "examples": ["REJECT_REASON_INVALID", "REJECT_REASON_FORBIDDEN",
                "REJECT_REASON_CLOCK_SKEW", "REJECT_REASON_TRANSITION", "REJECT_REASON_TOO_LARGE",
                "REJECT_REASON_ORIGIN_MISMATCH"] },
            "message": string("The gateway's explanation."),
            "at_ms": ms("When refused"),
        })),
        "DeadLetterList": record("Changes the gateway refused.",
            json!({ "dead_letters": array("DeadLetter") })),
        "WebhookDeadLetter": record("A webhook event a target did not accept.", json!({
            "target": string("The target's name."),
            "event_id": count("The event id, as sent in `x-hotline-event-id`."),
            "attempts": count("Failed attempts made."),
            "last_error": string("Why the last attempt failed."),
            "at_ms": ms("When given up"),
            "body": {
                "description": "The body that was sent; a JSON string if it was not JSON.",
                "anyOf": [schema_ref("TicketChangedEvent"), schema_ref("TicketRevokedEvent"),
                    { "type": "string" }],
            },
        })),
        "WebhookDeadLetterList": record("Webhook events given up.",
            json!({ "dead_letters": array("WebhookDeadLetter") })),
        "TicketChangedEvent": record("Body of `ticket.changed`.", json!({
            "event": { "const": "ticket.changed" },
            "site": described("Slug", "The site sending the event."),
            "number": schema_ref("TicketNumber"),
            "at_ms": ms("When the change was applied here"),
            "ticket": schema_ref("Ticket"),
        })),
        "TicketRevokedEvent": record("Body of `ticket.revoked`.", json!({
            "event": { "const": "ticket.revoked" },
            "site": described("Slug", "The site sending the event."),
            "number": schema_ref("TicketNumber"),
            "at_ms": ms("When the ticket was purged here"),
        })),
    })
}
