//! The status page's routes. A handler reads the request (never failing on a malformed one),
//! looks the ticket up ([`super::lookup`]), and renders what the customer may see: the view
//! from `hotline_federation::customer`, with every text passed through the leak guard once
//! more before it leaves (a text that would leak is replaced by a neutral placeholder and
//! logged).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hotline_federation::EntityState;
use hotline_federation::brand::Brand;
use hotline_federation::customer::{CustomerView, customer_view};
use hotline_federation::model::{FieldValue, Language, TicketField};
use serde::{Deserialize, Serialize};

use super::PeerAddr;
use super::form::{accepted_language, field, fields, language_named};
use super::lookup::{Limits, Lookup, look_up};
use super::pages::{self, Frame, Notice, Reached};
use crate::guard::CustomerFace;
use crate::state::GatewayState;

/// What the handlers share.
pub(super) struct Web {
    pub(super) state: Arc<GatewayState>,
    limits: Limits,
}

impl Web {
    /// The least time a look-up takes to answer.
    fn floor(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.state.config.web.answer_floor_ms)
    }
}

/// The routes over `state`.
pub(super) fn router(state: Arc<GatewayState>) -> Router {
    let config = &state.config.web;
    // A reply percent-encodes to at most three bytes per byte, plus the other fields.
    let body_limit = config.max_reply_bytes * 3 + 4096;
    let web = Arc::new(Web {
        limits: Limits::new(config),
        state,
    });
    Router::new()
        .route("/", get(form_page))
        .route("/status", post(status_page))
        .route("/reply", post(super::writes::reply))
        .route("/rate", post(super::writes::rate))
        .route("/api/status", post(status_json))
        .route("/file", post(file_bytes))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(web)
}

/// Where the request comes from: the configured header's last entry behind a proxy, else the
/// peer address.
fn client(web: &Web, peer: PeerAddr, headers: &HeaderMap) -> String {
    let name = &web.state.config.web.client_address_header;
    if !name.is_empty() {
        if let Some(last) = headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
        {
            let last = last.trim();
            if !last.is_empty() {
                return last.chars().take(64).collect();
            }
        }
    }
    peer.0.ip().to_string()
}

/// The language the request asks for: `?lang=`, then `Accept-Language`.
pub(super) fn asked_language(uri: &Uri, headers: &HeaderMap) -> Option<Language> {
    let query = fields(uri.query().unwrap_or_default().as_bytes());
    language_named(&field(&query, "lang")).or_else(|| {
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(accepted_language)
    })
}

/// The ticket's language, German when it has none.
fn ticket_language(ticket: &EntityState) -> Language {
    match ticket.value("language") {
        Some(FieldValue::Ticket(TicketField::Language(language))) => *language,
        _ => Language::De,
    }
}

/// An HTML answer with the headers every page carries.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

fn secure(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// The brand with every field that would leak blanked (and logged).
fn safe_brand(face: &CustomerFace) -> Brand {
    let mut brand = Brand::clone(&face.brand);
    for (field, value) in [
        ("brand.display_name", &mut brand.display_name),
        ("brand.hotline_number", &mut brand.hotline_number),
        ("brand.signature", &mut brand.signature),
    ] {
        if let Err(leak) = face.guard.check(field, value) {
            tracing::warn!(field, term = %leak.term, "brand text would leak; left out of the status page");
            value.clear();
        }
    }
    brand
}

/// The customer's view with every message that would leak marked withheld (and logged).
fn guarded_view(
    face: &CustomerFace,
    brand: &Brand,
    ticket: &EntityState,
    language: Language,
) -> Option<(CustomerView, Vec<usize>)> {
    let view = customer_view(ticket, brand, language)?;
    let mut withheld = Vec::new();
    for (i, message) in view.messages.iter().enumerate() {
        let names = message.files.iter().map(|f| f.filename.as_str());
        if let Err(leak) = std::iter::once(message.body.as_str())
            .chain(names)
            .try_for_each(|text| face.guard.check("message.body", text))
        {
            tracing::warn!(ticket = %view.public_number, message = i, term = %leak.term, "stored public text would leak; withheld from the status page");
            withheld.push(i);
        }
    }
    for (field, text) in [
        ("public_number", &view.public_number),
        ("status_text", &view.status_text),
    ] {
        if let Err(leak) = face.guard.check(field, text) {
            tracing::warn!(ticket = %view.public_number, field, term = %leak.term, "status page text would leak; page not shown");
            return None;
        }
    }
    Some((view, withheld))
}

/// `GET /`: the look-up form.
async fn form_page(State(web): State<Arc<Web>>, uri: Uri, headers: HeaderMap) -> Response {
    let face = web.state.shared.face();
    let brand = safe_brand(&face);
    let language = asked_language(&uri, &headers).unwrap_or(Language::De);
    html(
        StatusCode::OK,
        pages::form_page(
            Frame {
                brand: &brand,
                language,
            },
            None,
        ),
    )
}

/// The form page with a notice, for answers that must not depend on the ticket.
fn refusal_page(web: &Web, language: Language, notice: Notice) -> Response {
    let face = web.state.shared.face();
    let brand = safe_brand(&face);
    let status = match notice {
        Notice::Limited => StatusCode::TOO_MANY_REQUESTS,
        Notice::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::NOT_FOUND,
    };
    html(
        status,
        pages::form_page(
            Frame {
                brand: &brand,
                language,
            },
            Some(notice),
        ),
    )
}

/// The status page of a found ticket.
pub(super) fn ticket_page(
    web: &Web,
    ticket: &EntityState,
    asked: Option<Language>,
    number: &str,
    code: &str,
    notice: Option<Notice>,
) -> Response {
    let face = web.state.shared.face();
    let brand = safe_brand(&face);
    let language = asked.unwrap_or_else(|| ticket_language(ticket));
    let Some((view, withheld)) = guarded_view(&face, &brand, ticket, language) else {
        return refusal_page(web, language, Notice::Unavailable);
    };
    let reached = Reached {
        number,
        code,
        max_reply_bytes: web.state.config.web.max_reply_bytes,
        withheld: &withheld,
        rating: super::rating::offer(ticket),
    };
    html(
        StatusCode::OK,
        pages::status_page(
            Frame {
                brand: &brand,
                language,
            },
            &view,
            reached,
            notice,
        ),
    )
}

/// `POST /status`: the ticket's status and public history.
async fn status_page(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let (number, code) = (field(&form, "number"), field(&form, "code"));
    let asked = asked_language(&uri, &headers);
    match found(&web, peer, &headers, asked, &number, &code).await {
        Ok(ticket) => ticket_page(&web, &ticket, asked, &number, &code, None),
        Err(refused) => refused,
    }
}

/// Looks the ticket of a form up for `client`: the ticket, or the page that answers a wrong
/// code, a missing ticket, a rate limit or an unreadable store (all independent of the ticket).
pub(super) async fn found(
    web: &Web,
    peer: PeerAddr,
    headers: &HeaderMap,
    asked: Option<Language>,
    number: &str,
    code: &str,
) -> Result<Box<EntityState>, Response> {
    let client = client(web, peer, headers);
    let language = asked.unwrap_or(Language::De);
    match look_up(&web.state, &web.limits, &client, number, code, web.floor()).await {
        Lookup::Found(ticket) => Ok(ticket),
        Lookup::NotFound => Err(refusal_page(web, language, Notice::NotFound)),
        Lookup::Limited => Err(refusal_page(web, language, Notice::Limited)),
        Lookup::Unavailable => Err(refusal_page(web, language, Notice::Unavailable)),
    }
}

/// The ticket as stored after a customer's write (their reply or rating shows at once), or
/// `ticket` as looked up when it cannot be read again.
pub(super) async fn reread(web: &Web, ticket: Box<EntityState>) -> EntityState {
    let key = ticket.key.clone();
    let state = web.state.clone();
    match tokio::task::spawn_blocking(move || state.entity(&key)).await {
        Ok(Ok(fresh)) if !fresh.is_empty() && fresh.deleted.is_none() => fresh,
        _ => *ticket,
    }
}

/// `POST /file` (form fields `number`, `code`, `sha256`): the bytes of a file a public
/// message of the ticket carries (not of a withheld one); the form page for anything else.
async fn file_bytes(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = fields(&body);
    let (number, code, sha256) = (
        field(&form, "number"),
        field(&form, "code"),
        field(&form, "sha256"),
    );
    let asked = asked_language(&uri, &headers);
    let ticket = match found(&web, peer, &headers, asked, &number, &code).await {
        Ok(ticket) => ticket,
        Err(refused) => return refused,
    };
    let face = web.state.shared.face();
    let brand = safe_brand(&face);
    let language = asked.unwrap_or_else(|| ticket_language(&ticket));
    let file = guarded_view(&face, &brand, &ticket, language).and_then(|(view, withheld)| {
        view.messages
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !withheld.contains(i))
            .flat_map(|(_, m)| m.files)
            .find(|f| f.sha256 == sha256)
    });
    let Some(file) = file else {
        return refusal_page(&web, language, Notice::NotFound);
    };
    let Some(digest) = hotline_federation::attachment::digest_of(&file.sha256) else {
        return refusal_page(&web, language, Notice::NotFound);
    };
    // Headers go only for a file the store holds (one deleted meanwhile answers as missing).
    let state = web.state.clone();
    let held =
        tokio::task::spawn_blocking(move || crate::files::meta(state.store.as_ref(), &digest))
            .await;
    if !matches!(held, Ok(Ok(Some(_)))) {
        return refusal_page(&web, language, Notice::NotFound);
    }
    let stream = crate::files::pieces(web.state.clone(), digest, 0, file.size);
    let body = axum::body::Body::from_stream(futures_util::StreamExt::map(stream, |piece| {
        piece.map(|(_, data)| data).map_err(std::io::Error::other)
    }));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    secure(headers);
    if let Ok(value) = HeaderValue::from_str(&file.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.size));
    // The name goes percent-encoded: it is the writer's text.
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename*=UTF-8''{}",
        hotline_federation::attachment::header_name(&file.filename)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The JSON request of `POST /api/status`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StatusRequest {
    number: String,
    code: String,
}

/// The JSON answer of `POST /api/status`: what the status page shows.
#[derive(Debug, Serialize)]
struct StatusAnswer {
    public_number: String,
    status: String,
    status_text: String,
    opened_at_ms: u64,
    resolved_at_ms: Option<u64>,
    language: String,
    messages: Vec<MessageAnswer>,
}

/// One message of [`StatusAnswer`].
#[derive(Debug, Serialize)]
struct MessageAnswer {
    from_customer: bool,
    signed: String,
    body: String,
    at_ms: u64,
    /// The files (`POST /file` with `sha256` answers the bytes); none for a withheld message.
    files: Vec<FileAnswer>,
}

/// One file of a [`MessageAnswer`].
#[derive(Debug, Serialize)]
struct FileAnswer {
    sha256: String,
    filename: String,
    content_type: String,
    size: u64,
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    let mut response = (status, text).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    secure(headers);
    response
}

fn json_error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// `POST /api/status`: `{number, code}` to the view as JSON.
async fn status_json(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<PeerAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<StatusRequest>(&body) else {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the body must be JSON {\"number\": \"ASZ-2026-004711\", \"code\": \"7KQ2M-XH4PD\"}",
        );
    };
    let asked = asked_language(&uri, &headers);
    let client = client(&web, peer, &headers);
    let ticket = match look_up(
        &web.state,
        &web.limits,
        &client,
        &request.number,
        &request.code,
        web.floor(),
    )
    .await
    {
        Lookup::Found(ticket) => ticket,
        Lookup::NotFound => {
            return json_error(
                StatusCode::NOT_FOUND,
                "no ticket with this number and access code",
            );
        }
        Lookup::Limited => {
            return json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts; wait a few minutes",
            );
        }
        Lookup::Unavailable => {
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "try again later");
        }
    };
    let face = web.state.shared.face();
    let brand = safe_brand(&face);
    let language = asked.unwrap_or_else(|| ticket_language(&ticket));
    let Some((view, withheld)) = guarded_view(&face, &brand, &ticket, language) else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "try again later");
    };
    let placeholder = match language {
        Language::De => "(Diese Nachricht kann hier nicht angezeigt werden.)",
        Language::En => "(This message cannot be shown here.)",
    };
    let answer = StatusAnswer {
        public_number: view.public_number,
        status: view.status.as_str().to_owned(),
        status_text: view.status_text,
        opened_at_ms: view.opened_at_ms,
        resolved_at_ms: view.resolved_at_ms,
        language: view.language.as_str().to_owned(),
        messages: view
            .messages
            .into_iter()
            .enumerate()
            .map(|(i, m)| MessageAnswer {
                from_customer: m.from_customer,
                signed: m.signed,
                body: if withheld.contains(&i) {
                    placeholder.to_owned()
                } else {
                    m.body
                },
                at_ms: m.at_ms,
                files: if withheld.contains(&i) {
                    Vec::new()
                } else {
                    m.files
                        .into_iter()
                        .map(|f| FileAnswer {
                            sha256: f.sha256,
                            filename: f.filename,
                            content_type: f.content_type,
                            size: f.size,
                        })
                        .collect()
                },
            })
            .collect(),
    };
    json(StatusCode::OK, &answer)
}
