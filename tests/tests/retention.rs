//! Retention (issue 17, item 4): partners keep a closed ticket for their focus team's
//! `partner_retention_days` and then purge it, while in-house keeps it. A real gateway and three
//! real adapters (two partner tenants and in-house) over mTLS on loopback; the sweep is run by
//! the test (the periodic one is set to an hour), so what is due is decided at a known moment.

use std::path::Path;

use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::retention::DAY_MS;
use hotline_gateway::audit::read_entries;
use hotline_gateway::health::site_health;
use hotline_gateway::retention::{due_tickets, sweep};
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view};
use hotline_tests::sites::{RunningAdapter, adapter_config, dead_webhook, eventually, quiet};
use serde_json::{Value, json};

/// `dealers-sales` (handled by both partner tenants) purged at the next sweep after closing,
/// `finance-hr` kept the default 90 days; the periodic sweep out of the way.
fn config(pki: &Pki, dir: &Path) -> hotline_gateway::config::GatewayConfig {
    let mut config = federation_config(pki, dir);
    for team in &mut config.focus_teams {
        if team.id == "dealers-sales" {
            team.partner_retention_days = Some(0);
        }
    }
    config.retention.sweep_interval_secs = 3600;
    config
}

/// Creates a ticket through the site's API in `team`; answers its number.
async fn open(site: &RunningAdapter, team: &str, customer: &str) -> anyhow::Result<String> {
    let body = json!({ "customer_ref": customer, "focus_team": team, "category": "vpn",
        "customer_name": "Erika Mustermann" });
    let ticket = site.api.expect("POST", "/v1/tickets", &body, 201).await?;
    Ok(ticket["number"].as_str().unwrap_or_default().to_owned())
}

async fn set_status(site: &RunningAdapter, number: &str, status: &str) -> anyhow::Result<()> {
    site.api
        .expect(
            "PATCH",
            &format!("/v1/tickets/{number}"),
            &json!({ "status": status }),
            200,
        )
        .await?;
    Ok(())
}

/// The site's answer to reading ticket `number`.
async fn read(site: &RunningAdapter, number: &str) -> anyhow::Result<(u16, Value)> {
    site.api
        .call("GET", &format!("/v1/tickets/{number}"), &Value::Null)
        .await
}

async fn dead_letters(site: &RunningAdapter) -> anyhow::Result<Vec<Value>> {
    let list = site
        .api
        .expect("GET", "/v1/webhooks/dead-letters", &Value::Null, 200)
        .await?;
    Ok(list["dead_letters"].as_array().cloned().unwrap_or_default())
}

/// How many of the site's webhook dead letters are `event` about ticket `number`.
async fn events_about(site: &RunningAdapter, number: &str, event: &str) -> anyhow::Result<usize> {
    Ok(dead_letters(site)
        .await?
        .iter()
        .filter(|l| l["body"]["event"] == event && l["body"]["number"] == number)
        .count())
}

async fn status(site: &RunningAdapter) -> anyhow::Result<Value> {
    site.api
        .expect("GET", "/v1/sync/status", &Value::Null, 200)
        .await
}

/// A closed ticket of a team whose partners keep it 0 days is purged at every partner site
/// that held it, live or when an offline site catches up (each counting it, the tools told
/// why, its undelivered events withdrawn) and answers there exactly like a ticket that never
/// existed, while in-house keeps it; a closed ticket of a 90-day team and a resolved one stay;
/// neither a second sweep nor the writer asked directly archives what is not due; losing sight
/// by a re-route is not counted; the replicas still equal the gateway's views; the trail names
/// the sweep.
#[tokio::test]
async fn partners_purge_closed_tickets_after_their_teams_days_and_inhouse_keeps_them()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<4>()?;
    let gateway = RunningGateway::start(config(&pki, dirs[0].path())).await?;
    let site_config = |tenant: &str, site: &str, dir: &Path| {
        let mut config = adapter_config(&pki, tenant, site, gateway.addr, dir)?;
        config.sync.report_interval_ms = 200;
        anyhow::Ok(config)
    };
    // dortmund's webhook target is down and gives up at once: its dead letters show every
    // event with its body.
    let mut with_hook = site_config("twenty4help", "dortmund", dirs[1].path())?;
    dead_webhook(&mut with_hook)?;
    let dortmund = RunningAdapter::start(with_hook).await?;
    let erfurt_config = site_config("helpbycom", "erfurt", dirs[2].path())?;
    let erfurt = RunningAdapter::start(erfurt_config.clone()).await?;
    let munich = RunningAdapter::start(site_config("inhouse", "munich", dirs[3].path())?).await?;
    for site in [&dortmund, &erfurt, &munich] {
        site.wait_for_numbers().await?;
    }

    let expiring = open(&dortmund, "dealers-sales", "R-1").await?;
    let kept = open(&dortmund, "finance-hr", "R-2").await?;
    let resolved = open(&dortmund, "dealers-sales", "R-3").await?;
    // A file on the ticket that expires: it leaves the partners with the ticket.
    let (code, answer) = dortmund
        .api
        .attach(
            &expiring,
            ("trace.txt", "text/plain"),
            "federation",
            "ak",
            b"vpn trace of R-1\n".to_vec(),
        )
        .await?;
    assert_eq!(code, 201, "{answer}");
    let trace = hotline::site_api::attached_sha(&answer, "trace.txt").unwrap_or_default();
    let dortmund_file = dirs[1].path().join("files").join(&trace);
    assert!(
        dortmund_file.is_file(),
        "dortmund holds the file it attached"
    );
    set_status(&dortmund, &expiring, "closed").await?;
    set_status(&dortmund, &kept, "closed").await?;
    set_status(&dortmund, &resolved, "resolved").await?;
    for site in [&dortmund, &erfurt, &munich] {
        quiet(site, &gateway).await?;
    }
    assert_eq!(read(&erfurt, &expiring).await?.0, 200, "erfurt holds it");
    eventually(20, "the ticket's events are dead letters", || async {
        Ok(events_about(&dortmund, &expiring, "ticket.changed").await? > 0)
    })
    .await?;

    // erfurt is offline while the sweep runs: it purges when it catches up.
    erfurt.stop().await?;
    let kept_key = EntityKey::new(EntityKind::Ticket, kept.as_str());
    assert!(
        gateway
            .state
            .writer
            .archive(vec![kept_key.clone()])
            .await?
            .is_empty(),
        "the writer archives nothing that is not due, whatever it is asked"
    );
    assert_eq!(
        sweep(&gateway.state).await?,
        1,
        "only the 0-day closed ticket"
    );
    let erfurt = RunningAdapter::start(erfurt_config).await?;
    for site in [&dortmund, &erfurt] {
        eventually(20, "the expired ticket is purged", || async {
            Ok(read(site, &expiring).await?.0 == 404)
        })
        .await?;
    }
    // Its events go with it: no dead letter keeps its content, the tool hears why.
    eventually(20, "the revocation is a dead letter too", || async {
        Ok(events_about(&dortmund, &expiring, "ticket.revoked").await? == 1)
    })
    .await?;
    assert_eq!(
        events_about(&dortmund, &expiring, "ticket.changed").await?,
        0
    );
    assert!(events_about(&dortmund, &kept, "ticket.changed").await? > 0);
    let revoked = dead_letters(&dortmund).await?;
    let revoked = revoked
        .iter()
        .find(|l| l["body"]["event"] == "ticket.revoked")
        .cloned()
        .unwrap_or_default();
    assert_eq!(revoked["body"]["reason"], "retention", "{revoked}");

    // Purged answers like never created: the same status and body, number aside.
    let never = "ASZ-2026-999999";
    let (gone, gone_body) = read(&dortmund, &expiring).await?;
    let (missing, missing_body) = read(&dortmund, never).await?;
    assert_eq!(gone, missing);
    assert_eq!(
        gone_body.to_string().replace(&expiring, "N"),
        missing_body.to_string().replace(never, "N")
    );
    assert_eq!(read(&dortmund, &kept).await?.0, 200, "90 days not over");
    assert_eq!(read(&dortmund, &resolved).await?.0, 200, "not closed");

    let (code, inhouse) = read(&munich, &expiring).await?;
    assert_eq!(code, 200, "in-house keeps it: {inhouse}");
    assert!(
        inhouse["partner_retention_ended_at_ms"].as_u64().is_some(),
        "{inhouse}"
    );
    assert_eq!(inhouse["customer_name"], "Erika Mustermann");
    // The file left dortmund with the ticket; in-house still reads it.
    eventually(
        10,
        "the purged ticket's file deleted at dortmund",
        || async { Ok(!dortmund_file.exists()) },
    )
    .await?;
    let (code, _, bytes) = munich
        .api
        .bytes(&format!("/v1/tickets/{expiring}/files/{trace}"))
        .await?;
    assert_eq!(
        (code, bytes.as_slice()),
        (200, b"vpn trace of R-1\n".as_slice())
    );
    let (code, _, _) = dortmund
        .api
        .bytes(&format!("/v1/tickets/{expiring}/files/{trace}"))
        .await?;
    assert_eq!(
        code, 404,
        "a purged ticket's file answers like a missing one"
    );

    for (site, purged) in [(&dortmund, 1), (&erfurt, 1), (&munich, 0)] {
        let status = status(site).await?;
        assert_eq!(status["retention_purged"], purged, "{status}");
        assert_eq!(
            status["last_retention_purge_ms"].is_u64(),
            purged > 0,
            "{status}"
        );
    }

    // The gateway's sync health shows what each site purged.
    eventually(20, "the sites reported their purges", || async {
        let health = site_health(&gateway.state);
        let purged = |id: &str| {
            health
                .iter()
                .find(|h| h.site == id)
                .and_then(|h| h.retention_purged)
        };
        Ok(purged("dortmund") == Some(1)
            && purged("erfurt") == Some(1)
            && purged("munich") == Some(0))
    })
    .await?;

    // A partner writing to the archived ticket gets the missing ticket's answer.
    let comment = json!({ "author_alias": "ak", "visibility": "public", "body": "noch da?" });
    let on_archived = dortmund
        .api
        .call(
            "POST",
            &format!("/v1/tickets/{expiring}/comments"),
            &comment,
        )
        .await?;
    let on_missing = dortmund
        .api
        .call("POST", &format!("/v1/tickets/{never}/comments"), &comment)
        .await?;
    assert_eq!(
        on_archived.0, on_missing.0,
        "{on_archived:?} / {on_missing:?}"
    );

    assert_eq!(sweep(&gateway.state).await?, 0, "nothing is archived twice");
    let later = now_ms() + 90 * DAY_MS + 3_600_000;
    let due = due_tickets(&gateway.state, later)?;
    assert_eq!(
        due,
        vec![kept_key],
        "after 90 days the finance-hr ticket only"
    );

    // Losing sight for another reason is not counted as retention: in-house moves the
    // resolved ticket to a team erfurt's tenant does not handle.
    munich
        .api
        .expect(
            "PATCH",
            &format!("/v1/tickets/{resolved}"),
            &json!({ "focus_team": "finance-hr" }),
            200,
        )
        .await?;
    eventually(20, "the moved ticket is gone at erfurt", || async {
        Ok(read(&erfurt, &resolved).await?.0 == 404)
    })
    .await?;
    assert_eq!(status(&erfurt).await?["retention_purged"], 1);

    for site in [&dortmund, &erfurt, &munich] {
        quiet(site, &gateway).await?;
    }
    for (site, tenant) in [
        (&dortmund, "twenty4help"),
        (&erfurt, "helpbycom"),
        (&munich, "inhouse"),
    ] {
        let view = gateway_view(&gateway.state, tenant)?;
        assert_eq!(
            site.snapshot()?.canonical_hash(),
            view.canonical_hash(),
            "{tenant} converged"
        );
    }

    let trail = read_entries(gateway.state.store.as_ref(), 1, usize::MAX)?;
    let archived: Vec<_> = trail
        .iter()
        .filter_map(|e| e.as_ref().ok())
        .filter(|e| e.record.action == "retention.archive.accepted")
        .collect();
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].record.actor, "retention");
    assert!(archived[0].record.subject.contains(&expiring));

    for site in [dortmund, erfurt, munich] {
        site.stop().await?;
    }
    // A store that counted purges opens again, the count kept.
    let mut again = site_config("helpbycom", "erfurt", dirs[2].path())?;
    again.gateway.url = format!("https://{}", gateway.addr);
    let erfurt = RunningAdapter::start(again).await?;
    assert_eq!(status(&erfurt).await?["retention_purged"], 1);
    erfurt.stop().await?;
    gateway.stop().await
}

/// How far the in-house retention test's gateway clock runs ahead of real time, ms.
static AHEAD_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn clock_ahead() -> u64 {
    now_ms() + AHEAD_MS.load(std::sync::atomic::Ordering::SeqCst)
}

/// With `retention.inhouse_days`, the sweep erases the personal data of tickets closed longer
/// ago (at the gateway and every site that holds them, the ticket itself kept) and leaves
/// open ones and those closed more recently alone; the trail says it was the retention.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhouse_retention_erases_personal_data_of_old_closed_tickets() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<3>()?;
    let mut config = federation_config(&pki, dirs[0].path());
    config.retention.sweep_interval_secs = 3600;
    config.retention.inhouse_days = Some(2);
    let gateway = RunningGateway::start_with_clock(config, clock_ahead).await?;
    let dortmund = RunningAdapter::for_site(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )
    .await?;
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, dirs[2].path()).await?;
    for site in [&dortmund, &munich] {
        site.wait_for_numbers().await?;
    }
    let closed = open(&dortmund, "finance-hr", "R-10").await?;
    let open_one = open(&dortmund, "finance-hr", "R-11").await?;
    set_status(&dortmund, &closed, "closed").await?;
    for site in [&dortmund, &munich] {
        quiet(site, &gateway).await?;
    }
    assert_eq!(sweep(&gateway.state).await?, 0, "nothing is due yet");
    assert_eq!(
        read(&munich, &closed).await?.1["customer_name"],
        "Erika Mustermann"
    );

    AHEAD_MS.store(2 * DAY_MS + 60_000, std::sync::atomic::Ordering::SeqCst);
    sweep(&gateway.state).await?;
    for site in [&dortmund, &munich] {
        quiet(site, &gateway).await?;
        let (code, ticket) = read(site, &closed).await?;
        assert_eq!(code, 200, "the ticket stays: {ticket}");
        assert!(ticket["erased_at_ms"].is_u64(), "{ticket}");
        assert!(ticket.get("customer_name").is_none(), "{ticket}");
        let (_, untouched) = read(site, &open_one).await?;
        assert_eq!(untouched["customer_name"], "Erika Mustermann");
    }
    let trail = read_entries(gateway.state.store.as_ref(), 1, usize::MAX)?;
    assert!(
        trail
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .any(|e| e.record.action == "retention.erased" && e.record.actor == "retention")
    );
    for site in [dortmund, munich] {
        site.stop().await?;
    }
    gateway.stop().await
}
