//! `hotline bench --storage postgres`: the gateway on PostgreSQL (one gateway, and two replicas)
//! beside the default engine in one run,
//! with the baseline of plain batched INSERTs of the same record size (B4), so the ratios say
//! what the gateway's own work costs on top of the database.

use std::time::Instant;

use hotline_runtime::local_postgres::LocalPostgres;
use tokio_postgres::NoTls;

use super::measure::{
    catch_up, closed_loop, fresh_dir, percentile, propagation, propagation_detail, writers_on,
};
use super::server::{Kind, ServerProcess};
use super::{BenchOptions, Figure};

/// The figures; a throwaway local server of the bench's own unless `url` names a database
/// (which then gets a table `hotline_b4` and a schema `hotline_bench`, both replaced).
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
    // The same figures on each: the default engine, PostgreSQL with one gateway, and two
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
            replicas: vec![ServerProcess::start(
                Kind::Gateway,
                &fresh_dir(root.path(), "redb")?,
            )?],
        },
        Setup {
            keys: [
                "ingest_4_postgres",
                "propagation_p99_postgres",
                "catch_up_postgres",
            ],
            name: "PostgreSQL, 1 gateway",
            replicas: on_postgres(
                &fresh_dir(root.path(), "postgres")?,
                &url,
                "hotline_bench",
                1,
            )?,
        },
        Setup {
            keys: [
                "ingest_4_postgres_2",
                "propagation_p99_postgres_2",
                "catch_up_postgres_2",
            ],
            name: "PostgreSQL, 2 gateway replicas",
            replicas: on_postgres(
                &fresh_dir(root.path(), "postgres-2")?,
                &url,
                "hotline_bench_2",
                2,
            )?,
        },
    ];
    for setup in setups {
        let ([ingest_key, propagation_key, catch_up_key], engine) = (setup.keys, setup.name);
        let servers: Vec<&ServerProcess> = setup.replicas.iter().collect();
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
                "p50 {:.2} ms, p99 {:.2} ms per push; {:.0}% of B4 batch {group}",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                100.0 * ingest / b4.max(f64::MIN_POSITIVE)
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

/// One configuration measured: its gateway processes.
struct Setup {
    /// Its figures' keys in `--json`: ingest, propagation p99, catch-up.
    keys: [&'static str; 3],
    name: &'static str,
    replicas: Vec<ServerProcess>,
}

/// `count` gateway processes on `schema` of `url`, sharing the PKI and audit key in `dir`
/// (started one after another: the first makes the schema and the key).
fn on_postgres(
    dir: &std::path::Path,
    url: &str,
    schema: &str,
    count: usize,
) -> anyhow::Result<Vec<ServerProcess>> {
    (0..count)
        .map(|_| ServerProcess::start_on_postgres(dir, url, schema))
        .collect()
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
