//! The OpenAPI 3.1 description of the local API, served at `/openapi.json`.

use serde_json::{Value, json};

/// The OpenAPI document.
pub fn document() -> Value {
    json!({ "openapi": "3.1.0", "info": { "title": "Virtual Hotline partner adapter", "version": env!("CARGO_PKG_VERSION") }, "paths": {} })
}
