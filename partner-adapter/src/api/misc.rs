//! Call events, sync status, dead letters and the OpenAPI document.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hotline_federation::calendar::iso_date;
use hotline_federation::model::{CallEvent, CallOutcome, EntityKey, EntityKind};
use hotline_federation::{Change, FieldOp};
use serde::Deserialize;
use serde_json::{Value, json};

use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::sync::now_ms;

/// One ACD fact.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCallEvent {
    id: Option<String>,
    outcome: String,
    wait_seconds: u32,
    at_ms: Option<u64>,
    focus_team: Option<String>,
    ticket_number: Option<String>,
}

/// `POST /v1/call-events`: records an ACD fact in the site's call log of that day.
pub(crate) async fn call_event(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>)> {
    let request: NewCallEvent = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let outcome = CallOutcome::parse("outcome", &request.outcome)?;
    let now = now_ms();
    let at = request.at_ms.unwrap_or(now);
    let site = app.config.site.clone();
    let key = EntityKey::new(EntityKind::CallLog, format!("{site}.{}", iso_date(at)));
    let app2 = app.clone();
    let (change, _) = blocking(move || {
        let app = app2;
        app.replica
            .checked_change(&key, now, &app.events, |seq, hlc, _, _| {
                let event = CallEvent {
                    id: request.id.unwrap_or_else(|| format!("{site}-{seq}")),
                    site: site.clone(),
                    outcome,
                    wait_seconds: request.wait_seconds,
                    at_ms: at,
                    focus_team: request.focus_team,
                    ticket_number: request.ticket_number,
                };
                Ok(Change {
                    key: key.clone(),
                    ops: vec![FieldOp::AddCallEvent(event)],
                    origin_site: site,
                    origin_seq: seq,
                    hlc,
                })
            })
    })
    .await?;
    app.outbox.notify_one();
    let Some(FieldOp::AddCallEvent(event)) = change.ops.first() else {
        return Err(Error::Storage("call event change lost its event".into()));
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": event.id, "call_log": change.key.id })),
    ))
}

/// `GET /v1/sync/status`.
pub(crate) async fn status(State(app): State<Arc<App>>) -> Result<Json<Value>> {
    let replica = app.replica.clone();
    let (cursor, depth, parked, stale, numbers, hooks_pending, hooks_dead) = blocking(move || {
        Ok((
            replica.cursor()?,
            replica.outbox_depth(),
            replica.parked()?.len(),
            replica.stale_count(),
            replica.numbers_left()?,
            crate::webhooks::pending(replica.db())?,
            crate::webhooks::dead_letters(replica.db())?.len(),
        ))
    })
    .await?;
    let status = &app.status;
    let head = status.head.load(Ordering::SeqCst).max(cursor);
    Ok(Json(json!({
        "site": app.config.site,
        "tenant": app.config.tenant,
        "connected": status.connected.load(Ordering::SeqCst),
        "last_contact_ms": status.last_contact_ms.load(Ordering::SeqCst),
        "cursor": cursor,
        "gateway_head": head,
        "lag": head - cursor,
        "outbox_depth": depth,
        "dead_letters": parked,
        "clock_ahead_ms": status.clock().map(|c| c.ahead_ms),
        "awaiting_gateway_copy": stale,
        "pushed_since_start": status.pushed.load(Ordering::SeqCst),
        "duplicates_since_start": status.duplicates.load(Ordering::SeqCst),
        "ticket_numbers_left": numbers,
        "lease_refused": status.lease_refused.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        "webhooks_pending": hooks_pending,
        "webhook_dead_letters": hooks_dead,
        "last_error": status.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
    })))
}

/// `GET /v1/dead-letters`: changes the gateway refused.
pub(crate) async fn dead_letters(State(app): State<Arc<App>>) -> Result<Json<Value>> {
    let replica = app.replica.clone();
    let parked = blocking(move || replica.parked()).await?;
    let items: Vec<Value> = parked
        .into_iter()
        .map(|p| {
            let change = p.change.unwrap_or_default();
            json!({
                "origin_seq": change.origin_seq,
                "entity": change.key.map(|k| k.id).unwrap_or_default(),
                "reason": hotline_proto::v1::RejectReason::try_from(p.reason)
                    .map(|r| r.as_str_name().to_owned())
                    .unwrap_or_else(|_| p.reason.to_string()),
                "message": p.message,
                "at_ms": p.at_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "dead_letters": items })))
}

/// `POST /v1/dead-letters/{origin_seq}/replay`: puts a refused change back into the outbox.
pub(crate) async fn replay(
    State(app): State<Arc<App>>,
    Path(origin_seq): Path<String>,
) -> Result<StatusCode> {
    let seq: u64 = origin_seq.parse().map_err(|_| {
        Error::BadRequest(format!(
            "{origin_seq:?} is not an origin_seq; expected a number"
        ))
    })?;
    app.check_clock()?;
    let replaying = app.clone();
    blocking(move || replaying.replica.replay(seq, now_ms(), &replaying.events)).await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v1/webhooks/dead-letters`: events no target accepted.
pub(crate) async fn webhook_dead_letters(State(app): State<Arc<App>>) -> Result<Json<Value>> {
    let replica = app.replica.clone();
    let dead = blocking(move || crate::webhooks::dead_letters(replica.db())).await?;
    Ok(Json(json!({ "dead_letters": dead })))
}

/// `GET /openapi.json` (no token needed).
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
