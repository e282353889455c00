//! The OpenAPI document describes every route the router serves, and holds together.

use std::collections::{BTreeMap, BTreeSet};

use hotline_adapter::openapi::document;
use serde_json::Value;

/// The router's source; its `.route(` calls are the truth the document must match.
const ROUTER: &str = include_str!("../src/api/mod.rs");

const METHODS: [&str; 8] = [
    "get", "post", "put", "patch", "delete", "head", "options", "trace",
];

/// Path -> methods of every `.route("path", method(handler).method(handler)...)` in `source`.
fn served_routes(source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut routes = BTreeMap::new();
    for (start, _) in source.match_indices(".route(") {
        let call = balanced_call(&source[start + ".route".len()..]);
        let mut parts = call.splitn(3, '"');
        let (Some(_), Some(path), Some(after_path)) = (parts.next(), parts.next(), parts.next())
        else {
            panic!("no path in .route{call}");
        };
        let methods: &mut BTreeSet<String> = routes.entry(path.to_owned()).or_default();
        methods.extend(method_calls(after_path));
    }
    routes
}

/// The parenthesised argument list at the start of `text`, parentheses included.
fn balanced_call(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => return &text[..=i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced parentheses in .route{text}");
}

/// The HTTP methods called as `get(`, `.post(`, ... in `text` (not `tickets::get(`).
fn method_calls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for method in METHODS {
        for (i, _) in text.match_indices(&format!("{method}(")) {
            let before = text[..i].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                found.push(method.to_owned());
            }
        }
    }
    found
}

/// Every `$ref` string anywhere in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target);
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The document is OpenAPI 3.1 and documents exactly the routes and methods the router serves.
#[test]
fn every_served_route_is_documented() {
    let doc = document();
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1"), "openapi is {version}");

    let served = served_routes(ROUTER);
    assert!(
        served.len() >= 10,
        "parsed too few routes from api/mod.rs: {served:?}"
    );
    assert!(
        served.values().all(|m| !m.is_empty()),
        "a route without methods: {served:?}"
    );

    let paths = doc["paths"].as_object().expect("paths is an object");
    let documented: BTreeMap<String, BTreeSet<String>> = paths
        .iter()
        .map(|(path, item)| {
            let methods = item.as_object().expect("path item is an object").keys();
            let methods = methods
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect();
    assert_eq!(
        documented, served,
        "documented (left) vs served (right) routes and methods"
    );
}

/// Every `$ref` in the document names an entry of `components.schemas`.
#[test]
fn every_ref_resolves() {
    let doc = document();
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("components.schemas");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 10, "suspiciously few $refs: {found:?}");
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} does not point into components.schemas"));
        assert!(schemas.contains_key(name), "{target} resolves to nothing");
    }
}

/// Operations have unique ids, summaries and typed errors, and only `/openapi.json` is open.
#[test]
fn operations_are_complete() {
    let doc = document();
    assert_eq!(doc["security"], serde_json::json!([{ "bearer": [] }]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} used twice");
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
            let open = op.get("security") == Some(&serde_json::json!([]));
            assert_eq!(open, path == "/openapi.json", "{method} {path}: security");
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
            if path != "/openapi.json" {
                assert!(
                    op["responses"].get("401").is_some(),
                    "{method} {path}: no 401"
                );
            }
        }
    }
    let webhooks = doc["webhooks"].as_object().expect("webhooks");
    assert!(webhooks.contains_key("ticket.changed") && webhooks.contains_key("ticket.revoked"));
}
