//! The gateway on PostgreSQL (issue 18) with a server of the test's own ([`LocalPostgres`]),
//! which the tests crash and restart: pushes are refused with UNAVAILABLE while the database is
//! down, nothing acknowledged is lost, and the gateway takes pushes again once it is back
//! without a restart of its own; a second gateway on a database another one writes to is
//! refused at start and takes over, with everything, once the first has stopped.
//!
//! Where PostgreSQL is not installed these tests pass with a notice, unless
//! `HOTLINE_REQUIRE_POSTGRES` is set (as `.ci/run` does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hotline_gateway::config::GatewayConfig;
use hotline_runtime::local_postgres::LocalPostgres;
use hotline_tests::changes::{number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, federation_config, gateway_view, lease, subscribe_until,
};

fn server() -> Option<LocalPostgres> {
    LocalPostgres::start_for_test("a PostgreSQL backend test")
}

/// The federation of the tests on `server`'s database `postgres`.
fn on_server(pki: &Pki, dir: &std::path::Path, server: &LocalPostgres) -> GatewayConfig {
    let mut config = federation_config(pki, dir);
    config.storage = "postgres".into();
    config.postgres.url = server.url("postgres");
    config
}

/// dortmund pushes tickets one by one while the database is crashed and restarted. Every push
/// acknowledged before the crash, during the outage (none) and after it is at the gateway
/// exactly once and reaches munich; while it is down, pushes fail with UNAVAILABLE; each refused
/// push, sent again afterwards, is taken (new, or a duplicate when its commit had reached the
/// database before the crash cut the answer off).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_crash_under_load_loses_nothing_acknowledged() -> anyhow::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    let gateway = RunningGateway::start(on_server(&pki, dir.path(), &server)).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 400).await?;

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let mut unavailable = 0;
    let mut crashed_at = None;
    let mut restarted = false;
    let started = Instant::now();
    for i in 0..400u64 {
        let id = number(&block, i);
        let change = open_ticket(&id, "twenty4help", "dortmund", "dealers-sales", i + 1);
        match dortmund.push(push(std::slice::from_ref(&change))).await {
            Ok(_) => acknowledged.push(id),
            Err(status) => {
                assert_eq!(
                    status.code(),
                    tonic::Code::Unavailable,
                    "a push while the database is down: {status:?}"
                );
                unavailable += 1;
                refused.push(change);
            }
        }
        if i == 100 {
            server.kill()?;
            crashed_at = Some(Instant::now());
        }
        if !restarted && crashed_at.is_some_and(|t| t.elapsed() > Duration::from_millis(700)) {
            server.restart()?;
            restarted = true;
        }
        if crashed_at.is_some() && !restarted {
            // Refusals come back at once: pace them over the outage.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if restarted && acknowledged.len() >= 250 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not finish in 60 s"
        );
    }
    assert!(restarted, "the database was restarted mid-load");
    assert!(
        unavailable > 0,
        "some pushes reached the gateway while the database was down"
    );
    assert!(
        acknowledged.len() >= 250,
        "{} acknowledged",
        acknowledged.len()
    );

    // The refused pushes, sent again now: taken, none refused.
    for change in &refused {
        dortmund.push(push(std::slice::from_ref(change))).await?;
        acknowledged.push(change.key.id.clone());
    }

    let view = gateway_view(&gateway.state, "inhouse")?;
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for entity in view.entities.values() {
        if entity.key.kind == hotline_federation::model::EntityKind::Ticket {
            *held.entry(entity.key.id.as_str()).or_default() += 1;
        }
    }
    for id in &acknowledged {
        assert_eq!(held.get(id.as_str()), Some(&1), "ticket {id}");
    }
    assert_eq!(
        held.len(),
        acknowledged.len(),
        "nothing but what was pushed: {:?}",
        held.keys()
            .filter(|id| !acknowledged.iter().any(|a| a == *id))
            .collect::<Vec<_>>()
    );

    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let events = subscribe_until(&mut munich, 0, gateway.head()).await?;
    let mut replica = hotline_federation::Replica::default();
    apply_events("inhouse", &mut replica, &events)?;
    assert_eq!(replica, view, "munich holds the gateway's view");
    gateway.stop().await
}

/// One gateway writes to a database: a second one started on it is refused with the reason;
/// once the first has stopped the second starts on the same database with every ticket, the
/// log head and the leased numbers (it leases after them, never the same again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_is_refused_then_takes_over() -> anyhow::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<2>()?;
    let first = RunningGateway::start(on_server(&pki, dirs[0].path(), &server)).await?;
    let mut dortmund = first.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 5).await?;
    let ids: Vec<String> = (0..5).map(|i| number(&block, i)).collect();
    let changes: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| open_ticket(id, "twenty4help", "dortmund", "dealers-sales", i as u64 + 1))
        .collect();
    dortmund.push(push(&changes)).await?;
    let head = first.head();

    let refused = match RunningGateway::start(on_server(&pki, dirs[1].path(), &server)).await {
        Ok(_) => anyhow::bail!("a second gateway started on the same database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("another gateway"), "{refused}");
    first.stop().await?;

    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        match RunningGateway::start(on_server(&pki, dirs[1].path(), &server)).await {
            Ok(gateway) => break gateway,
            Err(e) if Instant::now() < deadline => {
                assert!(format!("{e:#}").contains("another gateway"), "{e:#}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    };
    assert_eq!(second.head(), head);
    let view = gateway_view(&second.state, "twenty4help")?;
    for id in &ids {
        assert!(
            view.entities.values().any(|e| &e.key.id == id),
            "ticket {id} after the takeover"
        );
    }
    let mut dortmund = second.site_client(&pki, "twenty4help", "dortmund").await?;
    let next = lease(&mut dortmund, 5).await?;
    let next_ids: Vec<String> = (0..5).map(|i| number(&next, i)).collect();
    assert!(
        next_ids.iter().all(|id| !ids.contains(id)),
        "numbers leased again: {next_ids:?} after {ids:?}"
    );
    second.stop().await
}
