//! Many connected sites for the growth mode: their certificates and registration (a
//! `growth-sites` file next to the PKI, which the bench's gateway child reads into its config),
//! and propagation from one writer to every subscribed site.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hotline_gateway::config::{GatewayConfig, SiteConfig};
use hotline_proto::v1 as pb;
use parking_lot::Mutex;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::super::load::SiteLoad;
use super::super::server::ServerProcess;
use crate::pki_dir::PkiDir;

/// The file listing the extra sites (`site tenant` per line); its presence also lifts the
/// per-tenant subscription and fetch quotas, which the growth mode measures past.
const SITES_FILE: &str = "growth-sites";

/// The tenants that handle the bench's focus team, so every extra site sees every ticket.
const TENANTS: [&str; 3] = ["twenty4help", "helpbycom", "inhouse"];

/// The id of extra site `i`.
pub fn site_id(i: usize) -> String {
    format!("growth-{i:04}")
}

/// The tenant of extra site `i`.
pub fn tenant_of(i: usize) -> &'static str {
    TENANTS[i % TENANTS.len()]
}

/// Issues certificates for `count` extra sites in `dir`'s PKI and registers them for the
/// gateway child (call before starting it).
pub fn register(dir: &Path, count: usize) -> anyhow::Result<()> {
    let pki = PkiDir::new(dir.join("pki"));
    let ca = pki.ca()?;
    let federation = pki.federation()?;
    let mut lines = String::new();
    for i in 0..count {
        let (site, tenant) = (site_id(i), tenant_of(i));
        let cert = ca.issue_site(&federation, tenant, &site, time::Duration::days(2))?;
        pki.store(&site, &cert, false)?;
        lines.push_str(&format!("{site} {tenant}\n"));
    }
    std::fs::write(dir.join(SITES_FILE), lines)?;
    Ok(())
}

/// Adds the sites registered by [`register`] to the gateway child's config and lifts the
/// per-tenant quotas; without the file the config is left as it is (the default bench).
pub fn extend_config(config: &mut GatewayConfig, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(SITES_FILE);
    if !path.exists() {
        return Ok(());
    }
    let text = std::fs::read_to_string(&path)?;
    for (n, line) in text.lines().enumerate() {
        let (site, tenant) = line.split_once(' ').with_context(|| {
            format!(
                "{}: line {} is {line:?}; expected \"site tenant\"",
                path.display(),
                n + 1
            )
        })?;
        config.sites.push(SiteConfig {
            id: site.into(),
            tenant: tenant.into(),
            name: None,
        });
    }
    config.limits.tenant_subscriptions = 4096;
    // The production default (the demo's 500 ms would make idle heartbeats, which carry every
    // site's name, dominate with 1,000 sites).
    config.limits.heartbeat_interval_ms = 5_000;
    config.limits.tenant_fetches_per_second = 10_000_000;
    config.limits.tenant_fetch_burst = 10_000_000;
    Ok(())
}

/// Subscribes extra sites `from..to` (one connection each) and waits for each one's first
/// event, so every subscription is live.
pub async fn subscribe(
    server: &ServerProcess,
    from: usize,
    to: usize,
) -> anyhow::Result<Vec<tonic::Streaming<pb::SyncEvent>>> {
    let mut streams = Vec::new();
    for i in from..to {
        let mut client = server.client(&site_id(i)).await?;
        let mut stream = client
            .subscribe(pb::SubscribeRequest { cursor: 0 })
            .await?
            .into_inner();
        tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .with_context(|| format!("site {} got no first event in 30 s", site_id(i)))??;
        streams.push(stream);
    }
    Ok(streams)
}

/// Pushes comments from `client` at `rate` changes/s for `seconds` and times each until every
/// one of `streams` has received it: (latencies in ms sorted, changes sent). The streams are
/// handed back.
pub async fn propagation(
    streams: Vec<tonic::Streaming<pb::SyncEvent>>,
    client: &mut FederationClient<Channel>,
    load: &mut SiteLoad,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<(Vec<f64>, usize, Vec<tonic::Streaming<pb::SyncEvent>>)> {
    let sites = streams.len();
    let received: Arc<Mutex<HashMap<u64, (Instant, usize)>>> = Arc::default();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut watchers = Vec::new();
    for mut stream in streams {
        let (received, stop) = (received.clone(), stop.clone());
        let origin = load.site.clone();
        watchers.push(tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    event = stream.message() => event,
                };
                let Ok(Some(event)) = event else { break };
                if let Some(pb::sync_event::Body::Change(change)) = event.body {
                    if change.origin_site == origin {
                        let mut map = received.lock();
                        let entry = map.entry(change.origin_seq).or_insert((Instant::now(), 0));
                        entry.0 = Instant::now();
                        entry.1 += 1;
                    }
                }
            }
            stream
        }));
    }
    let per_batch = 1usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        ticker.tick().await;
        load.refill(client).await?;
        let request = load.batch(per_batch);
        // Openings reach the other sites as whole entities without an origin sequence: time
        // the comments.
        let seqs: Vec<u64> = request
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.ops.first().and_then(|o| o.op.as_ref()),
                    Some(pb::field_op::Op::AddComment(_))
                )
            })
            .map(|c| c.origin_seq)
            .collect();
        let t0 = Instant::now();
        client.push(request).await?;
        sent.extend(seqs.into_iter().map(|s| (s, t0)));
    }
    // Give the last changes time to arrive everywhere.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.cancel();
    let mut streams = Vec::new();
    for watcher in watchers {
        streams.push(watcher.await?);
    }
    let map = received.lock();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(seq, t0)| {
            map.get(seq)
                .filter(|(_, n)| *n == sites)
                .map(|(t, _)| t.duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    anyhow::ensure!(
        latencies.len() * 10 >= sent.len() * 9,
        "only {} of {} changes reached all {sites} sites",
        latencies.len(),
        sent.len()
    );
    latencies.sort_by(f64::total_cmp);
    Ok((latencies, sent.len(), streams))
}
