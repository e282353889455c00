//! `hotline bench growth`: how the gateway's cost grows with the store and with the number of
//! connected sites. It fills a real gateway through the push RPC to each size in turn and
//! measures ingest, Fetch p99, a new site's snapshot (time and the gateway's peak memory),
//! catch-up and disk bytes per ticket; then it connects more and more sites (each its own mTLS
//! connection and subscription) and measures the gateway's memory and propagation p99. The
//! result is a table, JSON and an SVG plot ([`plot`]).

pub mod plot;
mod report;
pub mod sites;
mod steps;

use std::path::PathBuf;

pub use report::{GrowthReport, SitesPoint, SizePoint, table};

use hotline_gateway::state::system_now_ms;

use super::measure::{SITES, fresh_dir, percentile};
use super::server::{Kind, ServerProcess};

/// The options of `hotline bench growth`.
#[derive(Clone, Debug, clap::Args)]
pub struct GrowthArgs {
    /// Store sizes to fill to, in tickets, ascending (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<u64>>,
    /// Connected-site counts, ascending (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub site_counts: Option<Vec<usize>>,
    /// Small sizes that only prove every measurement works.
    #[arg(long)]
    pub quick: bool,
    /// Seconds per timed measurement (ingest, Fetch, propagation).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where to write the SVG plot.
    #[arg(long, default_value = "docs/growth.svg")]
    pub svg: PathBuf,
    /// The gateway's storage engine.
    #[arg(long, default_value = hotline_gateway::store::engine::DEFAULT_ENGINE, value_parser = ["redb", "sled"])]
    pub storage: String,
}

/// Sizes and durations of a growth run.
#[derive(Clone, Debug)]
pub struct GrowthOptions {
    /// Store sizes in tickets, ascending.
    pub sizes: Vec<u64>,
    /// Connected-site counts, ascending.
    pub site_counts: Vec<usize>,
    /// Seconds per timed measurement.
    pub seconds: f64,
    /// Comments each filled ticket gets.
    pub comments: u64,
    /// Changes the catch-up figure replays (at most what the store holds).
    pub catch_up: u64,
    /// Changes per second the sites' propagation figure pushes (each a comment of about 1 KB).
    pub propagation_rate: f64,
    /// The gateway's storage engine (`sled`, `redb`).
    pub storage: String,
    /// Tickets the fill opens in one calendar year before it turns the gateway's clock to the
    /// next one (one federation can number at most 999,999 tickets a year: `MAX_TICKET_NUMBER`;
    /// the rest of a year's numbers stay for the sites' leases).
    pub year_capacity: u64,
}

/// Tickets the full run opens in one year (see [`GrowthOptions::year_capacity`]).
const YEAR_CAPACITY: u64 = 950_000;

impl GrowthOptions {
    /// The full run: 10k, 100k and 1M tickets; 10, 100 and 1,000 sites.
    pub fn full() -> Self {
        GrowthOptions {
            sizes: vec![10_000, 100_000, 1_000_000],
            site_counts: vec![10, 100, 1_000],
            seconds: 5.0,
            comments: 3,
            catch_up: 20_000,
            propagation_rate: 50.0,
            storage: hotline_gateway::store::engine::DEFAULT_ENGINE.into(),
            year_capacity: YEAR_CAPACITY,
        }
    }

    /// Small sizes for the test suite; the year turns once, at 500 tickets, so the turn is
    /// tested too.
    pub fn quick() -> Self {
        GrowthOptions {
            sizes: vec![200, 1_000],
            site_counts: vec![3, 10],
            seconds: 0.3,
            comments: 3,
            catch_up: 300,
            propagation_rate: 50.0,
            storage: hotline_gateway::store::engine::DEFAULT_ENGINE.into(),
            year_capacity: 500,
        }
    }

    /// Checks the sizes: non-empty, positive and ascending.
    pub fn validate(&self) -> anyhow::Result<()> {
        let ascending = |v: &[u64]| v.windows(2).all(|w| w[0] < w[1]);
        anyhow::ensure!(
            !self.sizes.is_empty() && self.sizes[0] > 0 && ascending(&self.sizes),
            "--sizes {:?}: give one or more ticket counts above 0, strictly ascending (e.g. 10000,100000)",
            self.sizes
        );
        let counts: Vec<u64> = self.site_counts.iter().map(|&n| n as u64).collect();
        anyhow::ensure!(
            counts.first().is_none_or(|&n| n > 0) && ascending(&counts) && counts.len() <= 8,
            "--site-counts {:?}: give up to 8 site counts above 0, strictly ascending (e.g. 10,100,1000)",
            self.site_counts
        );
        anyhow::ensure!(
            ["sled", "redb"].contains(&self.storage.as_str()),
            "--storage {:?}: the growth mode measures sled or redb",
            self.storage
        );
        anyhow::ensure!(
            self.seconds > 0.0,
            "--seconds {}: must be above 0",
            self.seconds
        );
        anyhow::ensure!(
            (1..=YEAR_CAPACITY).contains(&self.year_capacity),
            "a year's capacity of {} tickets: must be 1 to {YEAR_CAPACITY}",
            self.year_capacity
        );
        Ok(())
    }
}

/// `hotline bench growth`: runs the growth measurements, prints the table and writes the JSON
/// and the SVG.
pub fn command(args: GrowthArgs) -> anyhow::Result<()> {
    let mut options = if args.quick {
        GrowthOptions::quick()
    } else {
        GrowthOptions::full()
    };
    options.sizes = args.sizes.unwrap_or(options.sizes);
    options.site_counts = args.site_counts.unwrap_or(options.site_counts);
    options.seconds = args.seconds.unwrap_or(options.seconds);
    options.storage = args.storage;
    options.validate()?;
    hotline_runtime::telemetry::init("text", "error");
    let report = super::until_interrupted(run(&options))?;
    print!("{}", table(&report));
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    if let Some(parent) = args.svg.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.svg, plot::svg(&report))?;
    eprintln!("wrote {}", args.svg.display());
    Ok(())
}

/// Runs the growth measurements.
pub async fn run(options: &GrowthOptions) -> anyhow::Result<GrowthReport> {
    options.validate()?;
    let root = tempfile::Builder::new()
        .prefix("hotline-growth-")
        .tempdir()?;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = GrowthReport {
        cores,
        storage: options.storage.clone(),
        comments_per_ticket: options.comments,
        propagation_rate: options.propagation_rate,
        empty_ingest_changes_per_s: 0.0,
        empty_ingest_trials: Vec::new(),
        sizes: Vec::new(),
        final_disk_bytes: 0,
        final_audit_entries: 0,
        final_audit_verify_seconds: 0.0,
        final_audit_resumed_verify_seconds: 0.0,
        restart_after_kill_seconds: 0.0,
        final_live_bytes: 0,
        year_turned_at: Vec::new(),
        ticket_years: Vec::new(),
        sites: Vec::new(),
    };

    // The yardstick of each size's ingest: the same ingest, each run on an empty store of its
    // own (on the growing store it would open tens of thousands of tickets before the first
    // size, and a second run would no longer start empty).
    for run in 0..steps::INGEST_TRIALS {
        let dir = fresh_dir(root.path(), &format!("empty-{run}"))?;
        sites::register(&dir, 1)?;
        let gateway = ServerProcess::start_on(Kind::Gateway, &dir, Some(&options.storage))?;
        let mut fill = steps::Fill::start(&gateway, options.comments).await?;
        report
            .empty_ingest_trials
            .extend(fill.ingest(options.seconds, 1).await?);
        drop((fill, gateway));
        std::fs::remove_dir_all(&dir)?;
    }
    report.empty_ingest_changes_per_s = steps::median(&report.empty_ingest_trials);
    eprintln!(
        "ingest on an empty store: {:.0} changes/s (median of {:.0?})",
        report.empty_ingest_changes_per_s, report.empty_ingest_trials
    );

    // The store growing.
    let dir = fresh_dir(root.path(), "store")?;
    sites::register(&dir, 1)?;
    let storage = Some(options.storage.as_str());
    let mut gateway = ServerProcess::start_on(Kind::Gateway, &dir, storage)?;
    let mut fill = steps::Fill::start(&gateway, options.comments).await?;
    // The gateway's clock, moved a year on each time the fill has opened a year's capacity.
    let (mut clock_offset_ms, mut year_began_at) = (0, 0);
    for &size in &options.sizes {
        // Saturating: the ingest of a smaller size may have opened more tickets than this one.
        while size.saturating_sub(year_began_at) > options.year_capacity {
            fill.to(year_began_at + options.year_capacity).await?;
            // Stopped cleanly (stdin closed), as at a year's end; started in the next January.
            drop(gateway);
            clock_offset_ms = steps::next_year_offset(system_now_ms(), clock_offset_ms);
            gateway = ServerProcess::start_shifted(Kind::Gateway, &dir, storage, clock_offset_ms)?;
            fill.turn_year(&gateway).await?;
            year_began_at = fill.tickets();
            report.year_turned_at.push(year_began_at);
            eprintln!(
                "  the year turned at {year_began_at} tickets (the gateway restarted with its clock in the next January)"
            );
        }
        report
            .sizes
            .push(steps::at_size(&gateway, &mut fill, size, options).await?);
    }
    report.ticket_years = fill.years();
    drop(fill);
    // Recovery: the gateway killed at the largest size, and started again on what it left.
    gateway.kill()?;
    let restarting = std::time::Instant::now();
    let gateway = ServerProcess::start_shifted(Kind::Gateway, &dir, storage, clock_offset_ms)?;
    report.restart_after_kill_seconds = restarting.elapsed().as_secs_f64();
    eprintln!(
        "restart after a kill at the largest size: {:.2} s",
        report.restart_after_kill_seconds
    );
    drop(gateway);
    // The disk rule: the store on disk against its live bytes, read back after the gateway
    // stopped (both engines lock their files).
    let data = dir.join("gateway");
    report.final_disk_bytes = steps::dir_bytes(&data)?;
    let cache = hotline_gateway::config::DEFAULT_STORAGE_CACHE_MIB << 20;
    let (_, store) = hotline_gateway::store::engine::open(&options.storage, &data, cache)?;
    report.final_live_bytes = hotline_gateway::store::live_bytes(store.as_ref())?;
    eprintln!(
        "store after the last size: {} MiB on disk for {} MiB live",
        report.final_disk_bytes >> 20,
        report.final_live_bytes >> 20
    );
    // What the gateway's own verify of the trail costs at this size (whole at start and every
    // six hours, going on from the last in between): the same calls, timed here with nothing
    // else running.
    let config = crate::demo::federation::gateway_config(&dir);
    let key = hotline_gateway::audit::AuditKey::load_or_create(&config.audit_key_path())?;
    let verifying = std::time::Instant::now();
    let (verdict, reached) =
        hotline_gateway::audit::verify_store_since(store.as_ref(), &key.public, None)?;
    report.final_audit_verify_seconds = verifying.elapsed().as_secs_f64();
    report.final_audit_entries = verdict.checked;
    anyhow::ensure!(
        verdict.broken.is_none(),
        "the audit trail after the growth run does not verify: {:?}",
        verdict.broken
    );
    let resuming = std::time::Instant::now();
    let (again, _) =
        hotline_gateway::audit::verify_store_since(store.as_ref(), &key.public, reached.as_ref())?;
    report.final_audit_resumed_verify_seconds = resuming.elapsed().as_secs_f64();
    anyhow::ensure!(
        again == verdict,
        "the verify going on from the whole one answered {again:?}, the whole one {verdict:?}"
    );
    drop(store);
    eprintln!(
        "one full audit verify of {} entries: {:.2} s; one going on from its end: {:.1} ms",
        report.final_audit_entries,
        report.final_audit_verify_seconds,
        report.final_audit_resumed_verify_seconds * 1000.0
    );

    // Sites connecting.
    let dir = fresh_dir(root.path(), "sites")?;
    let most = options.site_counts.last().copied().unwrap_or(0);
    eprintln!("issuing {most} site certificates");
    sites::register(&dir, most)?;
    let gateway = ServerProcess::start_on(Kind::Gateway, &dir, Some(&options.storage))?;
    let (site, tenant) = SITES[0];
    let mut client = gateway.client(site).await?;
    let mut load = super::load::SiteLoad::new(&mut client, site, tenant, 10_000).await?;
    client.push(load.batch(1)).await?;
    let mut streams = Vec::new();
    for &count in &options.site_counts {
        let connected = streams.len();
        streams.extend(sites::subscribe(&gateway, connected, count).await?);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let rss = gateway.rss_bytes()? as f64 / 1048576.0;
        let (latencies, sent, back) = sites::propagation(
            streams,
            &mut client,
            &mut load,
            options.propagation_rate,
            options.seconds,
        )
        .await?;
        streams = back;
        let point = SitesPoint {
            sites: count,
            rss_mib: rss,
            propagation_p50_ms: percentile(&latencies, 0.5),
            propagation_p99_ms: percentile(&latencies, 0.99),
            changes_timed: latencies.len(),
            changes_sent: sent,
        };
        eprintln!(
            "  {count} sites: {rss:.1} MiB, propagation p99 {:.2} ms",
            point.propagation_p99_ms
        );
        report.sites.push(point);
    }
    drop(streams);
    Ok(report)
}
