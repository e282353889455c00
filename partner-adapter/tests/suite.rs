//! The adapter's own tests against its local API, store and config, one module a file beside
//! this one, built as one test executable (`tests/tests/end_to_end.rs` at the workspace root says
//! why: each executable links the whole adapter).

mod common;
mod local_api;

#[path = "api_errors.rs"]
mod api_errors;
#[path = "brand_and_search.rs"]
mod brand_and_search;
#[path = "config.rs"]
mod config;
#[path = "kb_quality.rs"]
mod kb_quality;
#[path = "knowledge_api.rs"]
mod knowledge_api;
#[path = "openapi.rs"]
mod openapi;
#[path = "refused_changes.rs"]
mod refused_changes;
#[path = "store_layout.rs"]
mod store_layout;
#[path = "store_recovery.rs"]
mod store_recovery;
#[path = "suggestion_decisions.rs"]
mod suggestion_decisions;
#[path = "webhooks.rs"]
mod webhooks;
