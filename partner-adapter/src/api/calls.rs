//! `POST /v1/calls/import`: a batch of call events (a CSV file read by `hotline import calls`)
//! checked whole before anything is written. A row whose id the call log holds with the same
//! content is "unchanged"; the same id with different content refuses the whole batch, naming
//! the row's line. Only then are the new events written, one change per call log (of at most
//! [`EVENTS_PER_CHANGE`] events).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use hotline_federation::calendar::iso_date;
use hotline_federation::model::{CallEvent, EntityKey, EntityKind};
use hotline_federation::{Change, FieldOp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{
    CallSeconds, ElementId, EpochMs, LineNumber, OutcomeName, Slug, TicketNumber, WaitSeconds,
};
use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::WriteErrors;
use crate::sync::now_ms;

/// Most rows of one import.
pub(crate) const MAX_IMPORT_ROWS: usize = 5_000;
/// Most events one change carries.
pub(crate) const EVENTS_PER_CHANGE: usize = 64;

/// One call event of an import; every field required, `focus_team` and `ticket_number` may be
/// null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportedCall {
    /// The row's line in the source file (named in errors).
    pub(crate) line: LineNumber,
    /// Unique within the site's call log of the day.
    pub(crate) id: ElementId,
    /// When the call happened.
    pub(crate) at_ms: EpochMs,
    /// How the call ended.
    pub(crate) outcome: OutcomeName,
    /// Seconds the caller waited.
    pub(crate) wait_seconds: WaitSeconds,
    /// Seconds talked.
    pub(crate) talk_seconds: CallSeconds,
    /// Seconds of after-call work.
    pub(crate) wrap_seconds: CallSeconds,
    /// The focus team the call was for.
    pub(crate) focus_team: Option<Slug>,
    /// The ticket the call was about.
    pub(crate) ticket_number: Option<TicketNumber>,
}

/// A batch of call events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallImport {
    /// The rows, at most 5,000.
    pub(crate) rows: Vec<ImportedCall>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CallImportResult {
    /// Events written.
    pub(crate) added: u64,
    /// Rows the call logs held already with the same content.
    pub(crate) unchanged: u64,
    /// The call logs written to.
    pub(crate) call_logs: Vec<String>,
}

/// Import call events
///
/// Checks every row first; nothing is written when any row is bad. A row already stored with
/// the same content counts as unchanged, so importing the same file twice changes nothing.
#[utoipa::path(post, path = "/v1/calls/import", tag = "calls", operation_id = "importCallEvents",
    request_body = CallImport,
    responses((status = 200, description = "What was added and what was unchanged.",
        body = CallImportResult), WriteErrors))]
pub(crate) async fn import(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<CallImportResult>> {
    let request: CallImport = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    if request.rows.len() > MAX_IMPORT_ROWS {
        return Err(Error::BadRequest(format!(
            "rows: {} rows is more than allowed; at most {MAX_IMPORT_ROWS} per import",
            request.rows.len()
        )));
    }
    let site = app.config.site.clone();
    let mut logs: BTreeMap<String, Vec<(u32, CallEvent)>> = BTreeMap::new();
    for row in request.rows {
        let event = CallEvent {
            id: row.id.0,
            site: site.clone(),
            outcome: row.outcome.0,
            wait_seconds: row.wait_seconds.0,
            at_ms: row.at_ms.0,
            focus_team: row.focus_team.map(|t| t.0),
            ticket_number: row.ticket_number.map(|n| n.0),
            talk_seconds: row.talk_seconds.0,
            wrap_seconds: row.wrap_seconds.0,
        };
        let log = format!("{site}.{}", iso_date(event.at_ms));
        logs.entry(log).or_default().push((row.line.0, event));
    }
    let app2 = app.clone();
    let result = blocking(move || {
        let app = app2;
        // Check every row against what is stored and against the other rows.
        let mut problems = Vec::new();
        let mut fresh: BTreeMap<String, Vec<CallEvent>> = BTreeMap::new();
        let mut unchanged = 0;
        for (log, rows) in &logs {
            let stored = app
                .replica
                .entity(&EntityKey::new(EntityKind::CallLog, log.as_str()))?;
            let mut seen: BTreeMap<&str, (u32, &CallEvent)> = BTreeMap::new();
            for (line, event) in rows {
                if let Some((first, earlier)) = seen.get(event.id.as_str()) {
                    if *earlier != event {
                        problems.push(format!(
                            "line {line}: id {} is used by line {first} with other content; an id \
                             names one call in its day",
                            event.id
                        ));
                    }
                    continue;
                }
                seen.insert(&event.id, (*line, event));
                match stored.call_events.get(&event.id) {
                    Some(old) if old.value == *event => unchanged += 1,
                    Some(_) => problems.push(format!(
                        "line {line}: id {} is stored in call log {log} with other content; \
                         allowed: the same content again (unchanged) or a new id",
                        event.id
                    )),
                    None => fresh.entry(log.clone()).or_default().push(event.clone()),
                }
            }
        }
        if !problems.is_empty() {
            problems.truncate(50);
            return Err(Error::Conflict(format!(
                "nothing was imported: {}",
                problems.join("; ")
            )));
        }
        let mut added = 0;
        let now = now_ms();
        for (log, events) in &fresh {
            let key = EntityKey::new(EntityKind::CallLog, log.as_str());
            for chunk in events.chunks(EVENTS_PER_CHANGE) {
                app.replica
                    .checked_change(&key, now, &app.events, |seq, hlc, _, _| {
                        Ok(Change {
                            key: key.clone(),
                            ops: chunk.iter().cloned().map(FieldOp::AddCallEvent).collect(),
                            origin_site: app.config.site.clone(),
                            origin_seq: seq,
                            hlc,
                        })
                    })?;
                added += chunk.len() as u64;
            }
        }
        if unchanged > 0 {
            // Rows counted as stored already are answered once they are durable (a write whose
            // flush is pending, or failed, is shown too).
            app.replica.flush_applied()?;
        }
        Ok(CallImportResult {
            added,
            unchanged,
            call_logs: fresh.into_keys().collect(),
        })
    })
    .await?;
    app.outbox.notify_one();
    Ok(Json(result))
}
