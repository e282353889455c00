//! Webhooks to a partner tool: every ticket change arrives as a signed JSON POST, and a tool
//! that first answers 500 gets the event again.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use hotline_adapter::webhooks::{SIGNATURE_HEADER, WebhookTarget, verify};
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::{RunningAdapter, adapter_config, eventually};
use serde_json::{Value, json};

const SECRET: &str = "partner-tool-secret-0123";

#[derive(Default)]
struct Tool {
    calls: Mutex<Vec<(String, Vec<u8>)>>,
}

/// A ticket created through the API reaches the partner tool as a signed `ticket.changed`
/// event, after the tool's first answer (500) made the adapter retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_changes_reach_the_tool_signed_and_retried() -> anyhow::Result<()> {
    let tool = Arc::new(Tool::default());
    let state = tool.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let state = state.clone();
            async move {
                let signature = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let mut calls = state.calls.lock().expect("lock");
                calls.push((signature, body.to_vec()));
                if calls.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let mut config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?;
    config.webhooks = vec![WebhookTarget {
        name: "crm".into(),
        url: format!("http://{hook_addr}/hook"),
        secret: SECRET.into(),
        max_attempts: 5,
    }];
    config.sync.webhook_backoff_min_ms = 20;
    config.sync.webhook_backoff_max_ms = 100;
    let dortmund = RunningAdapter::start(config).await?;
    dortmund.wait_for_numbers().await?;
    let ticket = dortmund
        .api
        .expect(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "W-1", "focus_team": "finance-hr", "category": "vpn" }),
            201,
        )
        .await?;
    let number = ticket["number"].clone();

    eventually(20, "the tool accepted an event", || async {
        Ok(tool.calls.lock().expect("lock").len() >= 2)
    })
    .await?;
    let calls = tool.calls.lock().expect("lock").clone();
    assert_eq!(calls[0].1, calls[1].1, "the retry carries the same event");
    for (signature, body) in &calls {
        assert!(verify(SECRET, body, signature), "bad signature {signature}");
        assert!(!verify("another-secret-entirely", body, signature));
    }
    let event: Value = serde_json::from_slice(&calls[0].1)?;
    assert_eq!(event["event"], "ticket.changed");
    assert_eq!(event["number"], number);
    assert_eq!(event["ticket"]["customer_ref"], "W-1");
    let dead = dortmund
        .api
        .expect("GET", "/v1/webhooks/dead-letters", &Value::Null, 200)
        .await?;
    assert_eq!(dead["dead_letters"], json!([]));
    dortmund.stop().await?;
    gateway.stop().await
}
