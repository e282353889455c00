//! `/staff/reviews`: the review reports per focus team. The reports themselves come with the
//! review cadence work; until then the page says so. Replace this file's body with the list.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{html, layout, sign_in_first, signed_in};
use crate::state::GatewayState;

/// `GET /staff/reviews`.
pub(super) async fn page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    let Some(session) = signed_in(&state, &headers) else {
        return sign_in_first();
    };
    html(
        StatusCode::OK,
        layout::page(
            "Review reports",
            "/staff/reviews",
            &session,
            "<p class=\"none\">No review reports are kept by this gateway yet.</p>",
        ),
    )
}
