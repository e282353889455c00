//! `hotline bench`: how close the gateway runs to this machine's limits. In one run it measures
//! baselines (raw tonic unary and streaming over the same mTLS, raw sled batches) and the real
//! gateway (ingest, propagation, catch-up, memory), and reports each figure with its ratio to
//! the baseline measured in the same run.

pub mod load;
pub mod mock;
pub mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

use load::SiteLoad;
use server::{Kind, ServerProcess};

/// Sizes and durations of a run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Seconds per throughput measurement.
    pub seconds: f64,
    /// Changes per push (the gateway's group size for one site).
    pub batch: usize,
    /// Subscribers of the fan-out baseline.
    pub fanout: usize,
    /// Changes the offline site misses before the catch-up measurement.
    pub catch_up: u64,
    /// Subscribers of the last memory figure.
    pub subscribers: usize,
}

impl BenchOptions {
    /// The full run.
    pub fn full() -> Self {
        BenchOptions {
            seconds: 5.0,
            batch: 64,
            fanout: 4,
            catch_up: 100_000,
            subscribers: 100,
        }
    }

    /// A quick run that only proves every measurement works (the test suite's smoke mode).
    pub fn smoke() -> Self {
        BenchOptions {
            seconds: 0.3,
            batch: 16,
            fanout: 2,
            catch_up: 2_000,
            subscribers: 8,
        }
    }
}

/// One line of the result table.
#[derive(Clone, Debug)]
pub struct Figure {
    /// Stable key (JSON).
    pub key: &'static str,
    /// What was measured.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: &'static str,
    /// Detail (percentiles, ratio to a baseline, target).
    pub detail: String,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

const SITES: [(&str, &str); 4] = [
    ("dortmund", "twenty4help"),
    ("goerlitz", "twenty4help"),
    ("erfurt", "helpbycom"),
    ("munich", "inhouse"),
];

/// Closed-loop pushes from every `(client, load)` for `seconds`: (changes/s, requests/s, push
/// latencies in ms, sorted).
async fn closed_loop(
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

async fn writers(
    server: &ServerProcess,
    count: usize,
    real: bool,
) -> anyhow::Result<Vec<(FederationClient<Channel>, SiteLoad)>> {
    let mut out = Vec::new();
    for (site, tenant) in SITES.iter().take(count) {
        let mut client = server.client(site).await?;
        let load = if real {
            SiteLoad::new(&mut client, site, tenant, 10_000).await?
        } else {
            SiteLoad::with_tickets(site, tenant, vec!["ASZ-2026-000001".into()])
        };
        out.push((client, load));
    }
    Ok(out)
}

fn fresh_dir(root: &std::path::Path, name: &str) -> anyhow::Result<std::path::PathBuf> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    crate::demo::federation::make_pki(&dir)?;
    Ok(dir)
}

/// B3: raw sled, `apply_batch(n)` of 1 KB records plus `flush`, for `seconds`.
fn raw_sled(dir: &std::path::Path, n: usize, seconds: f64) -> anyhow::Result<f64> {
    let db = sled::Config::new()
        .path(dir.join(format!("sled-{n}")))
        .open()?;
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
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Counts events on `k` subscriptions for `seconds`: deliveries per second.
async fn fan_out(server: &ServerProcess, k: usize, seconds: f64) -> anyhow::Result<f64> {
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
/// erfurt have all received them: latencies in ms, sorted.
async fn propagation(
    server: &ServerProcess,
    load: &mut SiteLoad,
    client: &mut FederationClient<Channel>,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Vec<f64>> {
    let received: Arc<Mutex<HashMap<u64, (Instant, usize)>>> = Arc::default();
    let mut watchers = Vec::new();
    let head = client.push(load.batch(1)).await?.into_inner().results[0]
        .outcome
        .clone();
    let head = match head {
        Some(pb::change_result::Outcome::Accepted(a)) => a.global_seq,
        other => anyhow::bail!("warm-up push refused: {other:?}"),
    };
    for site in ["munich", "goerlitz", "erfurt"] {
        let mut subscriber = server.client(site).await?;
        let mut stream = subscriber
            .subscribe(pb::SubscribeRequest { cursor: head })
            .await?
            .into_inner();
        let received = received.clone();
        watchers.push(tokio::spawn(async move {
            while let Ok(Some(event)) = stream.message().await {
                if let Some(pb::sync_event::Body::Change(change)) = event.body {
                    if change.origin_site == "dortmund" {
                        let mut map = received.lock().unwrap_or_else(|p| p.into_inner());
                        let entry = map.entry(change.origin_seq).or_insert((Instant::now(), 0));
                        entry.0 = Instant::now();
                        entry.1 += 1;
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
    let map = received.lock().unwrap_or_else(|p| p.into_inner());
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(seq, t0)| {
            map.get(seq)
                .filter(|(_, n)| *n == 3)
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

/// Opens `n` subscriptions (one connection each) and waits until each has received an event.
async fn subscribers(
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

/// Runs every measurement; the figures in table order.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Vec<Figure>> {
    let root = tempfile::Builder::new()
        .prefix("hotline-bench-")
        .tempdir()?;
    let o = options;
    let mut figures = Vec::new();
    let mut figure = |key, name: String, value: f64, unit, detail: String| {
        eprintln!("  {name}: {value:.1} {unit} {detail}");
        figures.push(Figure {
            key,
            name,
            value,
            unit,
            detail,
        });
    };

    // Baselines.
    let b3_one = raw_sled(root.path(), 1, o.seconds)?;
    let b3 = raw_sled(root.path(), o.batch, o.seconds)?;
    let b3_group = raw_sled(root.path(), o.batch * 4, o.seconds)?;
    figure(
        "b3_sled_1",
        "B3 raw sled, batch 1 + flush".into(),
        b3_one,
        "records/s",
        String::new(),
    );
    figure(
        "b3_sled_batch",
        format!("B3 raw sled, batch {} + flush", o.batch),
        b3,
        "records/s",
        String::new(),
    );
    figure(
        "b3_sled_group",
        format!("B3 raw sled, batch {} + flush", o.batch * 4),
        b3_group,
        "records/s",
        String::new(),
    );

    let mock = ServerProcess::start(Kind::Mock, &fresh_dir(root.path(), "mock")?)?;
    let (b1_one, b1_one_req, lat, _) =
        closed_loop(writers(&mock, 1, false).await?, o.batch, o.seconds, false).await?;
    figure(
        "b1_echo_1",
        format!(
            "B1 raw tonic unary, 1 connection, {} changes/request",
            o.batch
        ),
        b1_one,
        "changes/s",
        format!(
            "{b1_one_req:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        ),
    );
    let (b1, b1_req, lat, _) =
        closed_loop(writers(&mock, 4, false).await?, o.batch, o.seconds, false).await?;
    figure(
        "b1_echo_4",
        format!(
            "B1 raw tonic unary, 4 connections, {} changes/request",
            o.batch
        ),
        b1,
        "changes/s",
        format!(
            "{b1_req:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        ),
    );
    let b2 = fan_out(&mock, o.fanout, o.seconds).await?;
    figure(
        "b2_fanout",
        format!("B2 raw tonic stream fan-out to {} subscribers", o.fanout),
        b2,
        "deliveries/s",
        "1 KB events".into(),
    );
    drop(mock);

    // The gateway.
    let gateway = ServerProcess::start(Kind::Gateway, &fresh_dir(root.path(), "gateway")?)?;
    let mut all = writers(&gateway, 4, true).await?;
    let rest = all.split_off(1);
    let (one, _, lat, first) = closed_loop(all, o.batch, o.seconds, true).await?;
    figure(
        "ingest_1",
        "gateway ingest, 1 site".into(),
        one,
        "changes/s",
        format!(
            "p50 {:.2} ms, p99 {:.2} ms per push; {:.0}% of B1 (1 conn), {:.0}% of B3 (batch {})",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            100.0 * one / b1_one,
            100.0 * one / b3,
            o.batch
        ),
    );
    let mut four = first;
    four.extend(rest);
    let (ingest, _, lat, mut four) = closed_loop(four, o.batch, o.seconds, true).await?;
    figure(
        "ingest_4",
        "gateway ingest, 4 sites".into(),
        ingest,
        "changes/s",
        format!(
            "p50 {:.2} ms, p99 {:.2} ms per push; {:.0}% of B1 (target 60%), {:.0}% of B3 batch {} (target 80%)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            100.0 * ingest / b1,
            100.0 * ingest / b3_group,
            o.batch * 4
        ),
    );

    let (mut client, mut load) = four.remove(0);
    let lat = propagation(&gateway, &mut load, &mut client, ingest * 0.5, o.seconds).await?;
    figure(
        "propagation_p99",
        format!(
            "propagation to 3 sites at 50% load ({:.0} changes/s)",
            ingest * 0.5
        ),
        percentile(&lat, 0.99),
        "ms",
        format!(
            "p50 {:.2} ms, p99.9 {:.2} ms, {} changes (target p99 < 10 ms)",
            percentile(&lat, 0.5),
            percentile(&lat, 0.999),
            lat.len()
        ),
    );

    // Catch-up: a site that was away while catch_up changes happened.
    let mut head = 0;
    while head < o.catch_up {
        load.refill(&mut client).await?;
        let answer = client.push(load.batch(o.batch)).await?.into_inner();
        if let Some(pb::change_result::Outcome::Accepted(a)) =
            answer.results.last().and_then(|r| r.outcome.clone())
        {
            head = a.global_seq;
        }
    }
    let mut late = gateway.client("erfurt").await?;
    let started = Instant::now();
    let mut stream = late
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let mut events = 0u64;
    while let Some(event) = stream.message().await? {
        events += 1;
        if event.cursor >= head {
            break;
        }
    }
    let took = started.elapsed().as_secs_f64();
    figure(
        "catch_up",
        format!("catch-up of a site {head} changes behind"),
        head as f64 / took,
        "changes/s",
        format!("{:.2} s, {events} events (target 50000 changes/s)", took),
    );
    drop(stream);
    drop(four);
    drop(gateway);

    // Memory of a fresh gateway.
    let gateway = ServerProcess::start(Kind::Gateway, &fresh_dir(root.path(), "memory")?)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = gateway.rss_bytes()? as f64 / 1048576.0;
    figure(
        "memory_idle",
        "gateway resident memory, idle".into(),
        idle,
        "MiB",
        String::new(),
    );
    let mut streams = subscribers(&gateway, 4).await?;
    let four_mib = gateway.rss_bytes()? as f64 / 1048576.0;
    figure(
        "memory_4",
        "gateway resident memory, 4 subscribers".into(),
        four_mib,
        "MiB",
        String::new(),
    );
    streams.extend(subscribers(&gateway, o.subscribers.saturating_sub(4)).await?);
    let many = gateway.rss_bytes()? as f64 / 1048576.0;
    figure(
        "memory_many",
        format!("gateway resident memory, {} subscribers", o.subscribers),
        many,
        "MiB",
        "target < 64 MiB with 100".into(),
    );
    drop(streams);
    Ok(figures)
}

/// The figures as a table.
pub fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<62} {:>12} {:<13} {}\n",
        "measurement", "value", "unit", "detail"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<62} {:>12.1} {:<13} {}\n",
            f.name, f.value, f.unit, f.detail
        ));
    }
    out
}

/// The figures as JSON: `{key: {name, value, unit, detail}}` plus the machine.
pub fn to_json(figures: &[Figure]) -> Value {
    let mut map = serde_json::Map::new();
    for f in figures {
        map.insert(
            f.key.into(),
            json!({ "name": f.name, "value": f.value, "unit": f.unit, "detail": f.detail }),
        );
    }
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    json!({ "machine": { "cores": cores }, "figures": map })
}
