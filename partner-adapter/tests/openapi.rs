//! The served OpenAPI document and the router agree: every documented operation is served,
//! every path serves exactly the documented methods (its `Allow` header, which the router
//! builds from its own routes, equals the document's methods), the router declares no route
//! outside the one list the document is generated from, and the document holds together.

use crate::local_api;

use std::collections::BTreeSet;

use hotline_adapter::mapping::MappingConfig;
use local_api::LocalApi;
use serde_json::{Value, json};

/// The router's source: its routes must all come from `routes!`, which also documents them.
const ROUTER: &str = include_str!("../src/api/mod.rs");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// The document as the site serves it.
async fn served(api: &LocalApi) -> Value {
    let answer = api.send("GET", "/openapi.json", None, b"").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    answer.json
}

/// `path` with its parameters filled with valid values.
fn concrete(path: &str) -> String {
    path.replace("{number}", "ASZ-2026-004711")
        .replace("{origin_seq}", "1")
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

/// Every documented path and method is served: the answer is never the router's own 404 for
/// an unknown path or a 405.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let api = LocalApi::new(MappingConfig::default());
    let doc = served(&api).await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 11, "too few paths: {:?}", paths.keys());
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let upper = method.to_uppercase();
            let answer = api.call(&upper, &concrete(path), b"{}").await;
            let message = answer.json["message"].as_str().unwrap_or_default();
            assert!(
                answer.status != 405 && !message.contains("no such endpoint"),
                "{upper} {path} is documented but not served: {} {}",
                answer.status,
                answer.json
            );
        }
    }
}

/// On every documented path, the router serves exactly the documented methods: its `Allow`
/// header (built from its routes) lists them, and any other method answers a JSON 405.
#[tokio::test]
async fn every_path_serves_exactly_its_documented_methods() {
    let api = LocalApi::new(MappingConfig::default());
    let doc = served(&api).await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let documented: BTreeSet<String> = item
            .as_object()
            .expect("path item")
            .keys()
            .filter(|m| METHODS.contains(&m.as_str()))
            .map(|m| m.to_uppercase())
            .collect();
        for method in METHODS.map(str::to_uppercase) {
            if documented.contains(&method) {
                continue;
            }
            let answer = api.call(&method, &concrete(path), b"").await;
            assert_eq!(answer.status, 405, "{method} {path}: {}", answer.json);
            assert_eq!(answer.json["code"], "method_not_allowed", "{method} {path}");
            let allow: BTreeSet<String> = answer.headers["allow"]
                .to_str()
                .expect("ascii")
                .split(',')
                .map(|m| m.trim().to_owned())
                .filter(|m| m != "HEAD")
                .collect();
            assert_eq!(
                allow, documented,
                "{path}: served (left) vs documented (right)"
            );
        }
    }
}

/// The router declares every route through `routes!` (which documents it), never with a
/// plain `.route(`, so no path can be served without being in the document.
#[test]
fn the_router_has_no_undocumented_route() {
    assert!(
        !ROUTER.contains(".route(\""),
        "api/mod.rs declares a route outside routes!()"
    );
    assert!(ROUTER.matches("routes!(").count() >= 11);
}

/// The document is OpenAPI 3.1, every `$ref` resolves, every operation has an id, a summary,
/// a 401 where a token is needed and the `Error` schema on every error status.
#[tokio::test]
async fn the_document_holds_together() {
    let api = LocalApi::new(MappingConfig::default());
    let doc = served(&api).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1"))
    );
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(found.len() > 20, "suspiciously few $refs: {found:?}");
    for target in found {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{target} does not point into components.schemas"));
        assert!(schemas.contains_key(name), "{target} resolves to nothing");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_owned()), "operationId {id} used twice");
            assert!(op["summary"].is_string(), "{method} {path}: no summary");
            let open = path == "/openapi.json";
            assert_eq!(open, op.get("security") == Some(&json!([{}])), "{path}");
            assert_eq!(!open, op["responses"].get("401").is_some(), "{path}: 401");
            for (status, response) in op["responses"].as_object().expect("responses") {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    let webhooks = doc["webhooks"].as_object().expect("webhooks");
    assert!(webhooks.contains_key("ticket.changed") && webhooks.contains_key("ticket.revoked"));
}

/// Request bodies refuse unknown fields and carry the server's limits: lengths, patterns,
/// integer ranges, enums of our own vocabulary.
#[tokio::test]
async fn request_schemas_carry_the_servers_limits() {
    let api = LocalApi::new(MappingConfig::default());
    let doc = served(&api).await;
    let schemas = &doc["components"]["schemas"];
    for body in ["NewTicket", "TicketUpdate", "NewComment", "NewCallEvent"] {
        assert_eq!(schemas[body]["additionalProperties"], false, "{body}");
    }
    let required = &schemas["RequiredLine"]["allOf"];
    assert_eq!(required[0]["minLength"], 1);
    let widths: Vec<&Value> = (0..4)
        .map(|i| &required[1]["anyOf"][i]["maxLength"])
        .collect();
    assert_eq!(widths, [&json!(512), &json!(256), &json!(170), &json!(128)]);
    assert_eq!(
        schemas["CommentBody"]["allOf"][1]["anyOf"][0]["maxLength"],
        16384
    );
    let one_line = schemas["OneLine"]["allOf"][0]["pattern"].as_str().unwrap();
    assert!(one_line.contains("\\u0000-\\u001F"), "{one_line}");
    assert!(
        schemas["TicketNumber"]["pattern"]
            .as_str()
            .unwrap()
            .starts_with("^[A-Z]{2,5}-2")
    );
    assert_eq!(schemas["Slug"]["pattern"], "^[a-z][a-z0-9-]{0,63}$");
    assert_eq!(schemas["WaitSeconds"]["type"], "integer");
    assert_eq!(schemas["WaitSeconds"]["maximum"], u32::MAX);
    assert_eq!(schemas["LanguageName"]["enum"], json!(["de", "en"]));
    let search = &doc["paths"]["/v1/tickets"]["get"]["parameters"][0]["schema"]["oneOf"];
    assert_eq!(search.as_array().map(Vec::len), Some(2), "{search}");
}

/// The site's own vocabulary is in the served document as enums: a German status table gives
/// a German status enum, the statuses a ticket may start in, and the transitions in its terms.
#[tokio::test]
async fn the_sites_vocabulary_is_served_as_enums() {
    let pairs = [
        ("Neu", "new"),
        ("In Arbeit", "in_progress"),
        ("Wartet", "waiting_on_customer"),
        ("Eskaliert", "escalated"),
        ("Geloest", "resolved"),
        ("Geschlossen", "closed"),
    ];
    let mapping = MappingConfig {
        status: pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        category: [("Netz", "network"), ("Drucker", "printer")]
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        ..MappingConfig::default()
    };
    let api = LocalApi::new(mapping);
    let doc = served(&api).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["Status"]["enum"],
        json!([
            "Neu",
            "In Arbeit",
            "Wartet",
            "Eskaliert",
            "Geloest",
            "Geschlossen"
        ])
    );
    assert_eq!(
        schemas["NewTicketStatus"]["enum"],
        json!(["Neu", "In Arbeit", "Geloest"])
    );
    assert_eq!(schemas["Category"]["enum"], json!(["Drucker", "Netz"]));
    assert_eq!(
        schemas["Priority"]["enum"],
        json!(["low", "normal", "high", "critical"])
    );
    let described = schemas["Status"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        described.contains("Geschlossen -> none (final)"),
        "{described}"
    );
}
