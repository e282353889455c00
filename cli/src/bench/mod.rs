//! `hotline bench`: how close the gateway runs to this machine's limits. In one run it measures
//! baselines (raw tonic unary and streaming over the same mTLS, raw sled batches) and the real
//! gateway (ingest, propagation, catch-up, memory), and reports each figure with its ratio to
//! the baseline measured in the same run.

mod adapter;
mod engines;
pub mod growth;
pub mod load;
mod measure;
pub mod mock;
mod postgres;
mod report;
pub mod server;

use std::time::Duration;

use measure::{
    closed_loop, fan_out, fresh_dir, percentile, propagation, propagation_detail, raw_sled,
    subscribers, writers,
};
pub use report::{Figure, table, to_json};
use server::{Kind, ServerProcess};

/// The options of `hotline bench`; unset sizes come from the full run (or the smoke run).
#[derive(Clone, Debug, clap::Args)]
pub struct BenchArgs {
    /// A quick run that only proves every measurement works.
    #[arg(long)]
    pub smoke: bool,
    /// Seconds per throughput measurement.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Changes per push.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Changes the catch-up measurement replays.
    #[arg(long)]
    pub catch_up: Option<u64>,
    /// Subscribers of the last memory figure.
    #[arg(long)]
    pub subscribers: Option<usize>,
    /// Print JSON instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Measure the gateway on this storage instead of the default figures: `postgres` gives
    /// the baseline of plain batched INSERTs (B4) and ingest, propagation and catch-up on
    /// PostgreSQL with one and with two gateway replicas, beside the default engine, in one
    /// run (a throwaway local server unless --postgres-url names a database).
    #[arg(long, value_parser = ["postgres"])]
    pub storage: Option<String>,
    /// The database for `--storage postgres` (postgres://user[:password]@host[:port]/database);
    /// it gets a table `hotline_b4` and schemas `hotline_bench` and `hotline_bench_2`.
    #[arg(long, requires = "storage")]
    pub postgres_url: Option<String>,
    /// Another mode instead of the default figures (`growth`).
    #[command(subcommand)]
    pub mode: Option<BenchMode>,
}

/// The modes of `hotline bench` besides its default figures.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum BenchMode {
    /// How cost grows with the store's size and the number of connected sites.
    Growth(growth::GrowthArgs),
    /// Only the adapter API figure and its baseline (B3 batch 1), e.g. to profile the adapter.
    Adapter,
    /// Only the embedded engines side by side (sled, redb with and without quick repair).
    Engines,
}

/// `hotline bench`: runs every measurement and prints the figures.
pub fn command(args: BenchArgs) -> anyhow::Result<()> {
    if let (Some(storage), Some(mode)) = (&args.storage, &args.mode) {
        let mode = match mode {
            BenchMode::Growth(_) => "growth",
            BenchMode::Adapter => "adapter",
            BenchMode::Engines => "engines",
        };
        anyhow::bail!(
            "--storage {storage} is a run of its own and does not combine with the mode `{mode}`; \
             run `hotline bench --storage {storage}` or `hotline bench {mode}` without --storage"
        );
    }
    let mode = match args.mode {
        Some(BenchMode::Growth(growth)) => return growth::command(growth),
        mode => mode,
    };
    let mut options = if args.smoke {
        BenchOptions::smoke()
    } else {
        BenchOptions::full()
    };
    options.seconds = args.seconds.unwrap_or(options.seconds);
    options.batch = args.batch.unwrap_or(options.batch);
    options.catch_up = args.catch_up.unwrap_or(options.catch_up);
    options.subscribers = args.subscribers.unwrap_or(options.subscribers);
    hotline_runtime::telemetry::init("text", "error");
    let figures = match mode {
        Some(BenchMode::Engines) => {
            let root = tempfile::Builder::new()
                .prefix("hotline-bench-")
                .tempdir()?;
            engines::figures(root.path(), options.seconds)?
        }
        Some(BenchMode::Adapter) => until_interrupted(run_adapter(&options))?,
        _ if args.storage.is_some() => {
            until_interrupted(postgres::figures(&options, args.postgres_url))?
        }
        _ => until_interrupted(run(&options))?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&to_json(&figures))?);
    } else {
        print!("{}", table(&figures));
    }
    Ok(())
}

/// Runs `work` (a bench run) on a new runtime until it ends or a SIGINT or SIGTERM arrives.
/// An interrupted run is dropped before this returns, so its temporary directories (gigabytes
/// after a growth fill, which once filled this machine's disk) are removed and its gateway and
/// adapter processes stopped instead of being left behind; a second signal exits at once.
pub(crate) fn until_interrupted<T>(
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let interrupted = tokio_util::sync::CancellationToken::new();
        hotline_runtime::shutdown::install(interrupted.clone())?;
        tokio::select! {
            result = work => result,
            () = interrupted.cancelled() => Err(anyhow::anyhow!(
                "interrupted: the run stopped its servers and removed its temporary files; \
                 no figures were written"
            )),
        }
    })
}

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
    /// Sites pushing at once in the many-site ingest figure.
    pub many_sites: usize,
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
            many_sites: 32,
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
            many_sites: 8,
        }
    }
}

/// The name of the adapter's baseline figure (key `b3_sled_1`).
const B3_ONE: &str = "B3 raw sled, batch 1 + flush + fdatasync";

/// The adapter API figure after its baseline, B3 batch 1 (`hotline bench adapter`).
pub async fn run_adapter(o: &BenchOptions) -> anyhow::Result<Vec<Figure>> {
    let root = tempfile::Builder::new()
        .prefix("hotline-bench-")
        .tempdir()?;
    let b3_one = raw_sled(root.path(), 1, o.seconds, true)?;
    let mut figures = vec![Figure {
        key: "b3_sled_1",
        name: B3_ONE.into(),
        value: b3_one,
        unit: "records/s",
        detail: String::new(),
    }];
    figures.extend(adapter::creates(root.path(), o.seconds, b3_one).await?);
    Ok(figures)
}

/// Runs every measurement; the figures in table order.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Vec<Figure>> {
    let root = tempfile::Builder::new()
        .prefix("hotline-bench-")
        .tempdir()?;
    let o = options;
    let mut figures = Vec::new();
    let mut figure = |key, name: String, value: f64, unit, detail: String| {
        figures.push(Figure::noted(key, name, value, unit, detail));
    };

    // Baselines.
    let b3_one = raw_sled(root.path(), 1, o.seconds, true)?;
    let b3 = raw_sled(root.path(), o.batch, o.seconds, true)?;
    let b3_group = raw_sled(root.path(), o.batch * 4, o.seconds, true)?;
    let b3_group_unsynced = raw_sled(root.path(), o.batch * 4, o.seconds, false)?;
    figure(
        "b3_sled_1",
        B3_ONE.into(),
        b3_one,
        "records/s",
        String::new(),
    );
    figure(
        "b3_sled_batch",
        format!("B3 raw sled, batch {} + flush + fdatasync", o.batch),
        b3,
        "records/s",
        String::new(),
    );
    figure(
        "b3_sled_group",
        format!("B3 raw sled, batch {} + flush + fdatasync", o.batch * 4),
        b3_group,
        "records/s",
        String::new(),
    );
    figure(
        "b3_sled_group_unsynced",
        format!("B3 raw sled, batch {} + flush only", o.batch * 4),
        b3_group_unsynced,
        "records/s",
        format!(
            "sled's own flush, not durable on power loss: fdatasync costs {:.0}% at this batch",
            (1.0 - b3_group / b3_group_unsynced.max(f64::MIN_POSITIVE)) * 100.0
        ),
    );

    for f in adapter::creates(root.path(), o.seconds, b3_one).await? {
        figure(f.key, f.name, f.value, f.unit, f.detail);
    }
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
        propagation_detail(&lat),
    );

    // Catch-up: a site that was away while catch_up changes happened.
    let (head, took, events) =
        measure::catch_up(&mut client, &mut load, o.batch, o.catch_up, &gateway).await?;
    figure(
        "catch_up",
        format!("catch-up of a site {head} changes behind"),
        head as f64 / took,
        "changes/s",
        format!("{:.2} s, {events} events (target 50000 changes/s)", took),
    );
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
    drop(gateway);

    // Many sites pushing at once, on a gateway of its own (its extra sites lift the per-tenant
    // quotas, which the figures above are measured with).
    let dir = fresh_dir(root.path(), "many")?;
    let extra = o.many_sites.saturating_sub(measure::SITES.len());
    growth::sites::register(&dir, extra)?;
    let gateway = ServerProcess::start(Kind::Gateway, &dir)?;
    let mut pushers = writers(&gateway, measure::SITES.len(), true).await?;
    for i in 0..extra {
        let site = growth::sites::site_id(i);
        let mut client = gateway.client(&site).await?;
        let load =
            load::SiteLoad::new(&mut client, &site, growth::sites::tenant_of(i), 2_000).await?;
        pushers.push((client, load));
    }
    let sites = pushers.len();
    let (many, _, lat, _) = closed_loop(pushers, o.batch, o.seconds, true).await?;
    figure(
        "ingest_many",
        format!("gateway ingest, {sites} sites"),
        many,
        "changes/s",
        format!(
            "p50 {:.2} ms, p99 {:.2} ms per push; {:.0}% of B3 batch {}; {:.2}x the 4-site figure",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            100.0 * many / b3_group,
            o.batch * 4,
            many / ingest.max(f64::MIN_POSITIVE)
        ),
    );
    drop(gateway);
    figures.extend(engines::figures(root.path(), o.seconds)?);
    Ok(figures)
}
