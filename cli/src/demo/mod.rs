//! `hotline demo`: a whole federation on this machine (gateway, in-house site and three
//! partner sites, a dev PKI), fed by a simulated day of calls, ending with what it shows.

pub mod erasure;
pub mod federation;
pub mod files;
pub mod knowledge;
pub mod link;
pub mod oversight;
pub mod random;
pub mod simulate;

use std::io::Write;
use std::time::{Duration, Instant};

use hotline_federation::EntityKind;

pub use federation::{FEDERATION, Federation, GatewayStorage, TOKEN};
pub use simulate::Outcome;

/// Options of a demo run.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// How many calls the simulated day has.
    pub calls: usize,
    /// Seed of the simulation.
    pub seed: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// One site's line of the convergence check.
#[derive(Clone, Debug)]
pub struct SiteCheck {
    /// Site id.
    pub site: String,
    /// Its tenant.
    pub tenant: String,
    /// Tickets the gateway lets this tenant see.
    pub tickets_visible: usize,
    /// Tickets the site's replica holds.
    pub tickets_held: usize,
    /// The replica's canonical hash, hex (first 16 digits).
    pub hash: String,
    /// The replica equals the gateway's view for the tenant.
    pub identical: bool,
}

/// What a demo run showed.
#[derive(Debug)]
pub struct DemoSummary {
    /// The simulation's figures.
    pub outcome: Outcome,
    /// Per-site convergence.
    pub sites: Vec<SiteCheck>,
    /// Time from the last call until every replica was current.
    pub settle: Duration,
    /// The gateway's log head at the end.
    pub gateway_head: u64,
    /// The customer erased midway (its byte scan is filled in after the federation stops).
    pub erasure: erasure::ErasureReport,
    /// The files attached, read and erased.
    pub files: files::FilesReport,
}

impl DemoSummary {
    /// Every replica equals the gateway's view for its tenant and holds every ticket it may see.
    pub fn converged(&self) -> bool {
        self.sites
            .iter()
            .all(|s| s.identical && s.tickets_held == s.tickets_visible)
    }
}

/// The site whose link the demo cuts for a while.
pub const OFFLINE_SITE: &str = "goerlitz";

/// Runs the simulation on a started federation and checks convergence.
pub async fn run(fed: &Federation, options: &DemoOptions) -> anyhow::Result<DemoSummary> {
    let mut rng = random::Random::new(options.seed);
    let mut last_shown = usize::MAX;
    let kb = knowledge::kb_dir();
    let articles = knowledge::publish(fed, &kb).await?;
    let queries = knowledge::caller_queries(&kb)?;
    let erased_ticket = erasure::open_ticket(fed).await?;
    let mut attached = files::attach_files(fed, &erased_ticket).await?;
    // Every site holds the brand and the articles before the first call.
    let started = Instant::now();
    while !fed.quiet().await? {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the sites did not receive the knowledge base within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    files::read_back(fed, &erased_ticket, &mut attached).await?;
    let mut outcome = simulate::simulate(
        fed,
        options.calls,
        OFFLINE_SITE,
        &queries,
        &mut rng,
        |done| {
            let percent = done * 100 / options.calls.max(1);
            if options.progress && percent != last_shown {
                last_shown = percent;
                let bar = "#".repeat(percent / 4) + &" ".repeat(25 - percent / 4);
                eprint!("\r  [{bar}] {percent:3}%  {done}/{} calls", options.calls);
                let _ = std::io::stderr().flush();
            }
        },
    )
    .await?;
    if options.progress {
        eprintln!();
    }
    let started = Instant::now();
    while !fed.quiet().await? {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the sites did not catch up within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let settle = started.elapsed();
    // Midway through the evening, a customer asks to be forgotten.
    let erased = erasure::erase(fed).await?;
    let erased_at = Instant::now();
    while !fed.quiet().await? {
        anyhow::ensure!(
            erased_at.elapsed() < Duration::from_secs(60),
            "the sites did not apply the erasure within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    files::after_erasure(fed, &mut attached).await?;
    outcome.articles = articles;
    let mut sites = Vec::new();
    for site in &fed.sites {
        let view = fed.gateway.view(site.tenant)?;
        let held = site.replica.snapshot()?;
        let tickets = |r: &hotline_federation::Replica| {
            r.entities
                .keys()
                .filter(|k| k.kind == EntityKind::Ticket)
                .count()
        };
        let hash = held.canonical_hash();
        sites.push(SiteCheck {
            site: site.id.into(),
            tenant: site.tenant.into(),
            tickets_visible: tickets(&view),
            tickets_held: tickets(&held),
            hash: hash[..8].iter().map(|b| format!("{b:02x}")).collect(),
            identical: hash == view.canonical_hash(),
        });
    }
    Ok(DemoSummary {
        outcome,
        sites,
        settle,
        gateway_head: fed.gateway.head(),
        erasure: erased,
        files: attached,
    })
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Prints the summary of the day.
pub fn print(summary: &DemoSummary) {
    let o = &summary.outcome;
    let mut lags = o.propagation_ms.clone();
    lags.sort_unstable();
    let quantile = |q: f64| {
        lags.get(((lags.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "Virtual Hotline demo: {} calls over one simulated day",
        o.calls
    );
    println!(
        "  calls:     {} answered, {} within 25 s ({:.1}% of offered), {} abandoned ({:.1}%)",
        o.answered,
        o.answered_in_time,
        percent(o.answered_in_time, o.calls),
        o.abandoned,
        percent(o.abandoned, o.calls)
    );
    let per_site: Vec<String> = o
        .tickets_by_site
        .iter()
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    println!("  tickets:   {} ({})", o.answered, per_site.join(", "));
    println!(
        "  first contact resolution {:.1}%; {} escalations to in-house, all resolved in munich",
        percent(o.first_contact, o.answered),
        o.escalated
    );
    println!(
        "  knowledge: {} articles published in munich; agents found an answer in the top 3 for {:.1}% of {} searches",
        o.articles,
        percent(o.search_hits, o.searches),
        o.searches
    );
    println!(
        "  one face:  {} public comments to customers; the leak guard refused {} that named a partner or site (rewritten, then sent)",
        o.public_comments, o.leak_refusals
    );
    println!(
        "  offline:   {OFFLINE_SITE} worked without the gateway for 15% of the day and created {} tickets meanwhile",
        o.offline_tickets
    );
    println!(
        "  sync:      another site could read a new ticket after p50 {} ms, p99 {} ms, max {} ms ({} samples);",
        quantile(0.5),
        quantile(0.99),
        lags.last().copied().unwrap_or(0),
        lags.len()
    );
    println!(
        "             every replica was current {} ms after the last call; gateway log head {}",
        summary.settle.as_millis(),
        summary.gateway_head
    );
    println!("  replicas (each compared with the gateway's view for its tenant):");
    for s in &summary.sites {
        println!(
            "    {:<9} {:<12} {:>5} tickets visible, {:>5} held, hash {}  {}",
            s.site,
            s.tenant,
            s.tickets_visible,
            s.tickets_held,
            s.hash,
            if s.identical {
                "identical"
            } else {
                "DIFFERENT"
            }
        );
    }
}

/// Prints where to look while the federation runs: the status page, the staff dashboard's
/// sign-in link, the gateway and each site's API.
pub fn print_addresses(
    summary: &DemoSummary,
    fed: &Federation,
    dir: &std::path::Path,
    dashboard: &str,
) {
    let o = &summary.outcome;
    println!("  look at:");
    if let Some((number, code)) = &o.sample {
        println!(
            "    customer  http://{}/   ticket {number}, access code {code}",
            fed.status_page
        );
    }
    println!("    dashboard {dashboard}   (staff, admin; the link works once)");
    println!(
        "    gateway   https://{} (mTLS; PKI and staff certificate in {})",
        fed.gateway_addr,
        dir.join("pki").display()
    );
    for site in &fed.sites {
        println!(
            "    {:<9} http://{}/v1/sync/status   (Authorization: Bearer {TOKEN})",
            site.id, site.api.addr
        );
    }
    println!(
        "    API description: http://{}/openapi.json",
        fed.sites[0].api.addr
    );
}

/// Where the demo keeps its files: a temporary directory removed at the end, or `kept`, which
/// must be new or empty (a second run into the same directory would mix two federations).
fn data_dir(kept: Option<&std::path::Path>) -> anyhow::Result<DemoDir> {
    let Some(path) = kept else {
        let dir = tempfile::Builder::new().prefix("hotline-demo-").tempdir()?;
        return Ok(DemoDir::Temporary(dir));
    };
    if path.exists() {
        let mut entries = std::fs::read_dir(path).map_err(|e| {
            anyhow::anyhow!(
                "--data-dir {}: not a readable directory: {e}",
                path.display()
            )
        })?;
        anyhow::ensure!(
            entries.next().is_none(),
            "--data-dir {} is not empty; give a new or empty directory",
            path.display()
        );
    }
    std::fs::create_dir_all(path)?;
    Ok(DemoDir::Kept(path.to_owned()))
}

/// The demo's data directory.
enum DemoDir {
    /// Removed when dropped.
    Temporary(tempfile::TempDir),
    /// Left in place.
    Kept(std::path::PathBuf),
}

impl DemoDir {
    fn path(&self) -> &std::path::Path {
        match self {
            DemoDir::Temporary(dir) => dir.path(),
            DemoDir::Kept(path) => path,
        }
    }
}

/// `hotline demo`: starts the federation in `kept` (or a temporary directory), runs the day,
/// prints the report with the gateway's figures, review reports, dashboard link and audit
/// verdict, and fails when the replicas did not converge or the audit trail is broken.
pub async fn command(
    calls: usize,
    seed: u64,
    keep_running: bool,
    kept: Option<&std::path::Path>,
    storage: &str,
    postgres_url: Option<String>,
) -> anyhow::Result<()> {
    anyhow::ensure!(calls > 0, "--calls must be at least 1");
    anyhow::ensure!(
        matches!(storage, "auto" | "postgres"),
        "--storage {storage:?} is not known; allowed: auto (the default engine on disk), postgres"
    );
    anyhow::ensure!(
        storage == "postgres" || postgres_url.is_none(),
        "--postgres-url needs --storage postgres"
    );
    // The environment keeps a password off the command line (and out of `ps`).
    let postgres_url = postgres_url.or_else(|| {
        (storage == "postgres")
            .then(|| std::env::var("HOTLINE_POSTGRES_URL").ok())
            .flatten()
    });
    // Links are cut on purpose; keep the sites' reconnect warnings out of the report.
    hotline_runtime::telemetry::init("text", "error");
    let dir = data_dir(kept)?;
    // A server of the demo's own when none is given; stopped and removed at the end.
    let mut local_server = None;
    let gateway_storage = match (storage, postgres_url) {
        ("postgres", Some(url)) => {
            println!("The gateway stores in the given PostgreSQL database.");
            GatewayStorage {
                postgres_url: Some(url),
            }
        }
        ("postgres", None) => {
            let server = hotline_runtime::local_postgres::LocalPostgres::start()?;
            println!(
                "The gateway stores in PostgreSQL: a throwaway server of the demo's own on \
                 127.0.0.1:{} (removed at the end).",
                server.port()
            );
            let url = server.url("postgres");
            local_server = Some(server);
            GatewayStorage {
                postgres_url: Some(url),
            }
        }
        _ => GatewayStorage::default(),
    };
    println!(
        "Starting a gateway and four sites in {} ...",
        dir.path().display()
    );
    let fed = Federation::start(dir.path(), OFFLINE_SITE, &gateway_storage).await?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut summary = run(
        &fed,
        &DemoOptions {
            calls,
            seed,
            progress,
        },
    )
    .await?;
    let seen = oversight::gather(&fed, dir.path(), summary.outcome.day_start_ms).await?;
    print(&summary);
    oversight::print(&seen);
    print_addresses(&summary, &fed, dir.path(), &seen.dashboard);
    if keep_running {
        println!("Running until Ctrl-C ...");
        tokio::signal::ctrl_c().await?;
    }
    fed.stop().await?;
    erasure::rewrite_and_scan(dir.path(), &gateway_storage, &mut summary.erasure)?;
    drop(local_server);
    erasure::print(&summary.erasure);
    files::print(&summary.files);
    anyhow::ensure!(summary.converged(), "the replicas did not converge");
    anyhow::ensure!(
        files::ok(&summary.files),
        "the files were not stored once, read back or erased as shown"
    );
    anyhow::ensure!(
        summary.erasure.pending.is_empty() && summary.erasure.found.is_empty(),
        "the erasure did not reach every site or left data behind"
    );
    if let Some(broken) = &seen.audit.broken {
        anyhow::bail!("the audit trail does not verify: {broken}");
    }
    Ok(())
}
