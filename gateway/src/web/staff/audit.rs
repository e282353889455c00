//! `/staff/audit`: the audit browser with verify. It comes with the audit trail; until then
//! the page says so. Replace this file's body with the browser.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{html, layout, sign_in_first, signed_in};
use crate::state::GatewayState;

/// `GET /staff/audit`.
pub(super) async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    html(
        StatusCode::OK,
        layout::page(
            "Audit trail",
            "/staff/audit",
            &session,
            "<p class=\"none\">This gateway keeps no audit trail to browse yet.</p>",
        ),
    )
}
