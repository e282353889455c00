//! One adapter's local API under 32 concurrent clients creating tickets: the group commit's
//! figure, against the one-flush-per-write baseline (B3, batch 1) of the same run.
//!
//! The adapter runs in this process with its API on 127.0.0.1:0 and a gateway address nobody
//! listens on, so the figure is the API and its store alone (no push traffic); its numbers
//! come from a block written straight into its store, as a lease would.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_adapter::config::{AdapterConfig, ClientTls, GatewayLink, ToolToken};
use hotline_adapter::run::Adapter;
use hotline_proto::v1 as pb;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::site_api::SiteApi;

/// Concurrent API clients.
const CLIENTS: usize = 32;
/// The bench's tool token.
const TOKEN: &str = "bench-token-0123456789abcdef";

/// Creates per second from [`CLIENTS`] clients for `seconds`, as a figure (key, name, value,
/// unit, detail) with its ratio to `b3_one` (raw sled, batch 1 + flush).
pub(super) async fn creates(
    root: &Path,
    seconds: f64,
    b3_one: f64,
) -> anyhow::Result<(&'static str, String, f64, &'static str, String)> {
    let dir = root.join("adapter");
    let mut config = AdapterConfig {
        tenant: "inhouse".into(),
        site: "munich".into(),
        data_dir: dir.join("store"),
        // Nobody listens there: the sync loop retries in the background, the API works.
        gateway: GatewayLink {
            url: "https://127.0.0.1:9".into(),
            server_name: "localhost".into(),
        },
        tls: ClientTls {
            ca_cert: dir.join("absent-ca.pem"),
            cert: dir.join("absent.pem"),
            key: dir.join("absent.key"),
        },
        tools: vec![ToolToken {
            name: "bench".into(),
            token: TOKEN.into(),
        }],
        ..AdapterConfig::default()
    };
    config.api.listen = "127.0.0.1:0".into();
    config.sync.backoff_min_ms = 1_000;
    let adapter = Adapter::open(config)?;
    adapter.replica.add_numbers(&pb::LeaseBlock {
        prefix: "HL".into(),
        year: 2026,
        first: 1,
        count: 900_000,
    })?;
    let replica = adapter.replica.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = SiteApi::new(listener.local_addr()?, TOKEN);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(adapter.run(listener, shutdown.clone()));

    let flushes = replica.group_flushes();
    let made = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (api, made) = (api.clone(), made.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                let body = json!({
                    "customer_ref": format!("bench-{client}-{i}"),
                    "focus_team": "dealers-sales",
                    "category": "vpn",
                    "subject": "bench",
                });
                api.expect("POST", "/v1/tickets", &body, 201).await?;
                made.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    let took = started.elapsed().as_secs_f64();
    let made = made.load(Ordering::Relaxed);
    let flushes = replica.group_flushes() - flushes;
    shutdown.cancel();
    task.await??;
    let rate = made as f64 / took;
    Ok((
        "adapter_creates_32",
        format!("adapter API, {CLIENTS} clients creating tickets (group commit)"),
        rate,
        "creates/s",
        format!(
            "{made} creates, {flushes} flushes ({:.1} creates/flush); {:.2}x B3 batch 1 \
             (target 3x)",
            made as f64 / flushes.max(1) as f64,
            rate / b3_one
        ),
    ))
}
