//! The crash harness: a gateway and three partner adapters run as real processes under a steady
//! write load through the adapters' HTTP APIs, and are SIGKILLed at random moments for N
//! cycles, then restarted. Afterwards every write an API acknowledged is at the gateway exactly
//! once, and every site's replica has the same canonical hash as the gateway's view for its
//! tenant, so everything acknowledged reached every site that may see it.
//!
//! `HOTLINE_CRASH_CYCLES` sets N (20 by default, the CI size), `HOTLINE_CRASH_SEED` the seed
//! of the kill schedule and the load, and `HOTLINE_CRASH_STORAGE` the gateway's engine (`sled`
//! or `redb`; unset: both in turn, so the CI run covers each engine with the same schedule;
//! PostgreSQL alone when the suite runs on it, `HOTLINE_TEST_STORAGE=postgres`). On PostgreSQL
//! the gateway is two replica processes on one database (`HOTLINE_CRASH_REPLICAS`, 1 or 2,
//! default 2): the sites are spread over them, each naming the other as its failover, and a
//! gateway kill takes one replica at random (or both, with everything else). A
//! failure prints the command that runs the same schedule again. Process timing is real, so a
//! seed replays the schedule, not every interleaving. Progress goes to stderr every few
//! seconds; the end prints kills, acknowledged writes, restart times and the store's disk size
//! against its live bytes. BENCHMARKS.md records the long runs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hotline_gateway::config::GatewayConfig;
use hotline_tests::harness::{Pki, federation_config};
use hotline_tests::processes::{
    ChildProcess, adapter_toml, child_gateway_command, gateway_toml, spawn_until_listening,
};
use hotline_tests::sites::{adapter_config, api, child_adapter_command, eventually};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "crash_harness/check.rs"]
mod check;
use check::check;

/// A small deterministic generator (splitmix64) for the schedule and the load.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One partner site: its config, process and current API address (None while it is down).
struct Site {
    tenant: &'static str,
    id: &'static str,
    /// Focus teams its tenant handles, so it may open tickets for them.
    teams: &'static [&'static str],
    data_dir: PathBuf,
    config_path: PathBuf,
    process: Option<ChildProcess>,
    addr: Arc<Mutex<Option<SocketAddr>>>,
    /// How long each start took until the API listened (the store's check included).
    start_times: Vec<Duration>,
    /// The gateway address the site starts with (`gateway.url`); it fails over to the others.
    first_gateway: String,
}

impl Site {
    async fn start(&mut self) -> anyhow::Result<()> {
        let command = child_adapter_command(&self.config_path)?;
        let started = Instant::now();
        let (process, addr) = tokio::task::spawn_blocking(move || {
            spawn_until_listening(command, "adapter API listening")
        })
        .await??;
        self.start_times.push(started.elapsed());
        self.process = Some(process);
        *self.addr.lock().expect("lock") = Some(addr);
        Ok(())
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        *self.addr.lock().expect("lock") = None;
        if let Some(mut process) = self.process.take() {
            process.kill()?;
        }
        Ok(())
    }
}

/// One gateway process, restarted at the address it first bound.
struct Gateway {
    config: GatewayConfig,
    config_path: PathBuf,
    process: Option<ChildProcess>,
    /// Starts that failed and were tried again (a store that did not open, a lingering socket).
    failed_starts: u64,
    /// How long each start took until the gateway listened (opening the store included).
    start_times: Vec<Duration>,
}

impl Gateway {
    async fn start(&mut self) -> anyhow::Result<SocketAddr> {
        let mut tries = 0;
        loop {
            let command = child_gateway_command(&self.config_path)?;
            let started = Instant::now();
            match tokio::task::spawn_blocking(move || spawn_until_listening(command, "listening"))
                .await?
            {
                Ok((process, addr)) => {
                    self.start_times.push(started.elapsed());
                    self.process = Some(process);
                    return Ok(addr);
                }
                // The old socket may linger for a moment after a SIGKILL.
                Err(e) if tries < 50 => {
                    tries += 1;
                    self.failed_starts += 1;
                    eprintln!("crash harness: gateway restart failed, retrying: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            process.kill()?;
        }
        Ok(())
    }
}

/// What the APIs acknowledged.
#[derive(Default)]
struct Ledger {
    /// customer ref -> ticket number.
    tickets: BTreeMap<String, String>,
    /// (ticket number, comment body, tenant of the writer).
    comments: Vec<(String, String, &'static str)>,
    /// Acknowledged ticket numbers by the site that opened them.
    opened: BTreeMap<&'static str, Vec<String>>,
    /// Acknowledged tickets of `dealers-sales`, which every site may comment on.
    shared: Vec<String>,
    /// Answers by HTTP status (0: no answer, e.g. the process died mid-request).
    statuses: BTreeMap<u16, u64>,
}

impl Ledger {
    fn acknowledged(&self) -> usize {
        self.tickets.len() + self.comments.len()
    }
}

/// What one site's tool needs: who it writes as and where the site's API is now.
struct Tool {
    tenant: &'static str,
    site: &'static str,
    teams: &'static [&'static str],
    addr: Arc<Mutex<Option<SocketAddr>>>,
}

/// One site's tool: opens tickets and comments on tickets it can see, as fast as the API answers.
async fn load(
    tool: Tool,
    ledger: Arc<Mutex<Ledger>>,
    seed: u64,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let Tool {
        tenant,
        site,
        teams,
        addr,
    } = tool;
    let mut rng = Rng(seed);
    let mut n = 0u64;
    while !stop.is_cancelled() {
        let current = *addr.lock().expect("lock");
        let Some(current) = current else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let api = api(current);
        n += 1;
        // A ticket this site may comment on: one it opened, or any of the team every tenant
        // handles (picked by index, so the ledger is not copied per request).
        let target = {
            let ledger = ledger.lock().expect("lock");
            let own = ledger
                .opened
                .get(site)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let choices = (own.len() + ledger.shared.len()) as u64;
            (choices > 0).then(|| {
                let i = rng.below(choices) as usize;
                own.get(i)
                    .unwrap_or_else(|| &ledger.shared[i - own.len()])
                    .clone()
            })
        };
        if target.is_none() || rng.below(10) < 6 {
            let customer = format!("{site}-{n}");
            let team = teams[rng.below(teams.len() as u64) as usize];
            let body = json!({ "customer_ref": customer, "focus_team": team, "category": "vpn" });
            let answer = api.call("POST", "/v1/tickets", &body).await;
            let mut ledger = ledger.lock().expect("lock");
            let status = answer.as_ref().map(|(s, _)| *s).unwrap_or(0);
            *ledger.statuses.entry(status).or_default() += 1;
            if let Ok((201, ticket)) = answer {
                let number = ticket["number"].as_str().unwrap_or_default().to_owned();
                ledger.opened.entry(site).or_default().push(number.clone());
                if team == "dealers-sales" {
                    ledger.shared.push(number.clone());
                }
                ledger.tickets.insert(customer, number);
            }
        } else if let Some(number) = &target {
            let visibility = ["public", "federation", "tenant"][rng.below(3) as usize];
            // Unique per site and request, and free of partner names: a public comment naming
            // its site is refused by the leak guard (422), which would leave fewer comments for
            // the check to find.
            let text = format!("note {seed:x} {n}");
            let body =
                json!({ "author_alias": "Advisor 7", "visibility": visibility, "body": text });
            let answer = api
                .call("POST", &format!("/v1/tickets/{number}/comments"), &body)
                .await;
            let mut ledger = ledger.lock().expect("lock");
            let status = answer.as_ref().map(|(s, _)| *s).unwrap_or(0);
            *ledger.statuses.entry(status).or_default() += 1;
            if let Ok((201, _)) = answer {
                ledger.comments.push((number.clone(), text, tenant));
            }
        }
        anyhow::ensure!(
            !matches!(ledger.lock().expect("lock").statuses.get(&500), Some(n) if *n > 0),
            "an adapter answered 500 Internal Server Error"
        );
    }
    Ok(())
}

/// Waits until every site is connected, has pushed its outbox and is at the same gateway head
/// as the others, twice in a row.
async fn wait_until_quiet(sites: &[Site]) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut last = None;
    loop {
        let mut heads = Vec::new();
        let mut states = Vec::new();
        for site in sites {
            let Some(addr) = *site.addr.lock().expect("lock") else {
                anyhow::bail!("site {} is not running", site.id)
            };
            let (_, sync) = api(addr)
                .call("GET", "/v1/sync/status", &Value::Null)
                .await?;
            anyhow::ensure!(
                sync["dead_letters"] == 0,
                "site {} parked changes as dead letters: {sync}",
                site.id
            );
            if sync["connected"] == true && sync["outbox_depth"] == 0 && sync["lag"] == 0 {
                heads.push(sync["cursor"].as_u64().unwrap_or(0));
            }
            states.push(sync);
        }
        let head = heads.first().copied();
        if heads.len() == sites.len() && heads.windows(2).all(|w| w[0] == w[1]) {
            if head == last {
                return Ok(());
            }
            last = head;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the sites did not become quiet within 120 s: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The harness; `cycles` kills with the schedule of `seed`, the gateway storing in `engine`
/// as `replicas` processes (more than one only on a shared database).
async fn run(seed: u64, cycles: u64, engine: &str, replicas: usize) -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let root = tempfile::tempdir()?;
    let mut rng = Rng(seed);
    let began = Instant::now();
    let label = if replicas > 1 {
        format!("{engine}, {replicas} replicas")
    } else {
        engine.to_owned()
    };

    let mut config = federation_config(&pki, &root.path().join("gateway"));
    if engine != "postgres" {
        config.storage = engine.to_owned();
    }
    if replicas > 1 {
        // Replicas share the database (the schema chosen for the first directory) and sign the
        // one trail's checkpoints with one key.
        config.audit.signing_key = Some(root.path().join("audit-signing.key"));
    }
    let mut gateways = Vec::new();
    let mut addrs = Vec::new();
    for r in 0..replicas {
        let mut config = config.clone();
        if r > 0 {
            config.data_dir = root.path().join(format!("gateway-{r}"));
        }
        let mut gateway = Gateway {
            config_path: root.path().join(format!("gateway-{r}.toml")),
            config: config.clone(),
            process: None,
            failed_starts: 0,
            start_times: Vec::new(),
        };
        std::fs::write(&gateway.config_path, gateway_toml(&config))?;
        let addr = gateway.start().await?;
        // Restarts must come back where the adapters look.
        config.listen = addr.to_string();
        gateway.config = config.clone();
        std::fs::write(&gateway.config_path, gateway_toml(&config))?;
        gateways.push(gateway);
        addrs.push(addr);
    }

    let layout: [(&str, &str, &[&str]); 3] = [
        (
            "inhouse",
            "munich",
            &["finance-hr", "plants", "bank", "dealers-sales"],
        ),
        ("twenty4help", "dortmund", &["finance-hr", "dealers-sales"]),
        ("helpbycom", "erfurt", &["plants", "dealers-sales"]),
    ];
    let mut sites = Vec::new();
    for (i, (tenant, id, teams)) in layout.into_iter().enumerate() {
        let data_dir = root.path().join(id);
        // Site i starts at replica i (mod replicas) and fails over to the others in turn.
        let mut adapter = adapter_config(&pki, tenant, id, addrs[i % replicas], &data_dir)?;
        adapter.gateway.replicas = (1..replicas)
            .map(|k| format!("https://{}", addrs[(i + k) % replicas]))
            .collect();
        let config_path = root.path().join(format!("{id}.toml"));
        std::fs::write(&config_path, adapter_toml(&adapter))?;
        let mut site = Site {
            tenant,
            id,
            teams,
            data_dir,
            config_path,
            process: None,
            addr: Arc::new(Mutex::new(None)),
            start_times: Vec::new(),
            first_gateway: adapter.gateway.url.clone(),
        };
        site.start().await?;
        sites.push(site);
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let stop = CancellationToken::new();
    let mut writers = Vec::new();
    for (i, site) in sites.iter().enumerate() {
        let tool = Tool {
            tenant: site.tenant,
            site: site.id,
            teams: site.teams,
            addr: site.addr.clone(),
        };
        let tool_seed = seed ^ (i as u64 + 1).wrapping_mul(0x1234_5678_9abc_def1);
        writers.push(tokio::spawn(load(
            tool,
            ledger.clone(),
            tool_seed,
            stop.clone(),
        )));
    }

    let mut kills = BTreeMap::<&str, u64>::new();
    let mut failover = Failover::default();
    let mut last_progress = Instant::now();
    for cycle in 0..cycles {
        if last_progress.elapsed() >= Duration::from_secs(5) {
            last_progress = Instant::now();
            let ledger = ledger.lock().expect("lock");
            eprintln!(
                "crash harness [{label}]: cycle {cycle}/{cycles}, kills {}, acknowledged {} tickets and {} comments, {:.0} s",
                kills.values().sum::<u64>(),
                ledger.tickets.len(),
                ledger.comments.len(),
                began.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        let before = ledger.lock().expect("lock").acknowledged();
        // 0: the gateway; 1-3: one site; 4: the gateway and one site; 5: everything.
        let choice = rng.below(6);
        let site = rng.below(sites.len() as u64) as usize;
        // Which replicas go: one at random, or all of them with everything else. (No draw
        // with one replica, so its schedules stay those of a single gateway.)
        let killed_gateways: Vec<usize> = match choice {
            5 => (0..replicas).collect(),
            0 | 4 if replicas > 1 => vec![rng.below(replicas as u64) as usize],
            0 | 4 => vec![0],
            _ => Vec::new(),
        };
        let killed_sites: Vec<usize> = match choice {
            1..=4 => vec![site],
            5 => (0..sites.len()).collect(),
            _ => Vec::new(),
        };
        if choice != 5 {
            failover.replica_kills += killed_gateways.len() as u64;
        }
        for &r in &killed_gateways {
            gateways[r].kill()?;
            *kills.entry(REPLICA_NAMES[r]).or_default() += 1;
        }
        for &i in &killed_sites {
            sites[i].kill()?;
            *kills.entry(sites[i].id).or_default() += 1;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(150))).await;
        for &r in &killed_gateways {
            gateways[r].start().await?;
        }
        // Killed sites start together, as after a power cut of the site hosts.
        let starting = sites
            .iter_mut()
            .enumerate()
            .filter(|(i, _)| killed_sites.contains(i))
            .map(|(_, site)| site.start());
        futures_util::future::try_join_all(starting).await?;
        // Every cycle must see writes acknowledged again before the next kill.
        eventually(60, "writes acknowledged after the restart", || {
            let now = ledger.lock().expect("lock").acknowledged();
            async move { Ok(now >= before + 3) }
        })
        .await
        .map_err(|e| anyhow::anyhow!("cycle {cycle}: {e}"))?;
        if replicas > 1 {
            for site in &sites {
                let gateway = connected_gateway(site).await?;
                failover.sampled += u64::from(gateway.is_some());
                failover.elsewhere += u64::from(gateway.is_some_and(|g| g != site.first_gateway));
            }
        }
    }

    stop.cancel();
    for writer in writers {
        writer.await??;
    }
    wait_until_quiet(&sites).await?;
    for site in &mut sites {
        *site.addr.lock().expect("lock") = None;
        if let Some(mut process) = site.process.take() {
            process.terminate()?;
        }
    }
    for gateway in &mut gateways {
        if let Some(mut process) = gateway.process.take() {
            process.terminate()?;
        }
    }

    let ledger = Arc::try_unwrap(ledger)
        .map_err(|_| anyhow::anyhow!("a writer still holds the ledger"))?
        .into_inner()
        .expect("lock");
    let run_time = began.elapsed();
    println!(
        "[{label}] seed {seed}: {cycles} cycles in {:.1} s, kills {kills:?}, acknowledged {} tickets and {} comments, answers by status {:?}",
        run_time.as_secs_f64(),
        ledger.tickets.len(),
        ledger.comments.len(),
        ledger.statuses
    );
    for (r, gateway) in gateways.iter().enumerate() {
        println!(
            "[{label}] {} starts: {}, failed starts retried: {}",
            REPLICA_NAMES[r],
            start_summary(&gateway.start_times),
            gateway.failed_starts
        );
    }
    if replicas > 1 {
        println!(
            "[{label}] failover: {} of {} samples of a connected site's gateway (one per site \
             and cycle) found it on a replica other than its first",
            failover.elsewhere, failover.sampled
        );
        // Every session end moves a site to the next replica, so killing the replicas sites
        // are on must show sites elsewhere; a short run may kill too little to tell. (Only
        // kills of one replica count: a kill of everything restarts the sites as well.)
        let replica_kills = failover.replica_kills;
        anyhow::ensure!(
            cycles < 10 || replica_kills < 3 || failover.elsewhere > 0,
            "{replica_kills} kills of one replica, yet no site was ever seen on a replica other than \
             its first: the failover did not happen"
        );
    }
    for site in &sites {
        println!(
            "[{label}] {} adapter starts: {}",
            site.id,
            start_summary(&site.start_times)
        );
    }
    check(&gateways[0].config, &sites, &ledger).await
}

/// What the harness saw of the sites' failover between replicas.
#[derive(Default)]
struct Failover {
    /// Samples of a connected site's gateway address.
    sampled: u64,
    /// Of those, the site was on a replica other than its first.
    elsewhere: u64,
    /// Kills of one replica while the sites ran on (a kill of everything restarts the sites,
    /// which begin again at their first replica).
    replica_kills: u64,
}

/// The gateway address `site`'s session is with (`GET /v1/sync/status`), if it is running and
/// connected.
async fn connected_gateway(site: &Site) -> anyhow::Result<Option<String>> {
    let Some(addr) = *site.addr.lock().expect("lock") else {
        return Ok(None);
    };
    let (status, sync) = api(addr)
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    anyhow::ensure!(status == 200, "sync status of {}: {status} {sync}", site.id);
    Ok(sync["gateway"].as_str().map(str::to_owned))
}

/// The names of the gateway replicas in the kill counts and start summaries.
const REPLICA_NAMES: [&str; 2] = ["gateway", "gateway-1"];

/// "N (mean, slowest and the mean of the last tenth)" of start times, each until listening.
fn start_summary(starts: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = |starts: &[Duration]| {
        starts.iter().sum::<Duration>() / u32::try_from(starts.len().max(1)).unwrap_or(u32::MAX)
    };
    let last_tenth = &starts[starts.len() - starts.len() / 10..];
    format!(
        "{} (mean {:.0} ms, slowest {:.0} ms, mean of the last tenth {:.0} ms; each until listening)",
        starts.len(),
        ms(mean(starts)),
        ms(starts.iter().max().copied().unwrap_or_default()),
        ms(mean(if last_tenth.is_empty() {
            starts
        } else {
            last_tenth
        })),
    )
}

/// SIGKILLs of the gateway and the adapters at random moments under load lose no acknowledged
/// write, duplicate none, leave every replica equal to the gateway's view for its tenant, and
/// never leave an accepted change without its audit entry (the trail verifies, every receipt
/// a site kept matches), with the gateway on sled and on redb, and on PostgreSQL as two
/// replica processes whose sites fail over between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_sigkills_lose_nothing_acknowledged() {
    let cycles = std::env::var("HOTLINE_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed = std::env::var("HOTLINE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    // On the PostgreSQL run of the suite the gateway's store is the database (and the engines
    // on disk had their run already).
    let on_postgres = hotline_tests::backend::on_postgres();
    let engines: Vec<String> = match std::env::var("HOTLINE_CRASH_STORAGE") {
        Ok(engine) if matches!(engine.as_str(), "sled" | "redb") && !on_postgres => vec![engine],
        Ok(other) => panic!(
            "HOTLINE_CRASH_STORAGE={other:?} is not known here; allowed: sled, redb (and \
             neither when HOTLINE_TEST_STORAGE=postgres, which runs the gateway on PostgreSQL)"
        ),
        Err(_) if on_postgres => vec!["postgres".into()],
        Err(_) => vec!["sled".into(), "redb".into()],
    };
    let replicas = match std::env::var("HOTLINE_CRASH_REPLICAS").as_deref() {
        Err(_) if on_postgres => 2,
        Err(_) | Ok("1") => 1,
        Ok("2") if on_postgres => 2,
        Ok(other) => panic!(
            "HOTLINE_CRASH_REPLICAS={other:?} is not allowed here; allowed: 1, or 2 when the \
             gateway stores in PostgreSQL (HOTLINE_TEST_STORAGE=postgres): replicas share one \
             database, an embedded engine's file belongs to one process"
        ),
    };
    for engine in engines {
        println!(
            "crash harness: seed {seed}, {cycles} cycles, storage {engine}, {replicas} gateway process(es)"
        );
        if let Err(e) = run(seed, cycles, &engine, replicas).await {
            let storage = if engine == "postgres" {
                format!(
                    "HOTLINE_TEST_STORAGE=postgres HOTLINE_TEST_POSTGRES_URL=<server> HOTLINE_CRASH_REPLICAS={replicas}"
                )
            } else {
                format!("HOTLINE_CRASH_STORAGE={engine}")
            };
            panic!(
                "crash harness failed on {engine}: {e:#}\nrun the same schedule again with:\n  \
                 {storage} HOTLINE_CRASH_SEED={seed} HOTLINE_CRASH_CYCLES={cycles} cargo test -p hotline-tests --test end_to_end crash_harness -- --nocapture"
            );
        }
    }
}
