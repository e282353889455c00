//! The local API's acknowledgements against the group commit, driven through the real router
//! over a real store, with the store's test-only fault injection (from an outside review).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::Request;
use hotline_proto::v1 as pb;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower_service::Service;

use super::Replica;
use crate::api::{App, router};
use crate::config::{AdapterConfig, ToolToken};
use crate::events::TicketEvents;
use crate::mapping::Mapping;
use crate::replica::LocalWriter;
use crate::sync::SyncStatus;

const TOKEN: &str = "local-api-token-0123456789";

struct Site {
    router: axum::Router,
    replica: Arc<Replica>,
    _dir: tempfile::TempDir,
}

fn site(tenant: &str, site: &str) -> Site {
    site_with(tenant, site, Vec::new())
}

fn site_with(tenant: &str, site: &str, targets: Vec<crate::webhooks::WebhookTarget>) -> Site {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = AdapterConfig {
        tenant: tenant.into(),
        site: site.into(),
        data_dir: dir.path().to_path_buf(),
        tools: vec![ToolToken {
            name: "crm".into(),
            token: TOKEN.into(),
        }],
        ..AdapterConfig::default()
    };
    let mapping = Mapping::new(&config.mapping).expect("mapping");
    let replica = Replica::open(dir.path(), site, tenant, 60_000).expect("store");
    replica
        .add_numbers(&pb::LeaseBlock {
            prefix: "ASZ".into(),
            year: 2026,
            first: 1,
            count: 1_000,
        })
        .expect("numbers");
    let knowledge = crate::kb::KnowledgeIndex::in_memory(&replica).expect("kb");
    let replica = Arc::new(replica);
    let files = crate::files::Files::open(dir.path(), &config.files).expect("files");
    let app = Arc::new(App {
        files: Arc::new(files),
        knowledge: Arc::new(knowledge),
        writer: LocalWriter::start(&replica).expect("writer"),
        replica: replica.clone(),
        events: Arc::new(TicketEvents::new(
            targets,
            mapping.clone(),
            site.into(),
            Arc::default(),
        )),
        mapping,
        config: Arc::new(config),
        status: Arc::new(SyncStatus::default()),
        outbox: Arc::default(),
        metrics: Arc::new(crate::metrics::AdapterMetrics::new(tenant, site)),
        decisions: Default::default(),
    });
    Site {
        router: router(app),
        replica,
        _dir: dir,
    }
}

impl Site {
    async fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("request");
        let response = self.router.clone().call(request).await.expect("infallible");
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }
}

/// Design §8 ("acknowledge only after flush"): a PATCH that asks for what the store already
/// shows is answered 200 at once, from sled as it stands. sled shows an applied group before
/// its flush (and keeps a group whose flush failed), so the tool is told "the ticket is
/// in_progress" for a state that was never made durable: here the disk refuses every flush,
/// the first PATCH is rightly refused, and the identical second one is acknowledged 200.
/// Without fault injection the same happens in the window between a group's batch and its
/// flush; a crash in that window loses the state the 200 reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_update_is_not_acknowledged_before_what_it_reports_is_durable() {
    let s = site("inhouse", "munich");
    let (status, created) = s
        .call(
            "POST",
            "/v1/tickets",
            json!({ "customer_ref": "c-1", "focus_team": "dealers-sales", "category": "vpn" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let number = created["number"].as_str().expect("number").to_owned();
    let path = format!("/v1/tickets/{number}");

    s.replica.failing_flushes.store(true, Ordering::SeqCst);
    let (first, answer) = s
        .call("PATCH", &path, json!({ "status": "in_progress" }))
        .await;
    assert!(
        first >= 500,
        "the PATCH was acknowledged although its flush failed: {answer}"
    );
    let (second, answer) = s
        .call("PATCH", &path, json!({ "status": "in_progress" }))
        .await;
    assert!(
        !(200..300).contains(&second),
        "PATCH answered {second} ({}) for a status that no flush ever made durable",
        answer["status"]
    );
}

/// The same for a call import: rows an earlier import applied but could not flush are
/// counted `unchanged` and the second import is answered 200, though none of them is durable
/// (the tool is told its file is imported and drops it; a crash loses the calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_import_is_not_acknowledged_before_what_it_reports_is_durable() {
    let s = site("inhouse", "munich");
    s.replica.failing_flushes.store(true, Ordering::SeqCst);
    let rows = json!({ "rows": [{ "line": 2, "id": "acd-1", "at_ms": 1_795_000_000_000u64,
        "outcome": "answered", "wait_seconds": 12, "talk_seconds": 100, "wrap_seconds": 10,
        "focus_team": null, "ticket_number": null }] });
    let (first, answer) = s.call("POST", "/v1/calls/import", rows.clone()).await;
    assert!(
        first >= 500,
        "acknowledged although its flush failed: {answer}"
    );
    let (second, answer) = s.call("POST", "/v1/calls/import", rows).await;
    assert!(
        !(200..300).contains(&second),
        "the same import answered {second} ({answer}) while no flush made its rows durable"
    );
}

/// 24 clients at once, each creating a ticket and then writing to it: clean public comments,
/// public comments naming the site (refused by the leak guard), status changes, a comment on a
/// ticket that does not exist. Every refused write leaves nothing: the outbox holds exactly
/// the acknowledged writes under contiguous origin sequence numbers (no gap, no reuse), each
/// acknowledged ticket change raised exactly one webhook event under contiguous ids, every
/// created ticket has its own number, and the lease lost exactly one number per create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_with_refusals_leave_no_trace_of_the_refused_steps() {
    use super::keys::{self, seq_key};
    use prost::Message;
    let s = Arc::new(site_with(
        "inhouse",
        "munich",
        vec![crate::webhooks::WebhookTarget {
            name: "crm".into(),
            url: "http://127.0.0.1:9/events".into(),
            secret: "a-secret-of-sixteen-bytes".into(),
            max_attempts: 8,
        }],
    ));
    let seq0 = s.replica.counter("seq").expect("seq");
    let hook0 = s.replica.counter("webhook").expect("webhook");
    let left0 = s.replica.numbers_left().expect("left");
    let mut clients = Vec::new();
    for client in 0..24 {
        let s = s.clone();
        clients.push(tokio::spawn(async move {
            let mut acknowledged = 0u64;
            let mut numbers = Vec::new();
            for round in 0..4 {
                let (status, created) = s
                    .call("POST", "/v1/tickets", json!({ "customer_ref": format!("c-{client}-{round}"),
                        "focus_team": "dealers-sales", "category": "vpn" }))
                    .await;
                assert_eq!(status, 201, "{created}");
                acknowledged += 1;
                let number = created["number"].as_str().expect("number").to_owned();
                numbers.push(number.clone());
                let comments = format!("/v1/tickets/{number}/comments");
                let ticket = format!("/v1/tickets/{number}");
                let writes = [
                    ("POST", comments.clone(), json!({ "author_alias": "Agent M", "visibility": "public", "body": "Wir kuemmern uns." }), true),
                    ("POST", comments.clone(), json!({ "author_alias": "Agent M", "visibility": "public", "body": "Gruesse aus Munich" }), false),
                    ("PATCH", ticket.clone(), json!({ "status": "in_progress" }), true),
                    ("POST", "/v1/tickets/ASZ-2026-999999/comments".to_owned(), json!({ "author_alias": "Agent M", "visibility": "federation", "body": "x" }), false),
                    ("POST", comments.clone(), json!({ "author_alias": "Agent M", "visibility": "public", "body": "Wir sind", "attachments": [] }), true),
                    ("POST", comments.clone(), json!({ "author_alias": "Agent M", "visibility": "public", "body": "mun ich" }), false),
                    ("PATCH", ticket.clone(), json!({ "status": "resolved" }), true),
                ];
                for (method, path, body, ok) in writes {
                    let (status, answer) = s.call(method, &path, body).await;
                    assert_eq!((200..300).contains(&status), ok, "{method} {path}: {status} {answer}");
                    if ok {
                        acknowledged += 1;
                    }
                }
            }
            (acknowledged, numbers)
        }));
    }
    let mut acknowledged = 0;
    let mut numbers = std::collections::BTreeSet::new();
    let mut created = 0u64;
    for client in clients {
        let (count, made) = client.await.expect("client");
        acknowledged += count;
        created += made.len() as u64;
        numbers.extend(made);
    }
    assert_eq!(
        numbers.len() as u64,
        created,
        "a ticket number was handed out twice"
    );
    assert_eq!(s.replica.numbers_left().expect("left"), left0 - created);
    let seq = s.replica.counter("seq").expect("seq");
    assert_eq!(
        seq - seq0,
        acknowledged,
        "origin sequence numbers were skipped or reused"
    );
    let outbox: Vec<_> = s
        .replica
        .db
        .scan_prefix([keys::OUTBOX])
        .map(|i| i.expect("outbox"))
        .collect();
    assert_eq!(
        outbox.len() as u64,
        acknowledged,
        "the outbox holds other than the acknowledged writes"
    );
    for (n, (key, value)) in outbox.iter().enumerate() {
        let change = pb::Change::decode(value.as_ref()).expect("change");
        assert_eq!(
            key.as_ref(),
            seq_key(keys::OUTBOX, seq0 + 1 + n as u64).as_slice()
        );
        assert_eq!(change.origin_seq, seq0 + 1 + n as u64);
    }
    let hooks: Vec<_> = s
        .replica
        .db
        .scan_prefix([keys::WEBHOOK_QUEUE])
        .map(|i| i.expect("hook").0)
        .collect();
    let hook = s.replica.counter("webhook").expect("webhook");
    assert_eq!(
        hook - hook0,
        acknowledged,
        "webhook event ids skipped or reused"
    );
    assert_eq!(
        hooks.len() as u64,
        acknowledged,
        "webhook events of refused writes, or missing ones"
    );
    assert!(
        s.replica.group_flushes() < acknowledged,
        "the writes never shared a group"
    );
}
