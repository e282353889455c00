//! `hotline bench --storage postgres`: the gateway on PostgreSQL (one gateway, and two replicas)
//! beside the embedded engines (redb, the default, and sled) in one run, with the baselines of
//! plain batched INSERTs (B4) and of raw sled batches (B3) of the same record size, so the
//! ratios say what the gateway's own work costs on top of each store.

use std::time::Instant;

use hotline_runtime::local_postgres::LocalPostgres;
use tokio_postgres::NoTls;

use super::measure::{
    catch_up, closed_loop, fresh_dir, percentile, propagation, propagation_detail, raw_sled,
    writers_on,
};
use super::server::{Kind, ServerProcess};
use super::{BenchOptions, Figure};

/// The figures; a throwaway local server of the bench's own unless `url` names a database
/// (which then gets a table `hotline_b4` and schemas `hotline_bench` and `hotline_bench_2`,
/// each replaced).
pub(super) async fn figures(o: &BenchOptions, url: Option<String>) -> anyhow::Result<Vec<Figure>> {
    let root = tempfile::Builder::new()
        .prefix("hotline-bench-")
        .tempdir()?;
    let (_local, url) = match url {
        Some(url) => (None, url),
        None => {
            let server = LocalPostgres::start()?;
            let url = server.url("postgres");
            (Some(server), url)
        }
    };
    let mut figures = Vec::new();
    let mut figure = |key, name: String, value: f64, unit, detail: String| {
        figures.push(Figure::noted(key, name, value, unit, detail));
    };
    let group = o.batch * 4;
    let b4_one = b4_inserts(&url, 1, o.seconds).await?;
    figure(
        "b4_postgres_1",
        "B4 plain INSERT, 1 row of 1 KB + synchronous commit".into(),
        b4_one,
        "rows/s",
        String::new(),
    );
    let b4 = b4_inserts(&url, group, o.seconds).await?;
    figure(
        "b4_postgres_group",
        format!("B4 plain batched INSERT, {group} rows of 1 KB + synchronous commit"),
        b4,
        "rows/s",
        String::new(),
    );
    // The embedded engines' baseline, the same batch of the same records into raw sled.
    let b3 = raw_sled(root.path(), group, o.seconds, true)?;
    figure(
        "b3_sled_group",
        format!("B3 raw sled, batch {group} + flush + fdatasync"),
        b3,
        "records/s",
        String::new(),
    );
    // The same figures on each: the default engine, sled, PostgreSQL with one gateway, and two
    // gateway replicas on one PostgreSQL schema (sites spread over both; propagation and
    // catch-up read at the replica that did not accept the pushes).
    let setups = [
        Setup {
            keys: [
                "ingest_4_default",
                "propagation_p99_default",
                "catch_up_default",
            ],
            name: "default engine (redb)",
            store: Storage::Engine("redb"),
        },
        Setup {
            keys: ["ingest_4_sled", "propagation_p99_sled", "catch_up_sled"],
            name: "sled",
            store: Storage::Engine("sled"),
        },
        Setup {
            keys: [
                "ingest_4_postgres",
                "propagation_p99_postgres",
                "catch_up_postgres",
            ],
            name: "PostgreSQL, 1 gateway",
            store: Storage::Postgres("hotline_bench", 1),
        },
        Setup {
            keys: [
                "ingest_4_postgres_2",
                "propagation_p99_postgres_2",
                "catch_up_postgres_2",
            ],
            name: "PostgreSQL, 2 gateway replicas",
            store: Storage::Postgres("hotline_bench_2", 2),
        },
    ];
    // A database given by URL may hold the schemas of an earlier run, whose audit trail is
    // signed with that run's key: they go first.
    drop_schemas(&url, &setups).await?;
    for setup in setups {
        let ([ingest_key, propagation_key, catch_up_key], engine) = (setup.keys, setup.name);
        // Started here and stopped at the end of the iteration, so no other setup's gateways
        // share the cores while one is measured.
        let replicas = setup.store.start(root.path(), &url)?;
        let servers: Vec<&ServerProcess> = replicas.iter().collect();
        // The reader: the replica the pushing site (dortmund, site 0) is not on, if any.
        let reader = servers[servers.len() - 1];
        let (ingest, _, lat, mut four) = closed_loop(
            writers_on(&servers, 4, true).await?,
            o.batch,
            o.seconds,
            true,
        )
        .await?;
        figure(
            ingest_key,
            format!("gateway ingest, 4 sites, {engine}"),
            ingest,
            "changes/s",
            format!(
                "p50 {:.2} ms, p99 {:.2} ms per push; {:.0}% of B4, {:.0}% of B3 (batch {group})",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                100.0 * ingest / b4.max(f64::MIN_POSITIVE),
                100.0 * ingest / b3.max(f64::MIN_POSITIVE)
            ),
        );
        let (mut client, mut load) = four.remove(0);
        let lat = propagation(reader, &mut load, &mut client, ingest * 0.5, o.seconds).await?;
        figure(
            propagation_key,
            format!(
                "propagation to 3 sites at 50% load ({:.0} changes/s), {engine}",
                ingest * 0.5
            ),
            percentile(&lat, 0.99),
            "ms",
            propagation_detail(&lat),
        );
        let (head, took, events) =
            catch_up(&mut client, &mut load, o.batch, o.catch_up, reader).await?;
        figure(
            catch_up_key,
            format!("catch-up of a site {head} changes behind, {engine}"),
            head as f64 / took,
            "changes/s",
            format!("{took:.2} s, {events} events"),
        );
    }
    Ok(figures)
}

/// One configuration measured.
struct Setup {
    /// Its figures' keys in `--json`: ingest, propagation p99, catch-up.
    keys: [&'static str; 3],
    name: &'static str,
    store: Storage,
}

/// Where a setup's gateways store.
enum Storage {
    /// One gateway on this embedded engine.
    Engine(&'static str),
    /// This many gateway processes on this schema of the bench's database.
    Postgres(&'static str, usize),
}

impl Storage {
    /// The setup's gateway processes, each with the PKI (and on PostgreSQL the audit key) in
    /// one directory under `root`; replicas start one after another (the first makes the
    /// schema and the key).
    fn start(&self, root: &std::path::Path, url: &str) -> anyhow::Result<Vec<ServerProcess>> {
        match *self {
            Storage::Engine(engine) => Ok(vec![ServerProcess::start_on(
                Kind::Gateway,
                &fresh_dir(root, engine)?,
                Some(engine),
            )?]),
            Storage::Postgres(schema, count) => {
                let dir = fresh_dir(root, schema)?;
                (0..count)
                    .map(|_| ServerProcess::start_on_postgres(&dir, url, schema))
                    .collect()
            }
        }
    }
}

/// Drops the PostgreSQL schemas of `setups` from the database at `url`.
async fn drop_schemas(url: &str, setups: &[Setup]) -> anyhow::Result<()> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    for setup in setups {
        if let Storage::Postgres(schema, _) = setup.store {
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await?;
        }
    }
    Ok(())
}

/// Rows of 1 KB per second, inserted `batch` at a time, each batch one transaction committed
/// synchronously (the database's default): what the gateway's group commit does per group,
/// without anything of the gateway.
async fn b4_inserts(url: &str, batch: usize, seconds: f64) -> anyhow::Result<f64> {
    let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "DROP TABLE IF EXISTS hotline_b4;
             CREATE TABLE hotline_b4 (k bytea PRIMARY KEY, v bytea NOT NULL)",
        )
        .await?;
    let insert = client
        .prepare("INSERT INTO hotline_b4 (k, v) SELECT * FROM UNNEST($1::bytea[], $2::bytea[])")
        .await?;
    let values = vec![vec![7u8; 1024]; batch];
    let (started, mut next) = (Instant::now(), 0u64);
    while started.elapsed().as_secs_f64() < seconds {
        let keys: Vec<Vec<u8>> = (next..next + batch as u64)
            .map(|k| k.to_be_bytes().to_vec())
            .collect();
        next += batch as u64;
        let tx = client.transaction().await?;
        tx.execute(&insert, &[&keys, &values]).await?;
        tx.commit().await?;
    }
    client.batch_execute("DROP TABLE hotline_b4").await?;
    Ok(next as f64 / started.elapsed().as_secs_f64())
}
