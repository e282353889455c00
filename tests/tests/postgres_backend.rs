//! The gateway on PostgreSQL (issue 18) with a server of the test's own ([`LocalPostgres`]),
//! which the tests crash and restart: pushes are refused with UNAVAILABLE while the database is
//! down, nothing acknowledged is lost or applied twice, and the gateway takes pushes again once
//! it is back without a restart of its own; two gateways on one database act as one gateway
//! for sites connected to either.
//!
//! Where PostgreSQL is not installed these tests pass with a notice, unless
//! `HOTLINE_REQUIRE_POSTGRES` is set (as `.ci/run` does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hotline_gateway::config::GatewayConfig;
use hotline_gateway::store::{Pages, Store, keys};
use hotline_runtime::local_postgres::LocalPostgres;
use hotline_tests::changes::{number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, federation_config, gateway_view, lease, subscribe_until,
    tickets_by_customer,
};
use hotline_tests::processes::{
    ChildProcess, child_gateway_command, gateway_toml, spawn_until_listening,
};
use hotline_tests::sites::{RunningAdapter, adapter_config, eventually, temp_dirs};
use serde_json::{Value, json};

fn server() -> Option<LocalPostgres> {
    LocalPostgres::start_for_test("a PostgreSQL backend test")
}

/// The federation of the tests on `server`'s database `postgres`.
fn on_server(pki: &Pki, dir: &std::path::Path, server: &LocalPostgres) -> GatewayConfig {
    let mut config = federation_config(pki, dir);
    config.storage = "postgres".into();
    config.postgres.url = server.url("postgres");
    // One schema for every gateway of the test, whatever the suite's backend chose per
    // directory.
    config.postgres.schema = "public".into();
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
    // Each ticket's opening is in the log exactly once: nothing applied twice.
    let entries = log_entries_by_entity(gateway.state.store.as_ref())?;
    for id in &acknowledged {
        assert_eq!(entries.get(id.as_str()), Some(&1), "log entries of {id}");
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

/// How many log entries name each entity, by id (the whole log, a page at a time).
fn log_entries_by_entity(store: &dyn Store) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut pages = Pages::new(keys::log(0), keys::log(u64::MAX), 512);
    let mut counts = BTreeMap::new();
    while let Some(page) = pages.next_page(store)? {
        for (_, raw) in page {
            let (key, _) = hotline_gateway::log::decode_record_head(&raw)?;
            *counts.entry(key.id).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Two gateways on one database, sites connected to either: dortmund (on the first) and
/// erfurt (on the second) open tickets at once through their APIs. Every ticket is stored once
/// under one number (leases from both gateways never overlap), the log has no gap and no
/// entry twice, munich (on the second) receives dortmund's tickets the first accepted, both
/// gateways answer with one view, and the audit trail is one chain that verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_on_one_database_act_as_one() -> anyhow::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let pki = Pki::new()?;
    let dirs = temp_dirs::<5>()?;
    // The replicas sign the one trail's checkpoints with one key (README, "PostgreSQL").
    let key = dirs[0].path().join("audit-signing.key");
    let replica = |dir: &std::path::Path| {
        let mut config = on_server(&pki, dir, &server);
        config.audit.signing_key = Some(key.clone());
        config
    };
    let first = RunningGateway::start(replica(dirs[0].path())).await?;
    let second = RunningGateway::start(replica(dirs[1].path())).await?;
    let site = |tenant: &str, id: &str, gateway: &RunningGateway, dir: &std::path::Path| {
        adapter_config(&pki, tenant, id, gateway.addr, dir)
    };
    let dortmund =
        RunningAdapter::start(site("twenty4help", "dortmund", &first, dirs[2].path())?).await?;
    let erfurt =
        RunningAdapter::start(site("helpbycom", "erfurt", &second, dirs[3].path())?).await?;
    let munich = RunningAdapter::start(site("inhouse", "munich", &second, dirs[4].path())?).await?;
    dortmund.wait_for_numbers().await?;
    erfurt.wait_for_numbers().await?;

    const EACH: usize = 40;
    let open = |adapter: &RunningAdapter, prefix: &'static str| {
        let api = adapter.api.clone();
        async move {
            for i in 0..EACH {
                let ticket = json!({
                    "customer_ref": format!("{prefix}-{i}"),
                    "focus_team": "dealers-sales",
                    "category": "vpn",
                    "subject": "printer offline",
                });
                api.expect("POST", "/v1/tickets", &ticket, 201).await?;
            }
            anyhow::Ok(())
        }
    };
    tokio::try_join!(open(&dortmund, "D"), open(&erfurt, "E"))?;

    eventually(30, "munich holds every ticket of both gateways", || async {
        let held = munich
            .snapshot()?
            .entities
            .values()
            .filter(|e| e.key.kind == hotline_federation::model::EntityKind::Ticket)
            .count();
        Ok(held == 2 * EACH && munich.replica.outbox_depth() == 0)
    })
    .await?;
    eventually(10, "both gateways at one head", || async {
        Ok(first.head() == second.head())
    })
    .await?;

    let view = gateway_view(&first.state, "inhouse")?;
    assert_eq!(view, gateway_view(&second.state, "inhouse")?, "one view");
    assert_eq!(munich.snapshot()?, view, "munich holds the view");
    let by_customer = tickets_by_customer(&view);
    assert_eq!(by_customer.len(), 2 * EACH);
    for (customer, numbers) in &by_customer {
        assert_eq!(numbers.len(), 1, "{customer}: {numbers:?}");
    }

    let store = first.state.store.as_ref();
    let mut sequences = Vec::new();
    let mut pages = Pages::new(keys::log(0), keys::log(u64::MAX), 512);
    while let Some(page) = pages.next_page(store)? {
        sequences.extend(page.iter().filter_map(|(k, _)| keys::parse_log(k)));
    }
    let expected: Vec<u64> = (1..=first.head()).collect();
    assert_eq!(sequences, expected, "one log without gaps");
    let entries = log_entries_by_entity(store)?;
    for numbers in by_customer.values() {
        assert_eq!(entries.get(&numbers[0]), Some(&1), "{numbers:?}");
    }

    let public = hotline_gateway::audit::AuditKey::load_or_create(&key)?.public;
    let verdict = hotline_gateway::audit::verify_store(store, &public)?;
    assert!(
        verdict.broken.is_none() && verdict.checked > 0,
        "{verdict:?}"
    );

    // A third gateway with a key of its own would sign checkpoints the others' do not verify.
    let stray = tempfile::tempdir()?;
    let refused = match RunningGateway::start(on_server(&pki, stray.path(), &server)).await {
        Ok(_) => anyhow::bail!("a gateway with another audit key started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("audit.signing_key"), "{refused}");

    for adapter in [dortmund, erfurt, munich] {
        adapter.stop().await?;
    }
    first.stop().await?;
    second.stop().await
}

/// A gateway process of `config` (written to `path`), once it listens. A start that fails
/// is tried again for a few seconds: the port of a gateway killed a moment ago may still be
/// held (CI once saw "Address already in use" here).
async fn gateway_process(
    config: &GatewayConfig,
    path: &std::path::Path,
) -> anyhow::Result<(ChildProcess, std::net::SocketAddr)> {
    std::fs::write(path, gateway_toml(config))?;
    let mut tries = 0;
    loop {
        let command = child_gateway_command(path)?;
        match tokio::task::spawn_blocking(move || spawn_until_listening(command, "listening"))
            .await?
        {
            Ok(started) => return Ok(started),
            Err(e) if tries < 50 => {
                tries += 1;
                eprintln!("gateway start failed, trying again: {e:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Failover: two gateway processes on one database; dortmund uses the first and names the
/// second as its replica. The first is SIGKILLed while dortmund's tool opens tickets: dortmund
/// carries on with the second, and every ticket its API acknowledged reaches munich (on the
/// second) under one number, its opening once in the log. The killed gateway, started again
/// at its address, serves the same federation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_fails_over_to_the_other_gateway_and_loses_nothing() -> anyhow::Result<()> {
    let Some(server) = server() else {
        return Ok(());
    };
    let pki = Pki::new()?;
    let dirs = temp_dirs::<4>()?;
    let key = dirs[0].path().join("audit-signing.key");
    let mut configs = Vec::new();
    for dir in &dirs[..2] {
        let mut config = on_server(&pki, dir.path(), &server);
        config.audit.signing_key = Some(key.clone());
        configs.push(config);
    }
    let paths: Vec<_> = dirs[..2]
        .iter()
        .map(|d| d.path().join("gateway.toml"))
        .collect();
    let (mut first, first_addr) = gateway_process(&configs[0], &paths[0]).await?;
    let (mut second, second_addr) = gateway_process(&configs[1], &paths[1]).await?;
    // The killed gateway comes back where the sites look for it.
    configs[0].listen = first_addr.to_string();

    let mut dortmund = adapter_config(&pki, "twenty4help", "dortmund", first_addr, dirs[2].path())?;
    dortmund.gateway.replicas = vec![format!("https://{second_addr}")];
    let dortmund = RunningAdapter::start(dortmund).await?;
    let munich = adapter_config(&pki, "inhouse", "munich", second_addr, dirs[3].path())?;
    let munich = RunningAdapter::start(munich).await?;
    dortmund.wait_for_numbers().await?;
    let in_use = |api: hotline_tests::sites::Api| async move {
        let (_, sync) = api.call("GET", "/v1/sync/status", &Value::Null).await?;
        anyhow::Ok(sync["gateway"].as_str().map(str::to_owned))
    };
    eventually(10, "dortmund's sync status names the first gateway", || {
        let api = dortmund.api.clone();
        async move { Ok(in_use(api).await? == Some(format!("https://{first_addr}"))) }
    })
    .await?;

    let api = dortmund.api.clone();
    let load = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 0..120 {
            let ticket = json!({
                "customer_ref": format!("F-{i}"),
                "focus_team": "dealers-sales",
                "category": "vpn",
                "subject": "failover",
            });
            let (status, _) = api.call("POST", "/v1/tickets", &ticket).await?;
            if status == 201 {
                acknowledged.push(format!("F-{i}"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::Ok(acknowledged)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.kill()?;
    let acknowledged = load.await??;
    assert!(
        acknowledged.len() > 60,
        "{} acknowledged",
        acknowledged.len()
    );

    eventually(
        30,
        "munich holds every ticket dortmund acknowledged",
        || async {
            let held = tickets_by_customer(&munich.snapshot()?);
            Ok(dortmund.replica.outbox_depth() == 0
                && acknowledged.iter().all(|c| held.contains_key(c)))
        },
    )
    .await?;
    assert_eq!(
        in_use(dortmund.api.clone()).await?,
        Some(format!("https://{second_addr}")),
        "dortmund's sync status names the replica it failed over to"
    );
    let held = tickets_by_customer(&munich.snapshot()?);
    let store = hotline_gateway::store::postgres::PostgresStore::open(&server.url("postgres"), 1)?;
    let entries = log_entries_by_entity(&store)?;
    for customer in &acknowledged {
        let numbers = &held[customer];
        assert_eq!(numbers.len(), 1, "{customer}: {numbers:?}");
        assert_eq!(
            entries.get(&numbers[0]),
            Some(&1),
            "{customer}: {numbers:?}"
        );
    }

    let (mut again, addr) = gateway_process(&configs[0], &paths[0]).await?;
    assert_eq!(addr, first_addr, "the first gateway is back at its address");
    let cert = pki.site("twenty4help", "dortmund")?;
    let channel = hotline_tests::harness::channel_with_ca(addr, pki.ca.cert_pem(), Some(&cert));
    let mut client = hotline_proto::v1::federation_client::FederationClient::new(channel.await?);
    let block = lease(&mut client, 3).await?;
    let taken: Vec<&String> = held.values().flatten().collect();
    for i in 0..3 {
        let fresh = number(&block, i);
        assert!(
            !taken.contains(&&fresh),
            "{fresh} leased again after the failover"
        );
    }
    for adapter in [dortmund, munich] {
        adapter.stop().await?;
    }
    again.terminate()?;
    second.terminate()?;
    Ok(())
}
