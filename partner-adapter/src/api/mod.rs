//! The local HTTP API for the partner's own tools (JSON, one bearer token per tool). Handlers
//! parse, map the partner's vocabulary, and delegate to the replica; every error is JSON
//! `{"code": ..., "message": ...}` with a message that says what is allowed.

mod misc;
mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::Notify;

use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::mapping::Mapping;
use crate::replica::Replica;
use crate::sync::SyncStatus;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The local store.
    pub replica: Arc<Replica>,
    /// The config.
    pub config: Arc<AdapterConfig>,
    /// The site's vocabulary.
    pub mapping: Mapping,
    /// Webhook events.
    pub events: Arc<TicketEvents>,
    /// Link state.
    pub status: Arc<SyncStatus>,
    /// Woken when the outbox gets an entry.
    pub outbox: Arc<Notify>,
}

impl App {
    /// Refuses a local write while this site's clock runs further ahead of the gateway's than
    /// the gateway accepts (as of the last heartbeat): the gateway would refuse the change as
    /// CLOCK_SKEW, after the site's tools had already seen it stored.
    pub(crate) fn check_clock(&self) -> Result<()> {
        match self.status.clock() {
            Some(reading) if reading.ahead_ms > reading.max_skew_ms as i64 => {
                Err(Error::ClockAhead(format!(
                    "this site's clock is {} ms ahead of the gateway's; the gateway accepts at \
                     most {} ms, so nothing was stored: fix the site's clock (NTP), then write \
                     again",
                    reading.ahead_ms, reading.max_skew_ms
                )))
            }
            _ => Ok(()),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({ "code": code, "message": self.to_string() });
        if let Error::Refused(refusal) = &self {
            body["rule"] = json!(refusal.rule.name());
        }
        (status, axum::Json(body)).into_response()
    }
}

/// The API router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.api.max_body_bytes;
    let api = Router::new()
        .route("/v1/tickets", post(tickets::create).get(tickets::find))
        .route(
            "/v1/tickets/{number}",
            get(tickets::read).patch(tickets::update),
        )
        .route("/v1/tickets/{number}/comments", post(tickets::comment))
        .route("/v1/tickets/{number}/history", get(tickets::history))
        .route("/v1/focus-teams", get(tickets::focus_teams))
        .route("/v1/call-events", post(misc::call_event))
        .route("/v1/sync/status", get(misc::status))
        .route("/v1/dead-letters", get(misc::dead_letters))
        .route("/v1/dead-letters/{origin_seq}/replay", post(misc::replay))
        .route("/v1/webhooks/dead-letters", get(misc::webhook_dead_letters))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    Router::new()
        .route("/openapi.json", get(misc::openapi))
        .merge(api)
        .fallback(|| async {
            Error::NotFound("no such endpoint; the API is described at /openapi.json".into())
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

/// Serves the API on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Accepts a request only with `Authorization: Bearer <token of a configured tool>`.
async fn authenticate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(presented) = presented else {
        return Error::Unauthorized("send Authorization: Bearer <your tool's token>".into())
            .into_response();
    };
    let known = app
        .config
        .tools
        .iter()
        .any(|tool| same(tool.token.as_bytes(), presented.as_bytes()));
    if !known {
        return Error::Unauthorized("the bearer token belongs to no configured tool".into())
            .into_response();
    }
    next.run(request).await
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses a JSON body into `T`, with errors that say what was wrong.
pub(crate) fn parse<T: DeserializeOwned>(
    body: std::result::Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => {
            Error::TooLarge(format!("the request body is larger than {limit} bytes"))
        }
        other => Error::BadRequest(format!("cannot read the request body: {other}")),
    })?;
    if std::str::from_utf8(&body).is_err() {
        return Err(Error::BadRequest(
            "the request body is not valid UTF-8; send JSON in UTF-8".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))
}
