//! The local API's answers to requests it refuses, as a partner tool sees them: every error is
//! JSON `{code, message}` (unknown paths, unsupported methods and unreadable paths too), a
//! body must be a JSON object, the bearer scheme is case-insensitive, a malformed ticket
//! number is 400 wherever it appears, and messages name this API's fields.

use crate::local_api;

use hotline_adapter::mapping::MappingConfig;
use local_api::{LocalApi, TOKEN};
use serde_json::Value;

/// Asserts a JSON error with `status` and `code` whose message contains `needle`.
#[track_caller]
fn refused(answer: &local_api::Answer, status: u16, code: &str, needle: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["code"], code, "{}", answer.json);
    let message = answer.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// A JSON array where an object is expected is refused as such, not read by field position
/// (which would pass the unknown-field check): `["H-1", "finance-hr", "vpn"]` is no ticket.
#[tokio::test]
async fn a_json_array_body_is_refused() {
    let api = LocalApi::new(MappingConfig::default());
    for (method, path) in [
        ("POST", "/v1/tickets"),
        ("PATCH", "/v1/tickets/ASZ-2026-000001"),
        ("POST", "/v1/tickets/ASZ-2026-000001/comments"),
        ("POST", "/v1/call-events"),
    ] {
        let answer = api
            .call(
                method,
                path,
                br#"["H-1", "finance-hr", "vpn", "answered", 5]"#,
            )
            .await;
        refused(
            &answer,
            400,
            "bad_request",
            "the request body is an array; send a JSON object",
        );
    }
    let answer = api.call("POST", "/v1/call-events", b"17").await;
    refused(&answer, 400, "bad_request", "the request body is a number");
}

/// A method a path does not serve answers 405 with the JSON error and an `Allow` header, and
/// an unknown path 404 with the JSON error, like every other error.
#[tokio::test]
async fn unsupported_methods_and_unknown_paths_answer_json() {
    let api = LocalApi::new(MappingConfig::default());
    let answer = api.call("DELETE", "/v1/tickets", b"").await;
    refused(
        &answer,
        405,
        "method_not_allowed",
        "DELETE is not served at /v1/tickets",
    );
    let mut allow: Vec<&str> = answer.headers["allow"]
        .to_str()
        .unwrap()
        .split(',')
        .collect();
    allow.sort_unstable();
    assert_eq!(allow, ["GET", "HEAD", "POST"]);
    let answer = api.call("PUT", "/openapi.json", b"").await;
    refused(&answer, 405, "method_not_allowed", "PUT");
    let answer = api.call("GET", "/v1/nowhere", b"").await;
    refused(&answer, 404, "not_found", "/openapi.json");
    let answer = api.call("GET", "/v1/tickets/%FF%FE", b"").await;
    refused(&answer, 400, "bad_request", "number:");
}

/// The bearer scheme's name is case-insensitive (RFC 9110): `bearer` and `BEARER` work,
/// another scheme or a wrong token does not.
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let api = LocalApi::new(MappingConfig::default());
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {TOKEN}");
        let answer = api
            .send("GET", "/v1/sync/status", Some(&authorization), b"")
            .await;
        assert_eq!(answer.status, 200, "{scheme}: {}", answer.json);
        assert_eq!(answer.json["site"], "dortmund");
    }
    for authorization in [
        Some(format!("Basic {TOKEN}")),
        Some("bearer nope".into()),
        None,
    ] {
        let answer = api
            .send("GET", "/v1/sync/status", authorization.as_deref(), b"")
            .await;
        refused(&answer, 401, "unauthorized", "");
    }
}

/// A malformed ticket number gets the same answer in the path, the query and a body: 400
/// `bad_request` naming the field and the expected format.
#[tokio::test]
async fn a_malformed_ticket_number_is_400_everywhere() {
    let api = LocalApi::new(MappingConfig::default());
    let format = "expected PREFIX-YYYY-NNNNNN";
    for path in [
        "/v1/tickets/ASZ-2026-000000",
        "/v1/tickets/asz-2026-000001/history",
        "/v1/tickets?number=ASZ-26-1",
    ] {
        refused(
            &api.call("GET", path, b"").await,
            400,
            "bad_request",
            format,
        );
    }
    let body = br#"{"outcome": "answered", "wait_seconds": 3, "ticket_number": "ASZ-2026-000000"}"#;
    let answer = api.call("POST", "/v1/call-events", body).await;
    refused(
        &answer,
        400,
        "bad_request",
        "ticket_number: \"ASZ-2026-000000\" is not a public",
    );
}

/// Messages name the API's own fields (`customer_ref`, `wait_seconds`), never the path of
/// the change the adapter builds (`change.ops[3].set.ticket.customer_ref`).
#[tokio::test]
async fn messages_name_the_apis_fields() {
    let api = LocalApi::new(MappingConfig::default());
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "/v1/tickets",
            br#"{"customer_ref": "H\u0007", "focus_team": "finance-hr", "category": "vpn"}"#,
            "customer_ref: U+0007 (a control character) at byte 1 is not allowed",
        ),
        (
            "/v1/tickets",
            br#"{"customer_ref": " ", "focus_team": "finance-hr", "category": "vpn"}"#,
            "customer_ref: must hold a character other than white space",
        ),
        (
            "/v1/tickets",
            br#"{"customer_ref": 5, "focus_team": "finance-hr", "category": "vpn"}"#,
            "customer_ref: invalid type: integer `5`, expected a string",
        ),
        (
            "/v1/call-events",
            br#"{"outcome": "answered", "wait_seconds": 18.5}"#,
            "wait_seconds: 18.5 is not allowed; allowed: a whole number from 0 to 4294967295",
        ),
        (
            "/v1/call-events",
            br#"{"outcome": "hung_up", "wait_seconds": 1}"#,
            "outcome: call outcome \"hung_up\" is not known; known: offered",
        ),
    ];
    for (path, body, needle) in cases {
        let answer = api.call("POST", path, body).await;
        refused(&answer, 400, "bad_request", needle);
        let message = answer.json["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("change.") && !message.contains("ops["),
            "{message}"
        );
    }
}

/// Finding tickets takes exactly one of `customer_ref` or `number`: both, neither, another
/// parameter or an empty reference are refused, as the document's `oneOf` says.
#[tokio::test]
async fn finding_tickets_takes_exactly_one_parameter() {
    let api = LocalApi::new(MappingConfig::default());
    for query in [
        "?customer_ref=H-1&number=ASZ-2026-000001",
        "",
        "?customer_ref=H-1&customer_ref=H-2",
        "?owner=me",
        "?customer_ref=",
    ] {
        let answer = api.call("GET", &format!("/v1/tickets{query}"), b"").await;
        refused(&answer, 400, "bad_request", "");
    }
    let answer = api.call("GET", "/v1/tickets?customer_ref=H-1", b"").await;
    assert_eq!(
        (answer.status, &answer.json["tickets"]),
        (200, &Value::Array(vec![]))
    );
}

/// A whole number may be written with a zero fraction (`18.0`, as JSON Schema's `integer`
/// allows): the call event is recorded with 18 seconds.
#[tokio::test]
async fn a_whole_number_with_a_zero_fraction_is_accepted() {
    let api = LocalApi::new(MappingConfig::default());
    let body = br#"{"outcome": "answered", "wait_seconds": 18.0, "at_ms": 1.7e12}"#;
    let answer = api.call("POST", "/v1/call-events", body).await;
    assert_eq!(answer.status, 201, "{}", answer.json);
    assert_eq!(answer.json["call_log"], "dortmund.2023-11-14");
    let replica = api.app.replica.clone();
    let key = hotline_federation::model::EntityKey::new(
        hotline_federation::model::EntityKind::CallLog,
        "dortmund.2023-11-14",
    );
    let log = replica.entity(&key).expect("call log");
    let waits: Vec<u32> = log
        .call_events
        .values()
        .map(|e| e.value.wait_seconds)
        .collect();
    assert_eq!(waits, [18]);
}
