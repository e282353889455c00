//! Hostile input at a site's local API and at the gateway: malformed, huge, wrongly typed,
//! invalid UTF-8 and non-object bodies, ids with path characters, unserved methods and text with
//! control characters all get a clear JSON 4xx naming the API's field (or INVALID_ARGUMENT), and
//! nothing is stored.

use hotline_proto::v1 as pb;
use hotline_tests::changes::{number, open_ticket, push};
use hotline_tests::harness::{gateway_view, lease};
use hotline_tests::sites::{OneSite, eventually};
use serde_json::{Value, json};

/// One bad request: method, path, body, and the status, code and message part expected.
type BadRequest = (
    &'static str,
    String,
    Vec<u8>,
    u16,
    &'static str,
    &'static str,
);

/// Every kind of bad request is refused with the status and code a tool can act on, its
/// message says what was wrong, and the replica and outbox are exactly as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_store_nothing() -> anyhow::Result<()> {
    let OneSite {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let good = json!({ "customer_ref": "H-1", "focus_team": "finance-hr", "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &good, 201).await?;
    let path = format!(
        "/v1/tickets/{}",
        ticket["number"].as_str().unwrap_or_default()
    );
    eventually(20, "the site is quiet", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await?;
    let (before, head) = (site.snapshot()?, gateway.head());

    let big = json!({ "customer_ref": "H-2", "focus_team": "finance-hr", "category": "x".repeat(300 * 1024) });
    let cases: Vec<BadRequest> = vec![
        ("POST", "/v1/tickets".into(), b"{\"customer_ref\": ".to_vec(), 400, "bad_request", "invalid JSON"),
        ("POST", "/v1/tickets".into(), serde_json::to_vec(&big)?, 413, "too_large", "larger than"),
        ("POST", "/v1/tickets".into(), br#"{"customer_ref": 5, "focus_team": "finance-hr", "category": "vpn"}"#.to_vec(), 400, "bad_request", "invalid type"),
        ("POST", "/v1/tickets".into(), br#"{"customer_ref": "H", "focus_team": "finance-hr", "category": "vpn", "owner": "me"}"#.to_vec(), 400, "bad_request", "unknown field"),
        ("POST", "/v1/tickets".into(), b"{\"customer_ref\": \"\xff\xfe\"}".to_vec(), 400, "bad_request", "UTF-8"),
        ("POST", "/v1/tickets".into(), br#"{"customer_ref": "H", "focus_team": "../../etc", "category": "vpn"}"#.to_vec(), 400, "bad_request", "focus_team: \"../../etc\" is not a valid id"),
        ("POST", "/v1/tickets".into(), br#"{"customer_ref": "H-3", "focus_team": "finance-hr", "category": "vpn", "subject": "VPN\u0000down"}"#.to_vec(), 400, "bad_request", "subject: U+0000 (a control character) at byte 3"),
        ("PATCH", path.clone(), br#"{"subject": "next\u0085line"}"#.to_vec(), 400, "bad_request", "subject: U+0085"),
        ("PATCH", path.clone(), br#"{"assignee_alias": "agent\n7"}"#.to_vec(), 400, "bad_request", "assignee_alias: U+000A"),
        ("POST", format!("{path}/comments"), br#"{"author_alias": "a", "visibility": "public", "body": "fine\r\nthen \u001b[2J"}"#.to_vec(), 400, "bad_request", "body: U+001B"),
        ("GET", "/v1/tickets/..%2F..%2Fetc%2Fpasswd".into(), Vec::new(), 400, "bad_request", "not a public ticket number"),
        ("PATCH", path.clone(), br#"{"status": "closed_forever"}"#.to_vec(), 400, "unmapped_value", "known:"),
        ("PATCH", path.clone(), br#"{"status": "waiting_on_customer"}"#.to_vec(), 422, "invalid", "is not allowed"),
        ("POST", format!("{path}/comments"), br#"{"author_alias": "a", "visibility": "everyone", "body": "x"}"#.to_vec(), 400, "bad_request", "visibility: visibility \"everyone\" is not known; known: public, federation, tenant"),
        ("POST", "/v1/call-events".into(), br#"{"outcome": "answered", "wait_seconds": -3}"#.to_vec(), 400, "bad_request", "wait_seconds: -3 is not allowed; allowed: a whole number"),
        ("POST", "/v1/dead-letters/1%2F2/replay".into(), Vec::new(), 400, "bad_request", "not an origin_seq"),
        ("GET", "/v1/nowhere".into(), Vec::new(), 404, "not_found", "openapi.json"),
        ("DELETE", path.clone(), Vec::new(), 405, "method_not_allowed", "DELETE is not served"),
        ("POST", "/v1/tickets".into(), br#"["H-4", "finance-hr", "vpn"]"#.to_vec(), 400, "bad_request", "the request body is an array"),
        ("GET", "/v1/tickets?number=ASZ-2026-000000".into(), Vec::new(), 400, "bad_request", "number: \"ASZ-2026-000000\" is not a public ticket number"),
        ("POST", "/v1/call-events".into(), br#"{"outcome": "answered", "wait_seconds": 3, "ticket_number": "ASZ-2026-000000"}"#.to_vec(), 400, "bad_request", "ticket_number: \"ASZ-2026-000000\" is not a public ticket number"),
    ];
    for (method, path, body, status, code, needle) in cases {
        let (got, answer) = site.api.raw(method, &path, body).await?;
        assert_eq!(got, status, "{method} {path}: {answer}");
        assert_eq!(answer["code"], code, "{method} {path}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{method} {path}: {message:?} lacks {needle:?}"
        );
        // Fields are named as the API names them, never by the change built from the request.
        assert!(
            !message.contains("change.") && !message.contains("ops["),
            "{method} {path}: {message:?} names an internal path"
        );
    }
    // A request that changes nothing answers the ticket as it is, and writes nothing.
    let (got, same) = site.api.raw("PATCH", &path, b"{}".to_vec()).await?;
    assert_eq!((got, &same["number"]), (200, &ticket["number"]), "{same}");
    let (status, answer) = site
        .api
        .with_token("wrong-token-wrong-token-xx")
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("unauthorized"))
    );

    assert_eq!(
        site.snapshot()?,
        before,
        "a refused request changed the replica"
    );
    assert_eq!(
        site.replica.outbox_depth(),
        0,
        "a refused request reached the outbox"
    );
    assert_eq!(
        gateway.head(),
        head,
        "a refused request reached the gateway"
    );
    site.stop().await?;
    gateway.stop().await
}

/// A push over mTLS whose second change has a NUL in its ticket subject is refused
/// INVALID_ARGUMENT naming the field, with the change's index in the `invalid-change-index`
/// metadata, and the gateway stores nothing of it: no site ever receives the NUL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_in_a_pushed_subject_is_refused_and_not_stored() -> anyhow::Result<()> {
    let OneSite {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let mut goerlitz = gateway.site_client(&pki, "twenty4help", "goerlitz").await?;
    let block = lease(&mut goerlitz, 2).await?;
    let id = number(&block, 0);
    let (head, before) = (gateway.head(), gateway_view(&gateway.state, "inhouse")?);

    let mut request = push(&[
        open_ticket(
            &number(&block, 1),
            "twenty4help",
            "goerlitz",
            "finance-hr",
            1,
        ),
        open_ticket(&id, "twenty4help", "goerlitz", "finance-hr", 2),
    ]);
    let subject = request.changes[1]
        .ops
        .iter_mut()
        .find_map(|op| match &mut op.op {
            Some(pb::field_op::Op::Set(pb::FieldValue {
                kind:
                    Some(pb::field_value::Kind::Ticket(pb::TicketField {
                        value: Some(pb::ticket_field::Value::Subject(subject)),
                    })),
            })) => Some(subject),
            _ => None,
        })
        .expect("open_ticket sets a subject");
    *subject = "VPN\0down".into();
    let status = goerlitz
        .push(request)
        .await
        .expect_err("a NUL in a subject must be refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("ticket.subject: U+0000 (a control character)"),
        "{:?}",
        status.message()
    );
    // The bad change is named by index in a field of its own, not only in the text.
    assert_eq!(
        status
            .metadata()
            .get(hotline_gateway::api::federation::INVALID_CHANGE_INDEX)
            .and_then(|v| v.to_str().ok()),
        Some("1"),
        "{status:?}"
    );
    assert_eq!(gateway.head(), head, "the refused push reached the log");
    assert_eq!(
        gateway_view(&gateway.state, "inhouse")?,
        before,
        "the refused push changed what the gateway holds"
    );
    site.stop().await?;
    gateway.stop().await
}
