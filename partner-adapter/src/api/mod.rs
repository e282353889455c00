//! The local HTTP API for the partner's own tools (JSON, one bearer token per tool). Handlers
//! parse, map the partner's vocabulary, and delegate to the replica; every error, including
//! unknown paths, unsupported methods and unreadable requests, is JSON
//! `{"code": ..., "message": ...}` with a message that names the API's own field and says what
//! is allowed.
//!
//! Every route is declared once, in [`routes`]: the router serves exactly those routes and the
//! OpenAPI document ([`crate::openapi`]) is generated from the same declarations.
//!
//! Statuses: 400 `bad_request` for a request the document forbids (malformed JSON, a body that
//! is not an object, unknown or missing fields, wrong types, values outside their rules,
//! including a malformed ticket number in the path, query or body, and 400 `unmapped_value` for
//! a term the site's mapping lacks); 422 for a well-formed request a rule of the federation
//! refuses given what is stored (a status transition, a ticket past its size bounds).

mod articles;
mod brand;
mod calls;
pub(crate) mod fields;
mod files;
mod misc;
pub(crate) mod requests;
mod search;
mod suggestions;
mod tickets;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Notify;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::events::TicketEvents;
use crate::mapping::Mapping;
use crate::replica::{LocalWriter, Replica};
use crate::sync::SyncStatus;

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    /// The local store.
    pub replica: Arc<Replica>,
    /// The writer the API's local writes go through (`replica::writer`).
    pub writer: LocalWriter,
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
    /// The knowledge base's search index, kept in step with the replica.
    pub knowledge: Arc<crate::kb::KnowledgeIndex>,
    /// The adapter's metrics (requests are counted by route and status).
    pub metrics: Arc<crate::metrics::AdapterMetrics>,
    /// The files of the site's comments.
    pub files: Arc<crate::files::Files>,
    /// Held by each decision on a suggestion, from reading it to its last write: accepting
    /// is two writes (the article, then the suggestion), and a decision that loses must not
    /// have written the first.
    pub decisions: tokio::sync::Mutex<()>,
}

impl App {
    /// Refuses a local write while this site's clock runs further ahead of the gateway's than
    /// the gateway accepts (as of the last heartbeat, see `SyncStatus::note_clock`): the
    /// gateway would refuse the change as CLOCK_SKEW, after the site's tools had already seen
    /// it stored.
    pub(crate) fn check_clock(&self) -> Result<()> {
        match self.status.clock() {
            Some(reading) if reading.refuses() => Err(Error::ClockAhead(format!(
                "this site's clock is {} ms ahead of the gateway's; the gateway accepts at \
                     most {} ms, so nothing was stored: fix the site's clock (NTP), then write \
                     again",
                reading.ahead_ms, reading.max_skew_ms
            ))),
            _ => Ok(()),
        }
    }
}

/// Every error of the API.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// Stable error code: bad_request and unmapped_value (400), unauthorized (401), not_found
    /// (404), method_not_allowed (405), conflict (409), too_large (413), refused and invalid
    /// (422), storage and clock_skew (503); gateway (502) and internal (500) complete the
    /// adapter's set.
    #[schema(value_type = ErrorCode)]
    pub code: &'static str,
    /// What went wrong and what is allowed, for people; fields are named as in this API.
    pub message: String,
    /// With `refused`: the stable name of the federation rule that refused the change
    /// (`hotline_federation::authority::Rule`), e.g. `only_inhouse_reroutes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The stable error codes (see [`Error::status`]).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // Only its schema is used: the codes themselves come from Error::status.
enum ErrorCode {
    BadRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    Conflict,
    TooLarge,
    UnsupportedMediaType,
    Invalid,
    Refused,
    UnmappedValue,
    Storage,
    ClockSkew,
    Gateway,
    Internal,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let rule = match &self {
            Error::Refused(refusal) => Some(refusal.rule.name().to_owned()),
            _ => None,
        };
        let body = ErrorBody {
            code,
            message: self.for_api().to_string(),
            rule,
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Every route of the API with its description: the one list the router and the OpenAPI
/// document are both built from.
pub fn routes() -> (OpenApiRouter<Arc<App>>, OpenApiRouter<Arc<App>>) {
    let open = OpenApiRouter::with_openapi(crate::openapi::base()).routes(routes!(misc::openapi));
    let guarded = OpenApiRouter::new()
        .routes(routes!(tickets::create, tickets::find))
        .routes(routes!(tickets::read, tickets::update))
        .routes(routes!(tickets::comment))
        .routes(routes!(files::upload))
        .routes(routes!(files::attach))
        .routes(routes!(files::download))
        .routes(routes!(tickets::history))
        .routes(routes!(tickets::focus_teams))
        .routes(routes!(misc::call_event))
        .routes(routes!(calls::import))
        .routes(routes!(misc::status))
        .routes(routes!(misc::dead_letters))
        .routes(routes!(misc::replay))
        .routes(routes!(misc::webhook_dead_letters))
        .routes(routes!(search::search))
        .routes(routes!(brand::read, brand::publish))
        .routes(routes!(brand::greeting))
        .routes(routes!(brand::render))
        .routes(routes!(articles::create, articles::list))
        .routes(routes!(articles::read))
        .routes(routes!(articles::versions))
        .routes(routes!(articles::draft))
        .routes(routes!(articles::publish))
        .routes(routes!(articles::retire))
        .routes(routes!(articles::import))
        .routes(routes!(suggestions::propose, suggestions::list))
        .routes(routes!(suggestions::read))
        .routes(routes!(suggestions::accept))
        .routes(routes!(suggestions::reject));
    (open, guarded)
}

/// The API router.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.config.api.max_body_bytes;
    let (open, guarded) = routes();
    let guarded = guarded.route_layer(middleware::from_fn_with_state(app.clone(), authenticate));
    let (router, _) = open.merge(guarded).split_for_parts();
    router
        .fallback(|| async {
            Error::NotFound("no such endpoint; the API is described at /openapi.json".into())
        })
        .method_not_allowed_fallback(|request: Request| async move {
            Error::MethodNotAllowed(format!(
                "{} is not served at {}; the Allow header lists the methods that are, and the \
                 API is described at /openapi.json",
                request.method(),
                request.uri().path()
            ))
        })
        .layer(middleware::from_fn(catch_panics))
        .layer(middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .with_state(app)
}

/// Counts each request in `hotline_adapter_api_requests` by its declared route (never the
/// raw path, which would make one series per ticket), method and final status.
async fn count_requests(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    app.metrics
        .count_request(&route, &method, response.status().as_u16());
    response
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

/// Accepts a request only with `Authorization: Bearer <token of a configured tool>`; the
/// scheme's name is case-insensitive (RFC 9110, section 11.1).
async fn authenticate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim_start_matches(' '));
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

/// Answers a request whose handler panicked with 500 in the API's JSON form, and logs the
/// panic, instead of dropping the connection: the tool hears that the adapter failed (and
/// that nothing it was not told of was acknowledged), and the request is counted.
async fn catch_panics(request: Request, next: Next) -> Response {
    use futures_util::FutureExt;
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            tracing::error!(%method, %path, panic = %what, "a local API handler panicked");
            Error::Internal(format!(
                "the adapter failed while answering {method} {path} (a defect, logged); a write \
                 may or may not be stored: read it back before repeating it"
            ))
            .into_response()
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Gives every error answer the API's JSON form: one that axum produced itself (an extractor's
/// plain-text rejection, a 405, ...) is rewritten with its status's code and its text.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_owned(),
    };
    let error = match status {
        StatusCode::NOT_FOUND => Error::NotFound(message),
        StatusCode::METHOD_NOT_ALLOWED => Error::MethodNotAllowed(message),
        StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge(message),
        StatusCode::UNAUTHORIZED => Error::Unauthorized(message),
        s if s.is_client_error() => Error::BadRequest(message),
        _ => Error::Storage(message),
    };
    let (_, code) = error.status();
    let body = ErrorBody {
        code,
        message: error.to_string(),
        rule: None,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// What a JSON value is, for messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a JSON object body into `T`, with errors that name the field and say what was
/// wrong. Anything but an object (an array above all, which serde would read by field
/// position, past the unknown-field check) is refused.
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
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("invalid JSON body: {e}")))?;
    if !value.is_object() {
        return Err(Error::BadRequest(format!(
            "the request body is {}; send a JSON object {{\"field\": value, ...}}",
            json_kind(&value)
        )));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let problem = e.into_inner();
        Error::BadRequest(if path == "." {
            problem.to_string()
        } else {
            format!("{path}: {problem}")
        })
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use hotline_federation::authority::{Refusal, Rule};
    use utoipa::PartialSchema;

    use super::*;

    /// One error of every kind the adapter has (a new variant fails to compile here until it
    /// is added), with every status a refusal or a domain error can take.
    fn every_error() -> Vec<Error> {
        let text = || String::from("x");
        let mut errors = vec![
            Error::Config {
                field: text(),
                problem: text(),
            },
            Error::File {
                path: PathBuf::new(),
                problem: text(),
            },
            Error::BadRequest(text()),
            Error::Unmapped(text()),
            Error::Domain(hotline_federation::Error::invalid("f", "p")),
            Error::TooLarge(text()),
            Error::UnsupportedType(text()),
            Error::Unauthorized(text()),
            Error::NotFound(text()),
            Error::MethodNotAllowed(text()),
            Error::Conflict(text()),
            Error::Storage(text()),
            Error::Corrupt(text()),
            Error::CorruptStore {
                dir: PathBuf::new(),
                damage: Vec::new(),
            },
            Error::Gateway(text()),
            Error::ClockAhead(text()),
            Error::NoRandomness(text()),
            Error::Internal(text()),
        ];
        errors.push(Error::Domain(hotline_federation::Error::Character {
            field: text(),
            found: text(),
            at: 0,
            allowed: text(),
        }));
        for rule in Rule::ALL {
            errors.push(Error::Refused(Refusal::new(rule, text())));
        }
        for error in &errors {
            match error {
                Error::Config { .. }
                | Error::File { .. }
                | Error::BadRequest(_)
                | Error::Unmapped(_)
                | Error::Domain(_)
                | Error::TooLarge(_)
                | Error::UnsupportedType(_)
                | Error::Unauthorized(_)
                | Error::NotFound(_)
                | Error::MethodNotAllowed(_)
                | Error::Conflict(_)
                | Error::Refused(_)
                | Error::Storage(_)
                | Error::Corrupt(_)
                | Error::CorruptStore { .. }
                | Error::Gateway(_)
                | Error::ClockAhead(_)
                | Error::NoRandomness(_)
                | Error::Internal(_) => {}
            }
        }
        errors
    }

    /// A handler that panics is answered 500 in the API's JSON form, not with a dropped
    /// connection, and the server goes on answering.
    #[tokio::test]
    async fn a_panicking_handler_is_answered_500() {
        use tower_service::Service;
        async fn boom() -> &'static str {
            panic!("boom")
        }
        // Paths in a variable: tests/openapi.rs finds any route literal here outside routes!().
        let paths = ["/boom", "/fine"];
        let app = Router::new()
            .route(paths[0], axum::routing::get(boom))
            .route(paths[1], axum::routing::get(|| async { "fine" }))
            .layer(middleware::from_fn(catch_panics));
        let get = |path: &str| Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = app.clone().call(get("/boom")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "internal", "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("GET /boom"),
            "{body}"
        );
        let response = app.clone().call(get("/fine")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Every code the API can answer is in the document's `ErrorCode` enum, so a generated
    /// client knows each one.
    #[test]
    fn every_error_code_is_documented() {
        let schema = serde_json::to_value(ErrorCode::schema()).expect("schema");
        let documented = schema["enum"].as_array().expect("an enum").clone();
        for error in every_error() {
            let (_, code) = error.status();
            assert!(
                documented.contains(&Value::from(code)),
                "{code} ({error:?}) is not in {documented:?}"
            );
        }
    }
}
