//! Ticket endpoints: create (numbered locally, also offline), read, find, update, comment,
//! history.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hotline_federation::access;
use hotline_federation::lifecycle::{self, TicketText};
use hotline_federation::model::{
    Channel, EntityKey, EntityKind, FieldValue, Language, PolicyField, TicketStatus,
};
use hotline_federation::visibility::pii_granted_in;
use hotline_federation::{Change, EntityState, FieldOp};

use super::fields::TicketNumber;
use super::requests::{NewComment, NewTicket, Search, TicketUpdate};
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::{ReadErrors, ServiceErrors, WriteErrors};
use crate::replica::{NO_NUMBERS, OpeningFace};
use crate::sync::now_ms;
use crate::views::{
    self, CommentCreated, FocusTeam, FocusTeamList, HistoryView, TicketList, TicketView,
};

/// Runs a blocking store operation off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Storage(format!("store task failed: {e}")))?
}

/// The ticket a path names; a malformed number is refused with 400, as in a query or body.
pub(crate) fn ticket_key(
    number: std::result::Result<Path<String>, PathRejection>,
) -> Result<EntityKey> {
    let Path(number) =
        number.map_err(|e| Error::BadRequest(format!("number: {}", e.body_text())))?;
    let number =
        TicketNumber::parse(&number).map_err(|p| Error::BadRequest(format!("number: {p}")))?;
    Ok(EntityKey::new(EntityKind::Ticket, number.0))
}

fn not_found(number: &str, site: &str) -> Error {
    Error::NotFound(format!("ticket {number} is not known at site {site}"))
}

/// The focus teams this site may use
///
/// The focus teams the site's tenant handles (in-house: all), with whether the tenant is
/// granted their customer data. New tickets name one of them; partners never move a ticket to
/// another team.
#[utoipa::path(get, path = "/v1/focus-teams", tag = "tickets", operation_id = "listFocusTeams",
    responses((status = 200, description = "The teams.", body = FocusTeamList), ServiceErrors))]
pub(crate) async fn focus_teams(State(app): State<Arc<App>>) -> Result<Json<FocusTeamList>> {
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
                FocusTeam {
                    id: p.key.id.clone(),
                    display_name: name,
                    customer_data: pii_granted_in(&tenant, Some(&p.key.id), &directory),
                }
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(FocusTeamList { teams }))
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

/// Create a ticket
///
/// Creates a ticket numbered from the site's leased block, also while the gateway is
/// unreachable. Defaults: status `new`, priority `normal` (in the site's terms), language
/// `de`, channel `phone`; `first_contact` defaults to whether the status is `resolved`. The
/// adapter sets `public_number`, `origin_tenant`, `handling_site` (this site), `opened_at_ms`,
/// and `first_answer_at_ms` / `resolved_at_ms` as the status implies.
#[utoipa::path(post, path = "/v1/tickets", tag = "tickets", operation_id = "createTicket",
    request_body = NewTicket,
    responses((status = 201, description = "The new ticket.", body = TicketView), WriteErrors))]
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TicketView>)> {
    let request: NewTicket = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let mapping = &app.mapping;
    let status = match &request.status {
        Some(s) => mapping.status_in("status", &s.0)?,
        None => TicketStatus::New,
    };
    let priority = mapping.priority_in(
        "priority",
        &request
            .priority
            .as_ref()
            .map_or_else(|| mapping.priority.to_theirs("normal"), |p| p.0.clone()),
    )?;
    let category = mapping
        .category
        .to_ours("category", &request.category.0.0)?;
    let language = request.language.map_or(Language::De, |l| l.0);
    let channel = request.channel.map_or(Channel::Phone, |c| c.0);
    let minted = mint_access_code()?;
    let code = minted.code.clone();
    let ticket = lifecycle::NewTicket {
        customer_ref: request.customer_ref.0,
        focus_team: request.focus_team.0,
        category,
        priority,
        status,
        language,
        channel,
        first_contact: request.first_contact,
        text: TicketText {
            subject: request.subject.map(|v| v.0),
            assignee_alias: request.assignee_alias.map(|v| v.0),
            customer_name: request.customer_name.map(|v| v.0),
            customer_email: request.customer_email.map(|v| v.0),
            customer_phone: request.customer_phone.map(|v| v.0),
        },
        access_code: Some(minted.stored),
    };
    let (after, face) = numbered(&app, ticket).await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    let mut view = views::ticket(&after, mapping);
    view.customer_message =
        super::brand::opening_message(face.as_ref(), &app.config.status_page_url, &after, &code);
    view.access_code = Some(code);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Creates `ticket` with the next leased number through the store's writer, which also reads
/// what its first customer message is rendered from (`None`: nothing). While connected,
/// a create that finds none left wakes the leaser and waits for the refill, up to
/// `sync.number_wait_ms`, before it is refused (409); offline it is refused at once, as the
/// lease cannot grow then.
async fn numbered(
    app: &Arc<App>,
    ticket: lifecycle::NewTicket,
) -> Result<(EntityState, Option<OpeningFace>)> {
    let wait = Duration::from_millis(app.config.sync.number_wait_ms);
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before the attempt, so a refill between the attempt and the wait counts.
        let refilled = app.status.numbers_added.notified();
        tokio::pin!(refilled);
        refilled.as_mut().enable();
        let (site, tenant) = (app.config.site.clone(), app.config.tenant.clone());
        let ticket = ticket.clone();
        let now = now_ms();
        let made = app
            .writer
            .try_new_ticket(now, app.events.clone(), move |number, seq, hlc, _| {
                let ops = lifecycle::create_ops(ticket, number, &tenant, &site, now);
                let key = EntityKey::new(EntityKind::Ticket, number);
                Ok(change(key, ops, &site, seq, hlc))
            })
            .await?;
        if let Some((_, after, face)) = made {
            return Ok((after, face));
        }
        let online = app.status.connected.load(Ordering::SeqCst);
        if !online {
            return Err(Error::Conflict(NO_NUMBERS.into()));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Conflict(format!(
                "no ticket numbers left at this site: waited {} ms (sync.number_wait_ms) for the \
                 gateway to lease more; try again shortly",
                wait.as_millis()
            )));
        }
        app.status.lease_wanted.notify_one();
        // Woken by the refill, or at the deadline (then refused above after one more try).
        let _ = tokio::time::timeout_at(deadline, refilled).await;
    }
}

/// A new access code for a customer, from the operating system's random generator.
fn mint_access_code() -> Result<access::MintedCode> {
    let mut random = [0u8; access::RANDOM_BYTES];
    getrandom::fill(&mut random)
        .map_err(|e| Error::NoRandomness(format!("no randomness for an access code: {e}")))?;
    Ok(access::mint(&random))
}

pub(crate) async fn load(app: &Arc<App>, key: EntityKey) -> Result<EntityState> {
    let replica = app.replica.clone();
    let number = key.id.clone();
    let state = blocking(move || replica.entity(&key)).await?;
    if state.is_empty() {
        return Err(not_found(&number, &app.config.site));
    }
    Ok(state)
}

/// Read a ticket
///
/// The ticket as this site sees it.
#[utoipa::path(get, path = "/v1/tickets/{number}", tag = "tickets", operation_id = "getTicket",
    params(("number" = TicketNumber, Path, description = "The ticket's public number.")),
    responses((status = 200, description = "The ticket.", body = TicketView), ReadErrors))]
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    number: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<TicketView>> {
    let state = load(&app, ticket_key(number)?).await?;
    Ok(Json(views::ticket(&state, &app.mapping)))
}

/// A ticket's history
///
/// Each field's winning write and the writes it superseded, with their clocks and sites, and
/// the comments.
#[utoipa::path(get, path = "/v1/tickets/{number}/history", tag = "tickets",
    operation_id = "getTicketHistory",
    params(("number" = TicketNumber, Path, description = "The ticket's public number.")),
    responses((status = 200, description = "The history.", body = HistoryView), ReadErrors))]
pub(crate) async fn history(
    State(app): State<Arc<App>>,
    number: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<HistoryView>> {
    let state = load(&app, ticket_key(number)?).await?;
    Ok(Json(views::history(&state, &app.mapping)))
}

/// Find tickets
///
/// Finds the tickets of a customer, or one ticket by number: give exactly one of
/// `customer_ref` or `number`. Tickets not known at this site are left out (no 404).
#[utoipa::path(get, path = "/v1/tickets", tag = "tickets", operation_id = "findTickets",
    params(("search" = inline(Search), Query, style = Form, explode,
        description = "Exactly one of `customer_ref` or `number`.")),
    responses((status = 200, description = "The tickets found.", body = TicketList),
        ReadErrors))]
pub(crate) async fn find(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<TicketList>> {
    let Query(params) = query.map_err(|e| {
        Error::BadRequest(format!(
            "{}; allowed: exactly one of customer_ref or number",
            e.body_text()
        ))
    })?;
    let numbers = match Search::from_query(params)? {
        Search::Customer(customer) => {
            let replica = app.replica.clone();
            blocking(move || replica.tickets_of_customer(&customer.0)).await?
        }
        Search::Number(number) => vec![number.0],
    };
    let mut tickets = Vec::new();
    for number in numbers {
        match load(&app, EntityKey::new(EntityKind::Ticket, number)).await {
            Ok(state) => tickets.push(views::ticket(&state, &app.mapping)),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Json(TicketList { tickets }))
}

/// Change a ticket
///
/// Sets the fields given; absent (or null) fields stay as they are, and a request that changes
/// nothing (no field, or a status or focus team equal to the current one) answers the ticket
/// as it is. A status change must be one the `Status` schema lists from the current status
/// (others: 422 `invalid`, saying which are allowed); closed is final. Reaching in_progress or
/// resolved sets `first_answer_at_ms` once; reaching resolved sets `resolved_at_ms`.
#[utoipa::path(patch, path = "/v1/tickets/{number}", tag = "tickets",
    operation_id = "updateTicket", request_body = TicketUpdate,
    params(("number" = TicketNumber, Path, description = "The ticket's public number.")),
    responses((status = 200, description = "The ticket after the change.", body = TicketView),
        WriteErrors))]
pub(crate) async fn update(
    State(app): State<Arc<App>>,
    number: std::result::Result<Path<String>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<TicketView>> {
    let key = ticket_key(number)?;
    let request: TicketUpdate = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let mapping = &app.mapping;
    let status = request
        .status
        .as_ref()
        .map(|s| mapping.status_in("status", &s.0))
        .transpose()?;
    let priority = request
        .priority
        .as_ref()
        .map(|p| mapping.priority_in("priority", &p.0))
        .transpose()?;
    let category = request
        .category
        .as_ref()
        .map(|c| mapping.category.to_ours("category", &c.0.0))
        .transpose()?;
    let edit = request.into_edit(status, priority, category);
    let before = load(&app, key.clone()).await?;
    if lifecycle::edit_ops(&before, edit.clone(), now_ms()).is_empty() {
        // What was asked for holds already, as the store shows it: answered once that is
        // durable (a write whose flush is pending, or failed, is shown too).
        let replica = app.replica.clone();
        blocking(move || replica.flush_applied()).await?;
        return Ok(Json(views::ticket(&before, mapping)));
    }
    let (_, after) = change_ticket(&app, key, move |_, before, now| {
        let ops = lifecycle::edit_ops(before, edit, now);
        if ops.is_empty() {
            // The ticket changed since it was read above; what was asked for already holds.
            return Err(Error::Conflict(
                "the ticket changed while this request was applied, and it now asks for no \
                 change; read the ticket again"
                    .into(),
            ));
        }
        Ok(ops)
    })
    .await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok(Json(views::ticket(&after, mapping)))
}

/// One change to an existing ticket through the store's writer: `ops` gets the origin
/// sequence number, the ticket as stored and the time of the write; 404 when there is no such
/// ticket at this site.
pub(crate) async fn change_ticket(
    app: &Arc<App>,
    key: EntityKey,
    ops: impl FnOnce(u64, &EntityState, u64) -> Result<Vec<FieldOp>> + Send + 'static,
) -> Result<(Change, EntityState)> {
    let site = app.config.site.clone();
    let now = now_ms();
    app.writer
        .checked_change(
            key.clone(),
            now,
            app.events.clone(),
            move |seq, hlc, before, _| {
                if before.is_empty() {
                    return Err(not_found(&key.id, &site));
                }
                let ops = ops(seq, before, now)?;
                Ok(change(key, ops, &site, seq, hlc))
            },
        )
        .await
}

/// Comment on a ticket
///
/// Adds a comment by this site's tenant; comments are immutable.
#[utoipa::path(post, path = "/v1/tickets/{number}/comments", tag = "tickets",
    operation_id = "addComment", request_body = NewComment,
    params(("number" = TicketNumber, Path, description = "The ticket's public number.")),
    responses((status = 201, description = "The comment's id and the ticket.",
        body = CommentCreated), WriteErrors))]
pub(crate) async fn comment(
    State(app): State<Arc<App>>,
    number: std::result::Result<Path<String>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CommentCreated>)> {
    let key = ticket_key(number)?;
    let request: NewComment = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let files = request
        .attachments
        .into_iter()
        .map(|a| (a.sha256.0, a.filename.0))
        .collect();
    super::files::write_comment(
        &app,
        key,
        request.author_alias.0,
        request.visibility.0,
        request.body.0,
        files,
    )
    .await
}
