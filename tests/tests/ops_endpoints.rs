//! The operations ports of a real gateway and a real adapter (issue 15, item 7): `/metrics`
//! parses strictly as the text Prometheus scrapes and its figures move with real traffic,
//! `/healthz` answers while the process runs, and `/readyz` answers 503 with the reason once
//! the gateway's writer has stopped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use hotline_adapter::replica::Replica;
use hotline_adapter::run::Adapter;
use hotline_gateway::state::GatewayState;
use hotline_tests::exposition::{get, parse, scrape};
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::{Api, adapter_config, api, eventually};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The gateway's operations port on 127.0.0.1:0 over `state`; stopped by `stop`.
async fn gateway_ops(
    state: Arc<GatewayState>,
    stop: &CancellationToken,
) -> anyhow::Result<(SocketAddr, JoinHandle<hotline_gateway::error::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(hotline_gateway::ops::run(listener, state, stop.clone()));
    Ok((addr, task))
}

/// An adapter of dortmund running in this process with its API and operations port, both on
/// 127.0.0.1:0, as `hotline-adapter` runs them.
struct Site {
    api: Api,
    ops: SocketAddr,
    replica: Arc<Replica>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<hotline_adapter::error::Result<()>>>,
}

impl Site {
    async fn start(pki: &Pki, gateway: SocketAddr, dir: &Path) -> anyhow::Result<Site> {
        let config = adapter_config(pki, "twenty4help", "dortmund", gateway, dir)?;
        let adapter = Adapter::open(config)?;
        let (api_listener, ops_listener) = (
            tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            tokio::net::TcpListener::bind("127.0.0.1:0").await?,
        );
        let (api_addr, ops) = (api_listener.local_addr()?, ops_listener.local_addr()?);
        let stop = CancellationToken::new();
        let replica = adapter.replica.clone();
        let probe = adapter.probe();
        let tasks = vec![
            tokio::spawn(hotline_adapter::ops::run(ops_listener, probe, stop.clone())),
            tokio::spawn(adapter.run(api_listener, stop.clone())),
        ];
        Ok(Site {
            api: api(api_addr),
            ops,
            replica,
            stop,
            tasks,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}

fn new_ticket(subject: &str) -> Value {
    json!({
        "customer_ref": "C-1",
        "focus_team": "dealers-sales",
        "category": "vpn",
        "subject": subject,
        "customer_name": "Erika Mustermann",
    })
}

/// A change pushed through an adapter moves the adapter's pushed-changes counter and outbox
/// gauge (up while the gateway is away, back to 0 once it is pushed) and the gateway's
/// accepted-changes counter, log head, group commit histograms and subscriber gauge; each
/// scrape parses strictly. This is what an operator's dashboard and alerts read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_with_traffic_through_an_adapter() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let config = federation_config(&pki, dirs[0].path());
    let gateway = RunningGateway::start(config.clone()).await?;
    let gateway_addr = gateway.addr;
    let stop_ops = CancellationToken::new();
    let (gateway_ops_addr, ops_task) = gateway_ops(gateway.state.clone(), &stop_ops).await?;
    let site = Site::start(&pki, gateway_addr, dirs[1].path()).await?;
    eventually(10, "the site holds ticket numbers and policies", || async {
        Ok(site.replica.numbers_left()? > 0 && !site.replica.directory()?.teams.is_empty())
    })
    .await?;

    let before = scrape(site.ops).await?;
    let gateway_before = scrape(gateway_ops_addr).await?;
    assert_eq!(before.get("hotline_adapter_changes_pushed_total")?, 0.0);
    assert!(gateway_before.get("hotline_gateway_leases_total")? >= 1.0);
    assert_eq!(
        before.value(
            "hotline_adapter_info",
            &[("tenant", "twenty4help"), ("site", "dortmund")]
        ),
        Some(1.0),
        "the adapter names its site"
    );

    site.api
        .expect("POST", "/v1/tickets", &new_ticket("first"), 201)
        .await?;
    eventually(10, "the first ticket is pushed", || async {
        let now = scrape(site.ops).await?;
        Ok(now.get("hotline_adapter_changes_pushed_total")? >= 1.0
            && now.get("hotline_adapter_outbox_depth")? == 0.0)
    })
    .await?;
    let after = scrape(site.ops).await?;
    assert_eq!(
        after.value(
            "hotline_adapter_api_requests_total",
            &[
                ("route", "/v1/tickets"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        Some(1.0),
        "the request is counted under its route"
    );
    let gateway_after = scrape(gateway_ops_addr).await?;
    for name in [
        "hotline_gateway_changes_accepted_total",
        "hotline_gateway_pushes_total",
        "hotline_gateway_log_head",
        "hotline_gateway_group_size_jobs_count",
        "hotline_gateway_flush_seconds_count",
    ] {
        assert!(
            gateway_after.get(name)? > gateway_before.get(name)?,
            "{name} did not move with a push"
        );
    }
    assert!(gateway_after.get("hotline_gateway_subscribers")? >= 1.0);

    // The gateway goes away: the next change waits in the outbox, and the gauge shows it.
    stop_ops.cancel();
    ops_task.await??;
    gateway.stop().await?;
    site.api
        .expect("POST", "/v1/tickets", &new_ticket("second"), 201)
        .await?;
    eventually(
        10,
        "the outbox holds the change while the gateway is away",
        || async {
            let now = scrape(site.ops).await?;
            Ok(now.get("hotline_adapter_outbox_depth")? == 1.0
                && now.get("hotline_adapter_sync_connected")? == 0.0)
        },
    )
    .await?;
    let gateway = RunningGateway::start_at(config, gateway_addr).await?;
    eventually(
        20,
        "the waiting change is pushed after the restart",
        || async {
            let now = scrape(site.ops).await?;
            Ok(now.get("hotline_adapter_outbox_depth")? == 0.0
                && now.get("hotline_adapter_changes_pushed_total")? >= 2.0)
        },
    )
    .await?;
    site.stop().await?;
    gateway.stop().await
}

/// The gauges read from the store (each team's service-level target per partner, a site's
/// last contact, the audit trail's verdict) are set by the gateway's own refresh task and by
/// a refresh after traffic, with real values, so the alert rules in `deploy/prometheus/`
/// have data to fire on and never a made-up zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_gauges_appear_once_refreshed() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let stop = CancellationToken::new();
    let (ops, task) = gateway_ops(gateway.state.clone(), &stop).await?;
    // The task's first round runs at start: the trail verifies.
    eventually(10, "the refresh task verifies the trail", || async {
        Ok(scrape(ops).await?.value("hotline_audit_verify_ok", &[]) == Some(1.0))
    })
    .await?;
    let site = Site::start(&pki, gateway.addr, dirs[1].path()).await?;
    eventually(10, "the site holds ticket numbers", || async {
        Ok(site.replica.numbers_left()? > 0)
    })
    .await?;

    let state = gateway.state.clone();
    let (outcome, figures) = tokio::task::spawn_blocking(move || {
        hotline_gateway::gauges::refresh(&state, hotline_gateway::gauges::AuditCheck::Whole(None))
    })
    .await?;
    figures?;
    assert!(
        matches!(outcome, hotline_gateway::gauges::AuditOutcome::Intact(_)),
        "{outcome:?}"
    );
    let after = scrape(ops).await?;
    assert_eq!(after.value("hotline_audit_verify_ok", &[]), Some(1.0));
    let seen = after
        .value("hotline_site_last_seen_seconds", &[("site", "dortmund")])
        .expect("dortmund was seen");
    assert!(seen > 1.7e9, "last seen is a Unix time in seconds: {seen}");
    let targets: Vec<_> = after
        .samples
        .iter()
        .filter(|s| s.name == "hotline_service_level_target_ratio")
        .collect();
    assert!(
        targets
            .iter()
            .any(|s| s.labels.get("tenant").map(String::as_str) == Some("twenty4help")),
        "every handling partner has its team's target: {targets:?}"
    );
    assert!(targets.iter().all(|s| s.value > 0.0 && s.value <= 1.0));

    site.stop().await?;
    stop.cancel();
    task.await??;
    gateway.stop().await
}

/// `/healthz` answers 200 while the process runs; `/readyz` answers 200 while the store and
/// the writer work and 503 naming the writer once it has stopped, which is what takes a
/// gateway that can no longer store anything out of a load balancer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_writer() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, dir.path())).await?;
    let stop = CancellationToken::new();
    let (ops, task) = gateway_ops(gateway.state.clone(), &stop).await?;

    let health = get(ops, "/healthz").await?;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let ready = get(ops, "/readyz").await?;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(ready.body.contains("store") && ready.body.contains("writer"));
    let unknown = get(ops, "/metrics/extra").await?;
    assert_eq!(unknown.status, 404);

    gateway.state.writer.stop().await;
    eventually(10, "readyz reports the stopped writer", || async {
        let ready = get(ops, "/readyz").await?;
        Ok(ready.status == 503 && ready.body.contains("not ready: writer:"))
    })
    .await?;
    let health = get(ops, "/healthz").await?;
    assert_eq!(health.status, 200, "the process still runs");

    stop.cancel();
    task.await??;
    gateway.stop().await
}

/// The adapter's `/readyz` and `/healthz` answer 200 with its store open, also before the
/// gateway was ever reached (the site works offline), and its `/metrics` parses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_is_ready_without_the_gateway() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    // Nobody listens here once the listener is dropped.
    let nowhere = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let site = Site::start(&pki, nowhere, dir.path()).await?;
    assert_eq!(get(site.ops, "/healthz").await?.status, 200);
    let ready = get(site.ops, "/readyz").await?;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let metrics = scrape(site.ops).await?;
    assert_eq!(metrics.get("hotline_adapter_sync_connected")?, 0.0);
    site.stop().await
}

/// The strict reader refuses what a scraper refuses, so a passing scrape above means
/// something: each broken exposition here must fail to parse.
#[test]
fn the_reader_refuses_broken_expositions() {
    let good = "# HELP a_total x\n# TYPE a counter\na_total 1\n# EOF\n";
    assert!(parse(good).is_ok(), "{:?}", parse(good));
    for broken in [
        "# TYPE a counter\na_total 1\n",
        "a_total 1\n# EOF\n",
        "# TYPE a counter\na 1\n# EOF\n",
        "# TYPE a counter\na_total{x=\"1\" 1\n# EOF\n",
        "# TYPE a counter\na_total{x=1} 1\n# EOF\n",
        "# TYPE a counter\na_total one\n# EOF\n",
        "# TYPE a counter\n# TYPE a counter\n# EOF\n",
        "# TYPE a gauge\na 1\n# EOF\nb 2\n",
        "# TYPE 1a gauge\n1a 1\n# EOF\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n# EOF\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\nh_sum 1\n# EOF\n",
    ] {
        assert!(parse(broken).is_err(), "accepted: {broken:?}");
    }
}
