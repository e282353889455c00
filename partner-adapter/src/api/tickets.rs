//! Ticket endpoints: create (numbered locally, also offline), read, find, update, comment,
//! history.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hotline_federation::ids::PublicNumber;
use hotline_federation::lifecycle::{self, TicketEdit, TicketText};
use hotline_federation::model::{
    Channel, EntityKey, EntityKind, FieldValue, Language, PolicyField, TicketStatus, Visibility,
};
use hotline_federation::visibility::pii_granted_in;
use hotline_federation::{Change, EntityState, FieldOp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, parse};
use crate::error::{Error, Result};
use crate::sync::now_ms;
use crate::views;

/// Runs a blocking store operation off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Storage(format!("store task failed: {e}")))?
}

/// A new ticket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTicket {
    customer_ref: String,
    focus_team: String,
    category: String,
    priority: Option<String>,
    status: Option<String>,
    language: Option<String>,
    channel: Option<String>,
    subject: Option<String>,
    assignee_alias: Option<String>,
    first_contact: Option<bool>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
}

/// Changes to a ticket; absent fields stay as they are.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketUpdate {
    status: Option<String>,
    priority: Option<String>,
    category: Option<String>,
    subject: Option<String>,
    assignee_alias: Option<String>,
    focus_team: Option<String>,
    handling_site: Option<String>,
    first_contact: Option<bool>,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_phone: Option<String>,
}

/// A new comment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewComment {
    author_alias: String,
    visibility: String,
    body: String,
}

/// Search parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Search {
    customer_ref: Option<String>,
    number: Option<String>,
}

fn ticket_key(number: &str) -> Result<EntityKey> {
    PublicNumber::parse("number", number).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(EntityKey::new(EntityKind::Ticket, number))
}

fn not_found(number: &str, site: &str) -> Error {
    Error::NotFound(format!("ticket {number} is not known at site {site}"))
}

/// `GET /v1/focus-teams`: the focus teams this site's tenant handles, and whether it holds
/// their customer data.
pub(crate) async fn focus_teams(State(app): State<Arc<App>>) -> Result<Json<Value>> {
    let replica = app.replica.clone();
    let tenant = app.config.tenant.clone();
    let teams = blocking(move || {
        let directory = replica.directory()?;
        let policies = replica.entities(EntityKind::Policy)?;
        Ok(policies
            .iter()
            .filter(|p| p.deleted.is_none() && directory.handles(&tenant, &p.key.id))
            .map(|p| {
                let name = match p.value("display_name") {
                    Some(FieldValue::Policy(PolicyField::DisplayName(n))) => n.clone(),
                    _ => p.key.id.clone(),
                };
                json!({
                    "id": p.key.id,
                    "display_name": name,
                    "customer_data": pii_granted_in(&tenant, Some(&p.key.id), &directory),
                })
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({ "teams": teams })))
}

fn change(
    key: EntityKey,
    ops: Vec<FieldOp>,
    site: &str,
    seq: u64,
    hlc: hotline_federation::Hlc,
) -> Change {
    Change {
        key,
        ops,
        origin_site: site.to_owned(),
        origin_seq: seq,
        hlc,
    }
}

/// `POST /v1/tickets`: creates a ticket with the next leased number.
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>)> {
    let request: NewTicket = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let mapping = &app.mapping;
    let status = match &request.status {
        Some(s) => mapping.status_in("status", s)?,
        None => TicketStatus::New,
    };
    let priority = mapping.priority_in(
        "priority",
        request
            .priority
            .as_deref()
            .unwrap_or(&mapping.priority.to_theirs("normal")),
    )?;
    let category = mapping.category.to_ours("category", &request.category)?;
    let language = Language::parse("language", request.language.as_deref().unwrap_or("de"))?;
    let channel = Channel::parse("channel", request.channel.as_deref().unwrap_or("phone"))?;
    let app2 = app.clone();
    let (_, after) = blocking(move || {
        let app = app2;
        let now = now_ms();
        let site = app.config.site.clone();
        let tenant = app.config.tenant.clone();
        // The key is only known once a number is taken, inside the lock.
        let replica = app.replica.clone();
        let ticket = lifecycle::NewTicket {
            customer_ref: request.customer_ref,
            focus_team: request.focus_team,
            category,
            priority,
            status,
            language,
            channel,
            first_contact: request.first_contact,
            text: TicketText {
                subject: request.subject,
                assignee_alias: request.assignee_alias,
                customer_name: request.customer_name,
                customer_email: request.customer_email,
                customer_phone: request.customer_phone,
            },
        };
        replica.local_change_new_ticket(now, &app.events, |number, seq, hlc, _| {
            let ops = lifecycle::create_ops(ticket, number, &tenant, &site, now);
            Ok(change(
                EntityKey::new(EntityKind::Ticket, number),
                ops,
                &site,
                seq,
                hlc,
            ))
        })
    })
    .await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok((StatusCode::CREATED, Json(views::ticket(&after, mapping))))
}

async fn load(app: &Arc<App>, number: &str) -> Result<EntityState> {
    let key = ticket_key(number)?;
    let replica = app.replica.clone();
    let state = blocking(move || replica.entity(&key)).await?;
    if state.is_empty() {
        return Err(not_found(number, &app.config.site));
    }
    Ok(state)
}

/// `GET /v1/tickets/{number}`.
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    Path(number): Path<String>,
) -> Result<Json<Value>> {
    let state = load(&app, &number).await?;
    Ok(Json(views::ticket(&state, &app.mapping)))
}

/// `GET /v1/tickets/{number}/history`.
pub(crate) async fn history(
    State(app): State<Arc<App>>,
    Path(number): Path<String>,
) -> Result<Json<Value>> {
    let state = load(&app, &number).await?;
    Ok(Json(views::history(&state, &app.mapping)))
}

/// `GET /v1/tickets?customer_ref=...` or `?number=...`.
pub(crate) async fn find(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<Search>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>> {
    let Query(search) = query
        .map_err(|e| Error::BadRequest(format!("{e}; allowed parameters: customer_ref, number")))?;
    let numbers = match (search.customer_ref, search.number) {
        (Some(customer), None) => {
            let replica = app.replica.clone();
            blocking(move || replica.tickets_of_customer(&customer)).await?
        }
        (None, Some(number)) => vec![number],
        _ => {
            return Err(Error::BadRequest(
                "give exactly one of customer_ref or number".into(),
            ));
        }
    };
    let mut tickets = Vec::new();
    for number in numbers {
        match load(&app, &number).await {
            Ok(state) => tickets.push(views::ticket(&state, &app.mapping)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(json!({ "tickets": tickets })))
}

/// `PATCH /v1/tickets/{number}`.
pub(crate) async fn update(
    State(app): State<Arc<App>>,
    Path(number): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Value>> {
    let key = ticket_key(&number)?;
    let request: TicketUpdate = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let mapping = &app.mapping;
    let status = request
        .status
        .as_deref()
        .map(|s| mapping.status_in("status", s))
        .transpose()?;
    let priority = request
        .priority
        .as_deref()
        .map(|p| mapping.priority_in("priority", p))
        .transpose()?;
    let category = request
        .category
        .as_deref()
        .map(|c| mapping.category.to_ours("category", c))
        .transpose()?;
    let app2 = app.clone();
    let (_, after) = blocking(move || {
        let app = app2;
        let site = app.config.site.clone();
        let now = now_ms();
        app.replica.checked_change(&key, now, &app.events, |seq, hlc, before, _| {
            if before.is_empty() {
                return Err(not_found(&key.id, &site));
            }
            let edit = TicketEdit {
                status,
                priority,
                category,
                focus_team: request.focus_team,
                handling_site: request.handling_site,
                first_contact: request.first_contact,
                text: TicketText {
                    subject: request.subject,
                    assignee_alias: request.assignee_alias,
                    customer_name: request.customer_name,
                    customer_email: request.customer_email,
                    customer_phone: request.customer_phone,
                },
            };
            let ops = lifecycle::edit_ops(before, edit, now);
            if ops.is_empty() {
                return Err(Error::BadRequest(
                    "nothing to change; send at least one of status, priority, category, subject, assignee_alias, \
                     focus_team, handling_site, first_contact, customer_name, customer_email, customer_phone \
                     with a new value"
                        .into(),
                ));
            }
            Ok(change(key.clone(), ops, &site, seq, hlc))
        })
    })
    .await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok(Json(views::ticket(&after, mapping)))
}

/// `POST /v1/tickets/{number}/comments`.
pub(crate) async fn comment(
    State(app): State<Arc<App>>,
    Path(number): Path<String>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>)> {
    let key = ticket_key(&number)?;
    let request: NewComment = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let visibility = Visibility::parse("visibility", &request.visibility)?;
    let app2 = app.clone();
    let (change, after) = blocking(move || {
        let app = app2;
        let site = app.config.site.clone();
        let tenant = app.config.tenant.clone();
        let now = now_ms();
        app.replica
            .checked_change(&key, now, &app.events, |seq, hlc, before, _| {
                if before.is_empty() {
                    return Err(not_found(&key.id, &site));
                }
                let comment = lifecycle::new_comment(
                    &site,
                    &tenant,
                    seq,
                    request.author_alias,
                    visibility,
                    request.body,
                    now,
                );
                Ok(change(
                    key.clone(),
                    vec![FieldOp::AddComment(comment)],
                    &site,
                    seq,
                    hlc,
                ))
            })
    })
    .await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    let id = match change.ops.first() {
        Some(FieldOp::AddComment(c)) => c.id.clone(),
        _ => String::new(),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "ticket": views::ticket(&after, &app.mapping) })),
    ))
}
