//! Call events, sync status, dead letters and the OpenAPI document.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hotline_federation::calendar::iso_date;
use hotline_federation::model::{CallEvent, EntityKey, EntityKind};
use hotline_federation::{Change, FieldOp};
use serde_json::Value;

use super::requests::NewCallEvent;
use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::{ReplayErrors, ServiceErrors, WriteErrors};
use crate::sync::now_ms;
use crate::views::{
    CallEventRecorded, DeadLetterList, DeadLetterView, SyncStatusView, WebhookDeadLetterList,
    WebhookDeadLetterView,
};

/// Record a call event
///
/// Records an ACD fact in the site's call log of the event's day (UTC),
/// `<site>.<yyyy-mm-dd>`.
#[utoipa::path(post, path = "/v1/call-events", tag = "calls", operation_id = "recordCallEvent",
    request_body = NewCallEvent,
    responses((status = 201, description = "The event's id and call log.",
        body = CallEventRecorded), WriteErrors))]
pub(crate) async fn call_event(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<CallEventRecorded>)> {
    let request: NewCallEvent = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let outcome = request.outcome.0;
    let now = now_ms();
    let at = request.at_ms.map_or(now, |at| at.0);
    let site = app.config.site.clone();
    let key = EntityKey::new(EntityKind::CallLog, format!("{site}.{}", iso_date(at)));
    let (change, _) = app
        .writer
        .checked_change(
            key.clone(),
            now,
            app.events.clone(),
            move |seq, hlc, _, _| {
                let event = CallEvent {
                    id: request
                        .id
                        .map_or_else(|| format!("{site}-{seq}"), |id| id.0),
                    site: site.clone(),
                    outcome,
                    wait_seconds: request.wait_seconds.0,
                    at_ms: at,
                    focus_team: request.focus_team.map(|t| t.0),
                    ticket_number: request.ticket_number.map(|n| n.0),
                    talk_seconds: request.talk_seconds.map_or(0, |s| s.0),
                    wrap_seconds: request.wrap_seconds.map_or(0, |s| s.0),
                };
                Ok(Change {
                    key,
                    ops: vec![FieldOp::AddCallEvent(event)],
                    origin_site: site,
                    origin_seq: seq,
                    hlc,
                })
            },
        )
        .await?;
    app.outbox.notify_one();
    let Some(FieldOp::AddCallEvent(event)) = change.ops.first() else {
        return Err(Error::Storage("call event change lost its event".into()));
    };
    Ok((
        StatusCode::CREATED,
        Json(CallEventRecorded {
            id: event.id.clone(),
            call_log: change.key.id.clone(),
        }),
    ))
}

/// The link to the gateway
///
/// Connection, replication lag, queues and ticket numbers left.
#[utoipa::path(get, path = "/v1/sync/status", tag = "sync", operation_id = "getSyncStatus",
    responses((status = 200, description = "The status.", body = SyncStatusView),
        ServiceErrors))]
pub(crate) async fn status(State(app): State<Arc<App>>) -> Result<Json<SyncStatusView>> {
    let (replica, files) = (app.replica.clone(), app.files.clone());
    let (cursor, depth, parked, stale, numbers, hooks, purges, stored) = blocking(move || {
        Ok((
            replica.cursor()?,
            replica.outbox_depth(),
            replica.parked()?.len(),
            replica.stale_count(),
            replica.numbers_left()?,
            (
                crate::webhooks::pending(&replica.webhook_queue())?,
                crate::webhooks::dead_letters(&replica.webhook_queue())?.len(),
            ),
            replica.retention_purges()?,
            files.stored(),
        ))
    })
    .await?;
    let (files_stored, file_bytes) = stored;
    let status = &app.status;
    let head = status.head.load(Ordering::SeqCst).max(cursor);
    let (connected, gateway) = status.link();
    Ok(Json(SyncStatusView {
        site: app.config.site.clone(),
        tenant: app.config.tenant.clone(),
        connected,
        gateway,
        last_contact_ms: status.last_contact_ms.load(Ordering::SeqCst),
        cursor,
        gateway_head: head,
        lag: head - cursor,
        outbox_depth: depth as u64,
        dead_letters: parked as u64,
        clock_ahead_ms: status.clock().map(|c| c.ahead_ms),
        awaiting_gateway_copy: stale as u64,
        pushed_since_start: status.pushed.load(Ordering::SeqCst),
        duplicates_since_start: status.duplicates.load(Ordering::SeqCst),
        ticket_numbers_left: numbers,
        lease_refused: lock(&status.lease_refused).clone(),
        webhooks_pending: hooks.0 as u64,
        webhook_dead_letters: hooks.1 as u64,
        last_error: lock(&status.last_error).clone(),
        retention_purged: purges.0,
        last_retention_purge_ms: purges.1,
        files_stored,
        file_bytes,
    }))
}

/// The value behind `mutex`, also after a panic while it was held.
fn lock<T>(mutex: &parking_lot::Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
    mutex.lock()
}

/// Changes the gateway refused
///
/// Local changes the gateway refused, parked out of the outbox.
#[utoipa::path(get, path = "/v1/dead-letters", tag = "sync", operation_id = "listDeadLetters",
    responses((status = 200, description = "The dead letters.", body = DeadLetterList),
        ServiceErrors))]
pub(crate) async fn dead_letters(State(app): State<Arc<App>>) -> Result<Json<DeadLetterList>> {
    let replica = app.replica.clone();
    let parked = blocking(move || replica.parked()).await?;
    let dead_letters = parked
        .into_iter()
        .map(|p| {
            let change = p.change.unwrap_or_default();
            DeadLetterView {
                origin_seq: change.origin_seq,
                entity: change.key.map(|k| k.id).unwrap_or_default(),
                reason: hotline_proto::v1::RejectReason::try_from(p.reason)
                    .map(|r| r.as_str_name().to_owned())
                    .unwrap_or_else(|_| p.reason.to_string()),
                rule: (!p.rule.is_empty()).then_some(p.rule),
                message: p.message,
                at_ms: p.at_ms,
            }
        })
        .collect();
    Ok(Json(DeadLetterList { dead_letters }))
}

/// Replay a refused change
///
/// Puts the refused change back into the outbox at its place, e.g. after the cause was fixed
/// at the gateway or the site's clock was corrected, and applies it to the local copy again. It
/// keeps its origin_seq and its clock reading, except a change refused for its clock
/// (REJECT_REASON_CLOCK_SKEW), which gets a new reading. A change that is still malformed
/// stays parked (422); while the site's clock is too far ahead, 503 clock_skew. No request
/// body.
#[utoipa::path(post, path = "/v1/dead-letters/{origin_seq}/replay", tag = "sync",
    operation_id = "replayDeadLetter",
    params(("origin_seq" = u64, Path, minimum = 0,
        description = "As listed by `GET /v1/dead-letters`.")),
    responses((status = 202, description = "Queued again; no body."), ReplayErrors))]
pub(crate) async fn replay(
    State(app): State<Arc<App>>,
    origin_seq: std::result::Result<Path<String>, PathRejection>,
) -> Result<StatusCode> {
    let Path(origin_seq) =
        origin_seq.map_err(|e| Error::BadRequest(format!("origin_seq: {}", e.body_text())))?;
    let seq: u64 = origin_seq.parse().map_err(|_| {
        Error::BadRequest(format!(
            "origin_seq: {origin_seq:?} is not an origin_seq; expected a whole number from 0 \
             to {}",
            u64::MAX
        ))
    })?;
    app.check_clock()?;
    // A replayed change moves from the dead letters to the outbox: the keeper, which reads
    // both, does not look meanwhile (it could miss the change's files and delete them).
    let _naming = app.files.naming().await;
    let replaying = app.clone();
    blocking(move || replaying.replica.replay(seq, now_ms(), &replaying.events)).await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok(StatusCode::ACCEPTED)
}

/// Webhook events no target accepted
///
/// Events a target did not accept within its `max_attempts`, ordered by target (its position
/// in the config), then event id.
#[utoipa::path(get, path = "/v1/webhooks/dead-letters", tag = "webhooks",
    operation_id = "listWebhookDeadLetters",
    responses((status = 200, description = "The webhook dead letters.",
        body = WebhookDeadLetterList), ServiceErrors))]
pub(crate) async fn webhook_dead_letters(
    State(app): State<Arc<App>>,
) -> Result<Json<WebhookDeadLetterList>> {
    let replica = app.replica.clone();
    let dead = blocking(move || crate::webhooks::dead_letters(&replica.webhook_queue())).await?;
    let dead_letters = dead.into_iter().map(WebhookDeadLetterView::from).collect();
    Ok(Json(WebhookDeadLetterList { dead_letters }))
}

/// This OpenAPI document
///
/// The OpenAPI 3.1 description of this API, with the site's own vocabulary. Needs no token.
#[utoipa::path(get, path = "/openapi.json", tag = "meta", operation_id = "getOpenApi",
    security(()),
    responses((status = 200, description = "The document.", body = Object)))]
pub(crate) async fn openapi(State(app): State<Arc<App>>) -> Json<Value> {
    Json(crate::openapi::document(&app.mapping))
}
