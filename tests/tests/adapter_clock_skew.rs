//! A site whose clock runs an hour ahead, seen from its adapter: the gateway refuses the change
//! with CLOCK_SKEW, the adapter parks it where an operator sees it (`GET /v1/dead-letters`,
//! with the skew named) instead of retrying it forever, and nothing of it reaches the gateway.
//! The site's copy goes back to the gateway's, and once the clock is right the site writes
//! again at once (its clock does not stay an hour ahead); a replay lands with a fresh reading.

use hotline_federation::FieldOp;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{FEDERATION, gateway_view};
use hotline_tests::sites::{OneSite, eventually};
use serde_json::{Value, json};

/// The adapter's change stamped an hour ahead is refused with CLOCK_SKEW, parked with the skew
/// named for an operator, leaves the outbox, and never reaches the gateway. Then the site's copy
/// of the ticket returns to the gateway's, the next write through the API (clock right again)
/// is accepted and wins, the operator's replay is accepted with a fresh reading, and the
/// replica ends equal to the gateway's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_an_hour_ahead_is_parked_and_the_site_writes_again() -> anyhow::Result<()> {
    let OneSite {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let ticket = site
        .api
        .expect(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "K-1", "focus_team": "finance-hr", "category": "vpn" }),
            201,
        )
        .await?;
    let number = ticket["number"].as_str().unwrap_or_default().to_owned();
    eventually(10, "the ticket at the gateway", || async {
        Ok(site.status.pushed.load(std::sync::atomic::Ordering::SeqCst) >= 1)
    })
    .await?;

    // The site's clock jumps an hour ahead for one write.
    let key = EntityKey::new(EntityKind::Ticket, number.clone());
    let future = FieldValue::Ticket(TicketField::Subject("from the future".into()));
    site.write_directly(
        &key,
        now_ms() + 3_600_000,
        vec![FieldOp::Set(future.clone())],
    )?;

    let parked = || async {
        let (_, letters) = site
            .api
            .call("GET", "/v1/dead-letters", &Value::Null)
            .await?;
        anyhow::Ok(letters["dead_letters"].as_array().map_or(0, Vec::len))
    };
    eventually(10, "the refused change parked", || async {
        Ok(parked().await? > 0)
    })
    .await?;
    let letters = site
        .api
        .expect("GET", "/v1/dead-letters", &Value::Null, 200)
        .await?;
    let letter = &letters["dead_letters"][0];
    assert_eq!(letter["reason"], "REJECT_REASON_CLOCK_SKEW", "{letters}");
    assert_eq!(letter["entity"], number.as_str(), "{letters}");
    let message = letter["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ms ahead") && message.contains("at most"),
        "the message must name the skew and what is allowed: {message}"
    );
    let (_, sync) = site
        .api
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    assert_eq!(sync["dead_letters"], 1, "{sync}");
    assert_eq!(
        sync["outbox_depth"], 0,
        "the refused change waits as a dead letter, not in the outbox: {sync}"
    );

    let view = gateway_view(&gateway.state, "twenty4help")?;
    let state = view.entities.get(&key).expect("the ticket at the gateway");
    assert_ne!(
        state.value("subject"),
        Some(&future),
        "the change from an hour ahead reached the gateway"
    );

    // The gateway will not replay it with the reading that was wrong; the site must.
    let alice = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut admin = pb::admin_client::AdminClient::new(gateway.channel(&pki, Some(&alice)).await?);
    let seq = letter["origin_seq"].as_u64().unwrap_or_default();
    let status = admin
        .replay_dead_letter(pb::ReplayDeadLetterRequest {
            site: "dortmund".into(),
            origin_seq: seq,
        })
        .await
        .expect_err("a change refused for its clock was replayed with that reading");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("replay it at the site"),
        "{status:?}"
    );

    // The refused write leaves the site's copy: it is the gateway's again.
    let converged = || {
        let gateway = gateway_view(&gateway.state, "twenty4help")?;
        let mine = site.snapshot()?;
        anyhow::Ok(mine.canonical_hash() == gateway.canonical_hash())
    };
    eventually(10, "the site's copy back to the gateway's", || async {
        converged()
    })
    .await?;
    let path = format!("/v1/tickets/{number}");
    let local = site.api.expect("GET", &path, &Value::Null, 200).await?;
    assert_ne!(local["subject"], "from the future", "{local}");

    // With the clock right again, the next write is accepted, not refused for an hour.
    site.api
        .expect("PATCH", &path, &json!({ "subject": "clock fixed" }), 200)
        .await?;
    let fixed = FieldValue::Ticket(TicketField::Subject("clock fixed".into()));
    eventually(10, "the write after the fix at the gateway", || async {
        let view = gateway_view(&gateway.state, "twenty4help")?;
        Ok(view.entities.get(&key).and_then(|s| s.value("subject")) == Some(&fixed))
    })
    .await?;
    let (_, sync) = site
        .api
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    assert_eq!(
        sync["dead_letters"], 1,
        "the write after the fix was refused too: {sync}"
    );
    assert_eq!(sync["awaiting_gateway_copy"], 0, "{sync}");

    // The operator replays the parked change: it gets a reading of the corrected clock, is
    // accepted, and (being the latest write) wins.
    site.api
        .expect(
            "POST",
            &format!("/v1/dead-letters/{seq}/replay"),
            &Value::Null,
            202,
        )
        .await?;
    eventually(10, "the replayed change at the gateway", || async {
        let view = gateway_view(&gateway.state, "twenty4help")?;
        Ok(view.entities.get(&key).and_then(|s| s.value("subject")) == Some(&future))
    })
    .await?;
    eventually(10, "no dead letters left", || async {
        Ok(parked().await? == 0)
    })
    .await?;
    eventually(10, "the replica equal to the gateway's view", || async {
        converged()
    })
    .await?;
    site.stop().await?;
    gateway.stop().await
}

fn an_hour_behind() -> u64 {
    now_ms() - 3_600_000
}

/// Against a gateway whose clock reads an hour earlier, the site learns from the heartbeats that
/// its clock is an hour ahead, and refuses local writes through its API with 503 `clock_skew`
/// naming the skew and the bound, storing nothing, instead of showing a write the gateway will
/// refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_refuses_writes_while_its_clock_is_ahead_of_the_gateways() -> anyhow::Result<()> {
    let OneSite {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start_with_gateway_clock(an_hour_behind).await?;
    eventually(10, "the clock reading from a heartbeat", || async {
        let (_, sync) = site
            .api
            .call("GET", "/v1/sync/status", &Value::Null)
            .await?;
        Ok(sync["clock_ahead_ms"].as_i64().is_some())
    })
    .await?;
    let (_, sync) = site
        .api
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    let ahead = sync["clock_ahead_ms"].as_i64().unwrap_or_default();
    assert!(
        (3_590_000..3_660_000).contains(&ahead),
        "an hour ahead, give or take the heartbeat's travel: {sync}"
    );

    let (status, body) = site
        .api
        .call(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "K-9", "focus_team": "finance-hr", "category": "vpn" }),
        )
        .await?;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "clock_skew", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ms ahead of the gateway's") && message.contains("at most 300000 ms"),
        "{message}"
    );
    let found = site
        .api
        .expect("GET", "/v1/tickets?customer_ref=K-9", &Value::Null, 200)
        .await?;
    assert_eq!(found["tickets"], json!([]), "{found}");
    let (_, sync) = site
        .api
        .call("GET", "/v1/sync/status", &Value::Null)
        .await?;
    assert_eq!(sync["outbox_depth"], 0, "{sync}");
    site.stop().await?;
    gateway.stop().await
}

/// How far the gateway's clock runs behind in the test below: a lead 20 ms inside the bound.
const JUST_INSIDE_MS: u64 = hotline_federation::clock::DEFAULT_MAX_SKEW_MS - 20;

fn just_inside_the_bound() -> u64 {
    now_ms() - JUST_INSIDE_MS
}

/// A site whose clock leads the gateway's by 20 ms less than the bound comes back to 3,000
/// entries to catch up. The heartbeat that opens its live tail is stamped once the gateway has
/// queued them and read once the site has applied them, a few hundred ms later: read against its
/// arrival, the site would look further ahead than the bound and refuse its writes. Read
/// against the time the site asked to subscribe, it is inside the bound and a create is stored.
/// The gateway's later heartbeats are held back (one a minute), so the first one's reading is
/// the one checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_catch_up_does_not_make_a_right_clock_look_ahead() -> anyhow::Result<()> {
    let pki = hotline_tests::harness::Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut config = hotline_tests::harness::federation_config(&pki, dirs[0].path());
    config.limits.heartbeat_interval_ms = 60_000;
    // Room for the whole catch-up in the gateway's queue, so the heartbeat waits behind it.
    config.limits.subscriber_buffer = 8_192;
    let gateway =
        hotline_tests::harness::RunningGateway::start_with_clock(config, just_inside_the_bound)
            .await?;
    let start_site = || {
        hotline_tests::sites::RunningAdapter::for_site(
            &pki,
            "twenty4help",
            "dortmund",
            gateway.addr,
            dirs[1].path(),
        )
    };
    let site = start_site().await?;
    site.wait_for_numbers().await?;
    site.stop().await?;

    // Meanwhile Görlitz, of the same tenant, opens 3,000 tickets Dortmund may see, stamped
    // with the gateway's clock.
    let mut goerlitz = gateway.site_client(&pki, "twenty4help", "goerlitz").await?;
    let block = hotline_tests::harness::lease(&mut goerlitz, 3_000).await?;
    for batch in 0..30u64 {
        let changes: Vec<_> = (0..100u64)
            .map(|i| {
                let at = batch * 100 + i;
                let mut change = hotline_tests::changes::open_ticket(
                    &hotline_tests::changes::number(&block, at),
                    "twenty4help",
                    "goerlitz",
                    "finance-hr",
                    at + 1,
                );
                change.hlc = hotline_federation::Hlc::new(just_inside_the_bound(), 0);
                change
            })
            .collect();
        let response = goerlitz
            .push(hotline_tests::changes::push(&changes))
            .await?
            .into_inner();
        hotline_tests::changes::accepted(&response)?;
    }

    let restarted = std::time::Instant::now();
    let site = start_site().await?;
    eventually(60, "the first heartbeat after the catch-up", || async {
        Ok(site.status.clock().is_some())
    })
    .await?;
    let took = restarted.elapsed();
    let reading = site.status.clock().expect("a reading");
    assert!(
        reading.ahead_ms > 250_000 && !reading.refuses(),
        "a lead of {JUST_INSIDE_MS} ms read as {reading:?} after a catch-up of {took:?}"
    );
    let (status, body) = site
        .api
        .call(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "K-77", "focus_team": "finance-hr", "category": "vpn" }),
        )
        .await?;
    assert_eq!(status, 201, "after a catch-up of {took:?}: {body}");
    site.stop().await?;
    gateway.stop().await
}
