//! One adapter's local API under 32 concurrent clients creating tickets: the group commit's
//! figure, against the one-flush-per-write baseline (B3, batch 1) of the same run, and the same
//! creates once a brand with the opening template is published (each answer then renders the
//! first customer message).
//!
//! The adapter runs in this process with its API on 127.0.0.1:0 and a gateway address nobody
//! listens on, so the figure is the API and its store alone (no push traffic); its numbers
//! come from a block written straight into its store, as a lease would.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hotline_adapter::config::{AdapterConfig, ClientTls, GatewayLink, ToolToken};
use hotline_adapter::replica::OPENING_TEMPLATE;
use hotline_adapter::run::Adapter;
use hotline_federation::model::EntityKind;
use hotline_proto::v1 as pb;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Figure;
use crate::site_api::SiteApi;

/// Concurrent API clients.
const CLIENTS: usize = 32;
/// The bench's tool token.
const TOKEN: &str = "bench-token-0123456789abcdef";

/// Creates per second from [`CLIENTS`] clients for `seconds`, with its ratio to `b3_one` (raw
/// sled, batch 1 + flush); then reads of one ticket per second from the same clients, the API's
/// ceiling without a write.
pub(super) async fn creates(root: &Path, seconds: f64, b3_one: f64) -> anyhow::Result<[Figure; 3]> {
    let dir = root.join("adapter");
    let mut config = AdapterConfig {
        tenant: "inhouse".into(),
        site: "munich".into(),
        data_dir: dir.join("store"),
        // Nobody listens there: the sync loop retries in the background, the API works.
        gateway: GatewayLink {
            url: "https://127.0.0.1:9".into(),
            replicas: Vec::new(),
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
    let (made, took) = create_loop(&api, seconds, "bench").await?;
    let flushes = replica.group_flushes() - flushes;
    // The same clients reading one ticket: what the HTTP path, the token check and one trip
    // to the blocking pool cost without any write (the ceiling the creates cannot pass).
    let number = replica.entities(EntityKind::Ticket)?[0].key.id.clone();
    let path = format!("/v1/tickets/{number}");
    let reader = api.clone();
    let (read, read_took) = closed_loop(seconds, move |_, _| {
        let (api, path) = (reader.clone(), path.clone());
        async move {
            api.expect("GET", &path, &serde_json::Value::Null, 200)
                .await?;
            anyhow::Ok(())
        }
    })
    .await?;
    // The same creates once the site holds a brand with the opening template: each answer
    // then carries the first customer message, rendered and checked by the leak guard.
    api.expect("PUT", "/v1/brand", &bench_brand(), 200).await?;
    let (branded, branded_took) = create_loop(&api, seconds, "branded").await?;
    shutdown.cancel();
    task.await??;
    let reads = read as f64 / read_took;
    let rate = made as f64 / took;
    let branded = branded as f64 / branded_took;
    Ok([
        Figure {
            key: "adapter_creates_32",
            name: format!("adapter API, {CLIENTS} clients creating tickets (group commit)"),
            value: rate,
            unit: "creates/s",
            detail: format!(
                "{made} creates, {flushes} flushes ({:.1} creates/flush); {:.2}x B3 batch 1 \
                 (target 3x); {:.0}% of the reads below",
                made as f64 / flushes.max(1) as f64,
                rate / b3_one,
                rate / reads.max(f64::MIN_POSITIVE) * 100.0
            ),
        },
        Figure {
            key: "adapter_creates_branded_32",
            name: format!("adapter API, {CLIENTS} clients creating tickets, brand published"),
            value: branded,
            unit: "creates/s",
            detail: format!(
                "each answer with its first customer message; {:.2}x B3 batch 1, {:.2}x the \
                 creates without a brand",
                branded / b3_one,
                branded / rate.max(f64::MIN_POSITIVE)
            ),
        },
        Figure {
            key: "adapter_reads_32",
            name: format!("adapter API, {CLIENTS} clients reading a ticket (no write)"),
            value: reads,
            unit: "reads/s",
            detail: format!("{:.2}x B3 batch 1: the API's ceiling", reads / b3_one),
        },
    ])
}

/// Ticket creates from [`CLIENTS`] clients for `seconds` (customer refs starting `tag`): how
/// many were answered 201, and the seconds they took.
async fn create_loop(api: &SiteApi, seconds: f64, tag: &'static str) -> anyhow::Result<(u64, f64)> {
    let api = api.clone();
    closed_loop(seconds, move |client, i| {
        let api = api.clone();
        async move {
            let body = json!({
                "customer_ref": format!("{tag}-{client}-{i}"),
                "focus_team": "dealers-sales",
                "category": "vpn",
                "subject": "bench",
            });
            api.expect("POST", "/v1/tickets", &body, 201).await?;
            anyhow::Ok(())
        }
    })
    .await
}

/// A brand as an in-house site publishes it, with the opening template (number, access code
/// and signature) and a partner name and alias pattern for the leak guard.
fn bench_brand() -> serde_json::Value {
    json!({
        "display_name": "IT Service Desk",
        "hotline_number": "+49 89 4711",
        "templates": [{
            "name": OPENING_TEMPLATE,
            "language": "de",
            "text": "Ihr Anliegen hat die Nummer {public_number}. \
                     Zugangscode: {access_code}. {signature}",
        }],
        "signature": "Ihr IT Service Desk",
        "forbidden_terms": ["Twenty4Help GmbH"],
        "alias_patterns": ["t4h-###"],
    })
}

/// Runs `request(client, i)` in a closed loop from [`CLIENTS`] clients for `seconds`: how
/// many completed, and the seconds they took.
async fn closed_loop<F, Fut>(seconds: f64, request: F) -> anyhow::Result<(u64, f64)>
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (request, done) = (request.clone(), done.clone());
        clients.push(tokio::spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                request(client, i).await?;
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            anyhow::Ok(())
        }));
    }
    for client in clients {
        client.await??;
    }
    Ok((
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    ))
}
