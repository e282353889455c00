//! The staff dashboard under `/staff/` on the web listener (issue 15, item 6): in-house staff
//! sign in with a one-time link minted over the mTLS Admin API (`MintDashboardLink`), then read
//! service figures and sync health. Server-rendered HTML with one stylesheet and inline SVG
//! charts; no JavaScript at all.
//!
//! Rules every route keeps: a session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/staff`,
//! `Secure` over TLS) names a session kept only as a hash in [`StaffSessions`]; every answer
//! carries `Cache-Control: no-store` and a strict Content-Security-Policy; every text is
//! escaped; every POST under `/staff/` must come from the dashboard's own pages ([`origin`])
//! and, except signing out, needs the admin role (auditors read only and get 403), both
//! checked once in [`post_guard`] so a page added later cannot forget them.
//!
//! Staff actions are recorded in the audit trail as `staff:<role>:<name>` (never a token or
//! session id): signing in and out here, scoring in [`reviews`], reading and verifying the
//! trail in [`audit`] (minting a link is recorded by the Admin API).
//!
//! Layout, one file per page: [`overview`] (`/staff/`), [`sites`] (`/staff/sites`),
//! [`reviews`] (`/staff/reviews`, each report and its scoring forms in [`scoring`]) and
//! [`audit`] (`/staff/audit`, the audit browser and verify) are the pages; [`layout`] frames a
//! page and [`chart`] draws SVG bar charts; [`sessions`] keeps links and sessions. A new page
//! adds a file, a route in [`router`] and an entry in [`layout::NAV`].

pub mod audit;
pub mod chart;
pub mod layout;
pub mod origin;
pub mod overview;
pub mod reviews;
pub mod scoring;
pub mod sessions;
pub mod sites;

use std::sync::Arc;

use super::form::{field, fields};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

pub use overview::OverviewRow;
pub use sessions::{MintedLink, Session, StaffSessions};

use crate::error::Error;
use crate::identity::StaffRole;
use crate::state::GatewayState;

/// The session cookie's name.
pub const COOKIE: &str = "hotline_staff";

/// The Content-Security-Policy of every staff page: nothing but the page's own stylesheet and
/// forms posting back to it; no script from anywhere, no inline style, no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Most bytes a staff form body may carry (a score with its note is far smaller).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The staff routes over `state`.
pub(crate) fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/staff/signin", get(sign_in))
        .route("/staff/signout", post(sign_out))
        .route("/staff/style.css", get(stylesheet))
        .route("/staff/", get(overview::page))
        .route("/staff", get(|| async { see_other("/staff/") }))
        .route("/staff/sites", get(sites::page))
        .route("/staff/reviews", get(reviews::page))
        .route("/staff/reviews/{id}", get(reviews::report))
        .route("/staff/reviews/{id}/score", post(reviews::score))
        .route("/staff/audit", get(audit::page))
        .route("/staff/audit/verify", get(audit::verify))
        .route("/staff/{*rest}", any(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), post_guard))
        .with_state(state)
}

/// Adds the headers every staff answer carries.
fn secure(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
        // Not `no-referrer`: under it a browser sends `Origin: null` with the dashboard's
        // own form posts, and the cross-site check could not tell them from a forged one.
        // `same-origin` still gives other sites no referrer.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// An HTML answer with the staff headers.
pub fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    response
}

/// A `303 See Other` to `to` (a path of ours), with the staff headers.
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    secure(headers);
    response
}

/// The one mapping of a gateway error to HTTP for staff pages: its status and what the page
/// may say (the message for a refusal the staff member can act on; for a fault of the
/// gateway, only that it failed, the details going to the log).
pub fn failure(error: &Error) -> (StatusCode, String) {
    let shown = || error.to_string();
    let hidden = |what: &str| {
        tracing::error!(%error, "staff page failed");
        format!("{what}; the gateway log has the details")
    };
    match error {
        Error::InvalidArgument(_) | Error::Domain(_) => (StatusCode::BAD_REQUEST, shown()),
        Error::PermissionDenied(_) => (StatusCode::FORBIDDEN, shown()),
        Error::Identity(_) => (StatusCode::UNAUTHORIZED, shown()),
        Error::FailedPrecondition(_) => (StatusCode::CONFLICT, shown()),
        Error::ResourceExhausted(_) => (StatusCode::TOO_MANY_REQUESTS, shown()),
        Error::Storage(_) | Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            hidden("The store is not available right now; try again"),
        ),
        Error::Config { .. } | Error::File { .. } | Error::Tls(_) | Error::Corrupt(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            hidden("The gateway failed to answer"),
        ),
    }
}

/// A page without navigation saying `error` (mapped by [`failure`]).
pub fn failure_page(error: &Error) -> Response {
    let (status, message) = failure(error);
    html(
        status,
        layout::bare(
            "Not done",
            &format!(
                "<p class=\"bad\" role=\"alert\">{}</p><p><a href=\"/staff/\">To the dashboard</a></p>",
                layout::escape(&message)
            ),
        ),
    )
}

/// Records a staff action of `session` in the audit trail: `action` on `subject`, with
/// `detail` (never a token or session id).
pub async fn record(
    state: &GatewayState,
    session: &Session,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> crate::error::Result<()> {
    crate::audit::record(state, session.actor(), action, subject, detail).await?;
    Ok(())
}

/// The session id the request's cookie names, if any.
fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// The signed-in staff member of a request, if its cookie names a live session.
pub fn signed_in(state: &GatewayState, headers: &HeaderMap) -> Option<Session> {
    cookie_id(headers).and_then(|id| state.staff_sessions.session(&id, state.now_ms()))
}

/// The answer to a request without a live session: 401 with a page that says how to sign in.
pub fn sign_in_first() -> Response {
    html(
        StatusCode::UNAUTHORIZED,
        layout::bare(
            "Sign in",
            "<p>You are not signed in, or your session has ended.</p>\
             <p>Ask an admin for a sign-in link: <code>hotline admin dashboard-link --as \
             &lt;your name&gt;</code>.</p>",
        ),
    )
}

/// Refuses every POST under `/staff/` that is not signing out, unless an admin's session
/// makes it: 401 without a session, 403 for an auditor (read-only).
async fn post_guard(
    State(state): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    if let Err(why) = origin::check(
        request.headers(),
        request.uri().authority().map(|a| a.as_str()),
        &state.config.web.public_url,
    ) {
        tracing::warn!(path = %request.uri().path(), %why, "cross-site POST refused");
        return html(
            StatusCode::FORBIDDEN,
            layout::bare(
                "Refused",
                &format!(
                    "<p class=\"bad\" role=\"alert\">{}</p><p><a href=\"/staff/\">To the dashboard</a></p>",
                    layout::escape(&why)
                ),
            ),
        );
    }
    if request.uri().path() == "/staff/signout" {
        return next.run(request).await;
    }
    let Some(session) = signed_in(&state, request.headers()) else {
        return sign_in_first();
    };
    match session.role {
        StaffRole::Admin => next.run(request).await,
        StaffRole::Auditor => {
            tracing::info!(staff = %session.staff, path = %request.uri().path(), "auditor's POST refused");
            html(
                StatusCode::FORBIDDEN,
                layout::bare(
                    "Read-only",
                    "<p>Your session has the auditor role, which reads only. This action needs \
                     an admin's sign-in link.</p><p><a href=\"/staff/\">Back to the dashboard</a></p>",
                ),
            )
        }
    }
}

/// `GET /staff/signin?token=`: a valid unused link opens a session and goes to the
/// dashboard; any other token (used, expired, unknown, malformed) gets one and the same page.
async fn sign_in(State(state): State<Arc<GatewayState>>, uri: Uri) -> Response {
    let query = fields(uri.query().unwrap_or_default().as_bytes());
    let token = field(&query, "token");
    let opened = if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        state.staff_sessions.redeem(&token, state.now_ms())
    } else {
        Ok(None)
    };
    match opened {
        Ok(Some((id, session))) => {
            let detail = serde_json::json!({ "role": session.role.as_str() });
            let subject = format!("staff/{}", session.staff);
            if let Err(error) =
                record(&state, &session, "dashboard.sign_in", &subject, detail).await
            {
                // No session the trail does not know of.
                state.staff_sessions.end(&id);
                return failure_page(&error);
            }
            tracing::info!(staff = %session.staff, role = %session.role, "dashboard session opened");
            let mut response = see_other("/staff/");
            let web = &state.config.web;
            let secure = web.tls_cert.is_some() || web.public_url.starts_with("https://");
            let cookie = format!(
                "{COOKIE}={id}; Path=/staff; HttpOnly; SameSite=Strict; Max-Age={}{}",
                state.config.dashboard.session_max_secs,
                if secure { "; Secure" } else { "" }
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Ok(None) => html(
            StatusCode::FORBIDDEN,
            layout::bare(
                "Link not valid",
                "<p>This sign-in link was used, expired or unknown; ask for a new one.</p>",
            ),
        ),
        Err(error) => {
            tracing::error!(%error, "dashboard sign-in failed");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                layout::bare(
                    "Try again",
                    "<p>Sign-in is not possible right now; try again.</p>",
                ),
            )
        }
    }
}

/// `POST /staff/signout`: ends the session and clears the cookie.
async fn sign_out(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_id(&headers) {
        if let Some(session) = state.staff_sessions.session(&id, state.now_ms()) {
            let subject = format!("staff/{}", session.staff);
            let detail = serde_json::json!({ "role": session.role.as_str() });
            // Signing out always ends the session; a failed record is logged, not shown.
            if let Err(error) =
                record(&state, &session, "dashboard.sign_out", &subject, detail).await
            {
                tracing::error!(%error, staff = %session.staff, "sign-out not recorded in the audit trail");
            }
        }
        state.staff_sessions.end(&id);
    }
    let mut response = html(
        StatusCode::OK,
        layout::bare("Signed out", "<p>You are signed out.</p>"),
    );
    let clear = format!("{COOKIE}=; Path=/staff; HttpOnly; SameSite=Strict; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /staff/style.css`: the one stylesheet.
async fn stylesheet() -> Response {
    let mut response = layout::STYLE.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    secure(headers);
    response
}

/// Any other path under `/staff/`.
async fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        layout::bare(
            "Not found",
            "<p>No such page. <a href=\"/staff/\">To the dashboard</a></p>",
        ),
    )
}
