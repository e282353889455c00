//! Deterministic simulation of the sync protocol (issue 7): one gateway on the in-memory store
//! and three partner sites of two tenants run the production sync code on turmoil's simulated
//! network and clock. A seed decides each site's stream of writes and the weather on the
//! network: partitions between each site and the gateway, latency, lost TCP segments, held
//! traffic released late (reordering across connections), and gateway crashes and restarts.
//! At the end the network is healed; every seed must then converge and lose nothing:
//!
//! - every change a site accepted is in the gateway's log exactly once, with the content the
//!   site wrote, and reflected in the gateway's state;
//! - nothing is left in any outbox and nothing was refused (parked);
//! - every replica equals the gateway's redacted view for its tenant (canonical hash).
//!
//! Seeds: `HOTLINE_TURMOIL_SEEDS=N` runs seeds 1..=N (default [`DEFAULT_SEEDS`]),
//! `HOTLINE_TURMOIL_SEED=S` runs seed S alone. A failing seed prints the command that replays
//! it; `HOTLINE_TURMOIL_LOG=1` adds the fault timeline and the sync logs. A seed replays
//! exactly (checked by `a_seed_replays_identically`).
//!
//! How the simulation reaches the production code: the gateway serves its real Federation
//! service through `server::serve_incoming` over turmoil connections, vouching for each peer
//! by its simulated host name (the stand-in for mTLS), with the writer as a task on the host's
//! runtime (`WriterMode::Task`); each site runs the real `sync::run_with` loop over a tonic
//! channel on a turmoil socket, with a seeded reconnect jitter and applies on the runtime
//! thread. Local writes go through the same `Replica::local_change*` calls as the adapter API.
//!
//! What turmoil's network does to TCP: segments of one connection stay in order; a lost
//! segment (link `fail_rate`, or a partition, which drops what is in flight) is never
//! re-sent, so that connection stalls until HTTP/2 keepalive or a timeout ends it, exactly
//! like a black-holed TCP connection. Holding a link delays everything on it; releasing it
//! delivers the held traffic at once, after traffic of other links that went meanwhile.
//!
//! Physical clocks: the sites' HLC readings come from simulated time (plus the real time at
//! the seed's start); the gateway's `at_ms`, lease year and skew check and the adapter's
//! `now_ms` stay on the real clock. The checks do not depend on them: the log is compared by
//! (site, origin sequence) and content, states by canonical hash.

#[path = "sync_turmoil/checks.rs"]
mod checks;
#[path = "sync_turmoil/hosts.rs"]
mod hosts;
#[path = "sync_turmoil/weather.rs"]
mod weather;
#[path = "sync_turmoil/workload.rs"]
mod workload;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hotline_gateway::store::memory::MemoryStore;

use checks::{check, gateway_log, quiet};
use hosts::{GatewayCell, gateway_host, site_host};
use weather::Weather;
use workload::Rng;

/// Seeds run when neither `HOTLINE_TURMOIL_SEEDS` nor `HOTLINE_TURMOIL_SEED` is set.
const DEFAULT_SEEDS: u64 = 24;
/// The gateway's simulated host name and port.
const GATEWAY: &str = "gateway";
const PORT: u16 = 9443;
/// The sites: (site, tenant, focus teams it files tickets for). Two tenants, and one team
/// (`dealers-sales`) both handle, so visibility and PII redaction matter.
const SITES: [(&str, &str, &[&str]); 3] = [
    ("dortmund", "twenty4help", &["finance-hr", "dealers-sales"]),
    ("goerlitz", "twenty4help", &["dealers-sales"]),
    ("erfurt", "helpbycom", &["plants", "dealers-sales"]),
];
/// Simulated time of each step.
const TICK: Duration = Duration::from_millis(5);
/// How long the network misbehaves.
const WEATHER: Duration = Duration::from_secs(30);
/// HTTP/2 keepalive interval and timeout of the seeds that give up on silent connections fast.
const FAST_KEEPALIVE: Duration = Duration::from_secs(2);
/// How long the healed network gets to converge (HTTP/2 keepalive needs up to 25 s to give up
/// on a stalled connection).
const SETTLE: Duration = Duration::from_secs(120);

/// What a run leaves behind to compare between two runs of one seed.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    /// Simulated milliseconds until convergence.
    converged_at_ms: u64,
    /// The gateway log in order: (origin site, origin sequence).
    log: Vec<(String, u64)>,
    /// Per site: changes accepted locally, and changes re-pushed after a lost acknowledgement.
    sites: Vec<(u64, u64)>,
    /// Network and gateway events applied.
    weather: u64,
    /// Gateway crashes.
    crashes: u64,
    /// Sync sessions that ended.
    drops: u64,
}

impl Trace {
    fn duplicates(&self) -> u64 {
        self.sites.iter().map(|(_, d)| d).sum()
    }

    fn summary(&self) -> String {
        format!(
            "converged after {:.1} s simulated, {} changes, {} weather events, {} gateway \
             crashes, {} sessions ended, {} re-pushed duplicates",
            self.converged_at_ms as f64 / 1000.0,
            self.log.len(),
            self.weather,
            self.crashes,
            self.drops,
            self.duplicates()
        )
    }
}

/// Runs one seed to convergence and checks it.
fn run_seed(seed: u64) -> Result<Trace, String> {
    if verbose() {
        hotline_runtime::telemetry::init("text", "info");
    }
    // Declared before the simulation, so the stores' directories outlive the hosts using them.
    let dirs = (0..SITES.len())
        .map(|_| tempfile::tempdir())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("setup: {e}"))?;
    let base_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut rng = Rng::new(seed);
    let min_latency = rng.range(0..5);
    let max_latency = rng.range(min_latency + 1..100);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(TICK)
        .simulation_duration(WEATHER + SETTLE + Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(min_latency))
        .max_message_latency(Duration::from_millis(max_latency))
        .enable_random_order()
        .build();
    // Half the seeds keep the production keepalive (a stalled connection is given up after
    // up to 25 s, so a site sits out most of the weather on one), half give up in seconds and
    // so reconnect, resubscribe and re-push far more often.
    let fast_keepalive = rng.chance(50);
    let store = Arc::new(MemoryStore::new());
    let cell: GatewayCell = Arc::default();
    gateway_host(&mut sim, store.clone(), cell.clone(), fast_keepalive);
    let sites = (0..SITES.len())
        .map(|index| {
            let dir = dirs[index].path();
            site_host(&mut sim, seed, index, base_ms, fast_keepalive, dir)
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| format!("setup: {e:#}"))?;
    let mut weather = Weather {
        rng: Rng::new(seed ^ 0x5EED),
        until: BTreeMap::new(),
        gateway_down_until: None,
        applied: 0,
        crashes: 0,
    };
    let decide_every = Duration::from_millis(100);
    let mut next_decision = Duration::ZERO;
    let mut healed = false;
    let mut next_check = Duration::ZERO;
    let mut was_connected = vec![false; sites.len()];
    let mut drops = 0u64;
    loop {
        sim.step().map_err(|e| format!("simulation failed: {e}"))?;
        for (run, was) in sites.iter().zip(was_connected.iter_mut()) {
            let is = run.status.connected.load(Ordering::SeqCst);
            if *was && !is {
                drops += 1;
            }
            if *was != is && verbose() {
                eprintln!("t={:?} {} connected={is}", sim.elapsed(), run.site);
            }
            *was = is;
        }
        let now = sim.elapsed();
        if now < WEATHER {
            if now >= next_decision {
                weather.step(&mut sim, now);
                next_decision = now + decide_every;
            }
            continue;
        }
        if !healed {
            weather.clear(&mut sim);
            healed = true;
        }
        if now < next_check {
            continue;
        }
        next_check = now + Duration::from_millis(500);
        let gateway = cell.lock().unwrap().clone();
        let Some(gateway) = gateway else {
            continue;
        };
        let converged = quiet(&gateway, &sites).map_err(|e| format!("check: {e:#}"))?;
        if converged || now >= WEATHER + SETTLE {
            let mut problems = check(&gateway, &store, &sites);
            if !converged {
                problems.insert(
                    0,
                    format!("not converged {SETTLE:?} after the network was healed"),
                );
                for run in &sites {
                    let error = run.status.last_error.lock().clone();
                    problems.push(format!(
                        "{}: outbox {}, cursor {:?}, gateway head {}, last error {error:?}",
                        run.site,
                        run.replica.outbox_depth(),
                        run.replica.cursor().ok(),
                        gateway.head()
                    ));
                }
            }
            if !problems.is_empty() {
                return Err(problems.join("\n  "));
            }
            return Ok(Trace {
                converged_at_ms: now.as_millis() as u64,
                log: gateway_log(&store, &sites),
                sites: sites
                    .iter()
                    .map(|run| {
                        (
                            run.accepted.lock().unwrap().len() as u64,
                            run.status.duplicates.load(Ordering::SeqCst),
                        )
                    })
                    .collect(),
                weather: weather.applied,
                crashes: weather.crashes,
                drops,
            });
        }
    }
}

/// `HOTLINE_TURMOIL_LOG=1`: print the fault timeline, session changes and the sync logs.
fn verbose() -> bool {
    std::env::var_os("HOTLINE_TURMOIL_LOG").is_some()
}

/// The seeds to run, from the environment.
fn seeds() -> Vec<u64> {
    let parse = |name: &str, value: String| -> u64 {
        value.trim().parse().unwrap_or_else(|_| {
            panic!("{name}={value:?} is not a number; give a non-negative integer")
        })
    };
    if let Ok(seed) = std::env::var("HOTLINE_TURMOIL_SEED") {
        return vec![parse("HOTLINE_TURMOIL_SEED", seed)];
    }
    let count = match std::env::var("HOTLINE_TURMOIL_SEEDS") {
        Ok(count) => parse("HOTLINE_TURMOIL_SEEDS", count),
        Err(_) => DEFAULT_SEEDS,
    };
    (1..=count).collect()
}

/// Runs `seed`, turning a panic anywhere in the simulation into a failure of that seed.
fn run_caught(seed: u64) -> Result<Trace, String> {
    std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!("panicked: {text}"))
    })
}

/// Under partitions, delays, lost segments, reordering and gateway restarts, every seed
/// converges: each accepted change reaches the gateway exactly once and every site that may
/// see it, and every replica ends equal to the gateway's view for its tenant.
#[test]
fn every_seed_converges_and_loses_nothing() {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    let mut passed = Vec::new();
    for &seed in &seeds {
        match run_caught(seed) {
            Ok(trace) => {
                eprintln!("seed {seed}: {}", trace.summary());
                passed.push(trace);
            }
            Err(problems) => {
                eprintln!(
                    "seed {seed} FAILED:\n  {problems}\nreplay: HOTLINE_TURMOIL_SEED={seed} \
                     cargo test -p hotline-tests --test end_to_end sync_turmoil -- --nocapture"
                );
                failed.push(seed);
            }
        }
    }
    let total = |f: fn(&Trace) -> u64| passed.iter().map(f).sum::<u64>();
    eprintln!(
        "{} seeds, {} failed, {:.1} s; passing seeds: {} changes, {} gateway crashes, {} \
         sessions ended, {} re-pushed duplicates",
        seeds.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        total(|t| t.log.len() as u64),
        total(|t| t.crashes),
        total(|t| t.drops),
        total(Trace::duplicates),
    );
    assert!(
        failed.is_empty(),
        "seeds {failed:?} failed; replay one with HOTLINE_TURMOIL_SEED=<seed> cargo test -p \
         hotline-tests --test end_to_end sync_turmoil -- --nocapture"
    );
    if passed.len() >= 8 {
        // The weather must bite, or the seeds prove nothing: sessions die, the gateway
        // restarts, and acknowledgements get lost so changes are pushed twice.
        assert!(
            total(|t| t.drops) > 0 && total(|t| t.crashes) > 0 && total(Trace::duplicates) > 0,
            "the simulated faults never broke a session, crashed the gateway or lost an ack"
        );
    }
}

/// A seed replays: two runs of the same seed make the same writes, take the same time to
/// converge and leave the same gateway log, so the replay command reproduces a failure.
#[test]
fn a_seed_replays_identically() {
    let seed = seeds().first().copied().unwrap_or(1);
    let first = run_caught(seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let second = run_caught(seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(first, second, "seed {seed} did not replay identically");
}
