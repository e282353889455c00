//! The measurements of `hotline bench`: closed-loop writers, raw sled batches, fan-out,
//! propagation and subscribers, each against a server process of [`super::server`].

use std::collections::HashMap;
use std::sync::Arc;

use hotline_runtime::sled_files::LogSync;
use parking_lot::Mutex;
use std::time::{Duration, Instant};

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::load::SiteLoad;
use super::server::ServerProcess;

/// The detail of a propagation figure: p50, p99.9 and how many changes were timed.
pub(super) fn propagation_detail(sorted: &[f64]) -> String {
    format!(
        "p50 {:.2} ms, p99.9 {:.2} ms, {} changes (target p99 < 10 ms)",
        percentile(sorted, 0.5),
        percentile(sorted, 0.999),
        sorted.len()
    )
}

pub(super) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

pub(super) const SITES: [(&str, &str); 4] = [
    ("dortmund", "twenty4help"),
    ("goerlitz", "twenty4help"),
    ("erfurt", "helpbycom"),
    ("munich", "inhouse"),
];

/// Closed-loop pushes from every `(client, load)` for `seconds`: (changes/s, requests/s, push
/// latencies in ms, sorted).
pub(super) async fn closed_loop(
    writers: Vec<(FederationClient<Channel>, SiteLoad)>,
    batch: usize,
    seconds: f64,
    real: bool,
) -> anyhow::Result<(
    f64,
    f64,
    Vec<f64>,
    Vec<(FederationClient<Channel>, SiteLoad)>,
)> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (mut client, mut load) in writers {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                if real {
                    load.refill(&mut client).await?;
                }
                let request = load.batch(batch);
                let t0 = Instant::now();
                let response = client.push(request).await?.into_inner();
                latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(
                    response.results.iter().all(|r| matches!(
                        r.outcome,
                        Some(pb::change_result::Outcome::Accepted(_))
                    )),
                    "a benchmark change was refused: {:?}",
                    response.results.iter().find(|r| !matches!(
                        r.outcome,
                        Some(pb::change_result::Outcome::Accepted(_))
                    ))
                );
            }
            anyhow::Ok((latencies, client, load))
        }));
    }
    let mut all = Vec::new();
    let mut writers = Vec::new();
    for task in tasks {
        let (latencies, client, load) = task.await??;
        all.extend(latencies);
        writers.push((client, load));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let requests = all.len() as f64 / elapsed;
    Ok((requests * batch as f64, requests, all, writers))
}

pub(super) async fn writers(
    server: &ServerProcess,
    count: usize,
    real: bool,
) -> anyhow::Result<Vec<(FederationClient<Channel>, SiteLoad)>> {
    writers_on(&[server], count, real).await
}

/// [`writers`] spread over gateway replicas: site i connects to `servers[i % len]`.
pub(super) async fn writers_on(
    servers: &[&ServerProcess],
    count: usize,
    real: bool,
) -> anyhow::Result<Vec<(FederationClient<Channel>, SiteLoad)>> {
    let mut out = Vec::new();
    for (i, (site, tenant)) in SITES.iter().take(count).enumerate() {
        let mut client = servers[i % servers.len()].client(site).await?;
        let load = if real {
            SiteLoad::new(&mut client, site, tenant, 10_000).await?
        } else {
            SiteLoad::with_tickets(site, tenant, vec!["ASZ-2026-000001".into()])
        };
        out.push((client, load));
    }
    Ok(out)
}

pub(super) fn fresh_dir(root: &std::path::Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    crate::demo::federation::make_pki(&dir)?;
    Ok(dir)
}

/// B3: raw sled, `apply_batch(n)` of 1 KB records plus `flush`, for `seconds`; `durable`: each
/// flush followed by the `fdatasync` of sled's log that the gateway's and the adapters' flush
/// also do ([`LogSync`]), so the baseline is as durable as what it is compared with.
pub(super) fn raw_sled(
    dir: &std::path::Path,
    n: usize,
    seconds: f64,
    durable: bool,
) -> anyhow::Result<f64> {
    let path = dir.join(format!("sled-{n}-{durable}"));
    let db = sled::Config::new().path(&path).open()?;
    let log = LogSync::open(&path)?;
    let value = vec![7u8; 1024];
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut records = 0u64;
    while Instant::now() < deadline {
        let mut batch = sled::Batch::default();
        for _ in 0..n {
            records += 1;
            batch.insert(&records.to_be_bytes(), value.clone());
        }
        db.apply_batch(batch)?;
        db.flush()?;
        if durable {
            log.sync()?;
        }
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Counts events on `k` subscriptions for `seconds`: deliveries per second.
pub(super) async fn fan_out(server: &ServerProcess, k: usize, seconds: f64) -> anyhow::Result<f64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for i in 0..k {
        let mut client = server.client(SITES[i % SITES.len()].0).await?;
        tasks.push(tokio::spawn(async move {
            let mut stream = client
                .subscribe(pb::SubscribeRequest { cursor: 0 })
                .await?
                .into_inner();
            let mut count = 0u64;
            while let Ok(Ok(Some(_))) = tokio::time::timeout_at(deadline, stream.message()).await {
                count += 1;
            }
            anyhow::Ok(count)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / seconds)
}

/// Time from pushes at dortmund (at `rate` changes/s, batches of 8) until munich, goerlitz and
/// erfurt (subscribed at `server`) have all received them: latencies in ms, sorted. A comment
/// counts as received when its change arrives, or the whole ticket carrying it (what a replica
/// sends for what another replica accepted: its catch-up sends entities, not changes).
pub(super) async fn propagation(
    server: &ServerProcess,
    load: &mut SiteLoad,
    client: &mut FederationClient<Channel>,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Vec<f64>> {
    // dortmund's origin sequence -> when the last watcher got it, and which watchers have.
    let received: Arc<Mutex<HashMap<u64, (Instant, u8)>>> = Arc::default();
    let mut watchers = Vec::new();
    let head = client.push(load.batch(1)).await?.into_inner().results[0]
        .outcome
        .clone();
    let head = match head {
        Some(pb::change_result::Outcome::Accepted(a)) => a.global_seq,
        other => anyhow::bail!("warm-up push refused: {other:?}"),
    };
    for (watcher, site) in ["munich", "goerlitz", "erfurt"].into_iter().enumerate() {
        let mut subscriber = server.client(site).await?;
        let mut stream = subscriber
            .subscribe(pb::SubscribeRequest { cursor: head })
            .await?
            .into_inner();
        let received = received.clone();
        watchers.push(tokio::spawn(async move {
            let bit = 1u8 << watcher;
            while let Ok(Some(event)) = stream.message().await {
                let seqs: Vec<u64> = match event.body {
                    Some(pb::sync_event::Body::Change(change))
                        if change.origin_site == "dortmund" =>
                    {
                        vec![change.origin_seq]
                    }
                    // The load names each comment "<site>-<origin sequence>".
                    Some(pb::sync_event::Body::Entity(entity)) => entity
                        .comments
                        .iter()
                        .filter_map(|c| c.comment.as_ref()?.id.strip_prefix("dortmund-"))
                        .filter_map(|seq| seq.parse().ok())
                        .collect(),
                    _ => Vec::new(),
                };
                let mut map = received.lock();
                for seq in seqs {
                    let entry = map.entry(seq).or_insert((Instant::now(), 0));
                    if entry.1 & bit == 0 {
                        entry.0 = Instant::now();
                        entry.1 |= bit;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_batch = 8usize;
    let interval = Duration::from_secs_f64(per_batch as f64 / rate.max(1.0));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent: Vec<(u64, Instant)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        ticker.tick().await;
        load.refill(client).await?;
        let request = load.batch(per_batch);
        // Comments arrive as changes; openings arrive as whole entities (the other sites gain
        // sight of a new ticket), which carry no origin sequence: time the comments.
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
    tokio::time::sleep(Duration::from_millis(500)).await;
    for watcher in &watchers {
        watcher.abort();
    }
    let map = received.lock();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(seq, t0)| {
            map.get(seq)
                .filter(|(_, seen)| *seen == 0b111)
                .map(|(t, _)| t.duration_since(*t0).as_secs_f64() * 1000.0)
        })
        .collect();
    anyhow::ensure!(
        latencies.len() * 10 >= sent.len() * 9,
        "only {} of {} changes reached all three sites",
        latencies.len(),
        sent.len()
    );
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// A catch-up: `client` pushes (for `load`, `batch` changes at a time) until the log holds at
/// least `changes` entries, then erfurt subscribes at `reader` from the start and reads up to
/// that head. (head, seconds the read took, events received).
pub(super) async fn catch_up(
    client: &mut FederationClient<Channel>,
    load: &mut SiteLoad,
    batch: usize,
    changes: u64,
    reader: &ServerProcess,
) -> anyhow::Result<(u64, f64, u64)> {
    let mut head = 0;
    while head < changes {
        load.refill(client).await?;
        let answer = client.push(load.batch(batch)).await?.into_inner();
        match answer.results.last().and_then(|r| r.outcome.clone()) {
            Some(pb::change_result::Outcome::Accepted(a)) => head = a.global_seq,
            other => anyhow::bail!("a catch-up change was refused: {other:?}"),
        }
    }
    let mut late = reader.client("erfurt").await?;
    let started = Instant::now();
    let mut stream = late
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let mut events = 0u64;
    // A stalled stream fails the run instead of holding it (a replica that never woke up).
    let limit = std::time::Duration::from_secs(120);
    while let Some(event) = tokio::time::timeout(limit, stream.message())
        .await
        .map_err(|_| {
            anyhow::anyhow!("catch-up: no event within {limit:?} after {events} events")
        })??
    {
        events += 1;
        if event.cursor >= head {
            break;
        }
    }
    Ok((head, started.elapsed().as_secs_f64(), events))
}

/// Opens `n` subscriptions (one connection each) and waits until each has received an event.
pub(super) async fn subscribers(
    server: &ServerProcess,
    n: usize,
) -> anyhow::Result<Vec<tonic::Streaming<pb::SyncEvent>>> {
    let mut streams = Vec::new();
    for i in 0..n {
        let mut client = server.client(SITES[i % SITES.len()].0).await?;
        let mut stream = client
            .subscribe(pb::SubscribeRequest { cursor: 0 })
            .await?
            .into_inner();
        tokio::time::timeout(Duration::from_secs(10), stream.message()).await??;
        streams.push(stream);
    }
    Ok(streams)
}
