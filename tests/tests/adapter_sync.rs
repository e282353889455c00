//! Partner adapters against a real gateway, all over real sockets and mTLS: convergence after
//! concurrent edits, offline work with the same public numbers, no echo, and the partner-tool
//! API's mapping.

use std::sync::atomic::Ordering;

use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view};
use hotline_tests::sites::{OneSite, RunningAdapter, adapter_config, eventually};
use serde_json::{Value, json};

fn new_ticket(customer: &str, subject: &str) -> Value {
    json!({
        "customer_ref": customer,
        "focus_team": "dealers-sales",
        "category": "vpn",
        "subject": subject,
        "customer_name": "Erika Mustermann",
    })
}

/// True when every adapter has pushed everything and applied the gateway's whole log.
async fn quiet(gateway: &RunningGateway, sites: &[&RunningAdapter]) -> anyhow::Result<bool> {
    let head = gateway.head();
    for site in sites {
        if site.replica.outbox_depth() > 0 || site.replica.cursor()? < head {
            return Ok(false);
        }
    }
    Ok(gateway.head() == head)
}

/// The convergence check of DESIGN.md section 4: each replica equals the gateway's redacted
/// view for its tenant, compared by canonical hash.
fn converged(gateway: &RunningGateway, site: &RunningAdapter, tenant: &str) -> anyhow::Result<()> {
    let mine = site.snapshot()?;
    let theirs = gateway_view(&gateway.state, tenant)?;
    assert_eq!(
        mine.canonical_hash(),
        theirs.canonical_hash(),
        "{tenant}: replica differs\nsite: {mine:#?}\ngateway: {theirs:#?}"
    );
    Ok(())
}

/// Three sites of three tenants edit the same tickets at the same time; once quiet, each
/// replica equals the gateway's view for its tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sites_converge_after_concurrent_edits() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, dirs[1].path()).await?;
    let dortmund = RunningAdapter::for_site(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[2].path(),
    )
    .await?;
    let erfurt =
        RunningAdapter::for_site(&pki, "helpbycom", "erfurt", gateway.addr, dirs[3].path()).await?;
    let sites = [
        (&munich, "inhouse"),
        (&dortmund, "twenty4help"),
        (&erfurt, "helpbycom"),
    ];

    // Each site opens a ticket (once it holds numbers).
    let mut numbers = Vec::new();
    for (i, (site, _)) in sites.iter().enumerate() {
        site.wait_for_numbers().await?;
        let ticket = site
            .api
            .expect(
                "POST",
                "/v1/tickets",
                &new_ticket(&format!("D-{i}"), "shared"),
                201,
            )
            .await?;
        numbers.push(ticket["number"].as_str().unwrap_or_default().to_owned());
    }
    eventually(20, "every site holds every ticket", || async {
        for (site, _) in &sites {
            for number in &numbers {
                let (status, _) = site
                    .api
                    .call("GET", &format!("/v1/tickets/{number}"), &Value::Null)
                    .await?;
                if status != 200 {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    })
    .await?;

    // Everyone edits every ticket at once.
    let mut edits = Vec::new();
    for (site, _) in &sites {
        for number in &numbers {
            let api = site.api.clone();
            let number = number.clone();
            let alias = format!("agent-of-{}", api.addr.port());
            edits.push(tokio::spawn(async move {
                api.expect("PATCH", &format!("/v1/tickets/{number}"), &json!({ "subject": alias, "priority": "high" }), 200).await?;
                api.expect("POST", &format!("/v1/tickets/{number}/comments"), &json!({ "author_alias": alias, "visibility": "federation", "body": "looked at it" }), 201).await?;
                api.expect("POST", &format!("/v1/tickets/{number}/comments"), &json!({ "author_alias": alias, "visibility": "tenant", "body": "internal" }), 201).await?;
                anyhow::Ok(())
            }));
        }
    }
    for edit in edits {
        edit.await??;
    }
    let all = [&munich, &dortmund, &erfurt];
    eventually(30, "all sites quiet", || quiet(&gateway, &all)).await?;
    for (site, tenant) in &sites {
        converged(&gateway, site, tenant)?;
    }
    // Partners hold no PII dealers-sales does not grant them, but twenty4help does.
    let has_pii = |site: &RunningAdapter| -> anyhow::Result<bool> {
        Ok(site
            .snapshot()?
            .entities
            .values()
            .any(|e| e.registers.values().any(|r| r.winner.value.is_pii())))
    };
    assert!(!has_pii(&erfurt)?, "helpbycom holds PII it is not granted");
    assert!(has_pii(&dortmund)?, "twenty4help lost PII it is granted");

    for site in [munich, dortmund, erfurt] {
        site.stop().await?;
    }
    gateway.stop().await
}

/// With the gateway down, dortmund creates and updates tickets through its API; after the
/// gateway returns, erfurt sees them under the same numbers, none duplicated, and the gateway
/// log gains nothing once everyone is quiet (no echo).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_site_keeps_working_and_nothing_echoes() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let addr = gateway.addr;
    let dortmund =
        RunningAdapter::for_site(&pki, "twenty4help", "dortmund", addr, dirs[1].path()).await?;
    let erfurt =
        RunningAdapter::for_site(&pki, "helpbycom", "erfurt", addr, dirs[2].path()).await?;
    dortmund.wait_for_numbers().await?;

    gateway.stop().await?;
    eventually(10, "dortmund noticed the gateway is gone", || async {
        Ok(!dortmund.status.connected.load(Ordering::SeqCst))
    })
    .await?;
    let mut numbers = Vec::new();
    for i in 0..5 {
        let ticket = dortmund
            .api
            .expect(
                "POST",
                "/v1/tickets",
                &new_ticket(&format!("OFF-{i}"), "offline"),
                201,
            )
            .await?;
        let number = ticket["number"].as_str().unwrap_or_default().to_owned();
        dortmund
            .api
            .expect(
                "PATCH",
                &format!("/v1/tickets/{number}"),
                &json!({ "status": "in_progress" }),
                200,
            )
            .await?;
        numbers.push(number);
    }
    assert_eq!(
        dortmund.replica.outbox_depth(),
        10,
        "ten offline changes wait in the outbox"
    );

    let gateway = RunningGateway::start_at(federation_config(&pki, dirs[0].path()), addr).await?;
    eventually(30, "erfurt sees the offline tickets", || async {
        for number in &numbers {
            let (status, ticket) = erfurt
                .api
                .call("GET", &format!("/v1/tickets/{number}"), &Value::Null)
                .await?;
            if status != 200 || ticket["status"] != "in_progress" {
                return Ok(false);
            }
        }
        Ok(true)
    })
    .await?;
    let offline = erfurt
        .api
        .expect("GET", "/v1/tickets?customer_ref=OFF-3", &Value::Null, 200)
        .await?;
    assert_eq!(
        offline["tickets"].as_array().map(Vec::len),
        Some(1),
        "{offline}"
    );

    let both = [&dortmund, &erfurt];
    eventually(30, "quiet", || quiet(&gateway, &both)).await?;
    let tickets = gateway_view(&gateway.state, "inhouse")?
        .entities
        .keys()
        .filter(|k| k.kind == hotline_federation::EntityKind::Ticket)
        .count();
    assert_eq!(tickets, 5, "the gateway holds each offline ticket once");

    // No echo: applying the gateway's changes made nothing new to push.
    let head = gateway.head();
    let heartbeats = gateway.state.config.limits.heartbeat_interval_ms;
    tokio::time::sleep(std::time::Duration::from_millis(heartbeats * 3)).await;
    assert_eq!(
        gateway.head(),
        head,
        "changes came back to the gateway as new log entries"
    );
    assert_eq!(erfurt.replica.outbox_depth(), 0);
    converged(&gateway, &erfurt, "helpbycom")?;
    converged(&gateway, &dortmund, "twenty4help")?;

    dortmund.stop().await?;
    erfurt.stop().await?;
    gateway.stop().await
}

/// A site's own vocabulary goes in and comes out; an unmapped term is refused with the known
/// ones, and another site sees our names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_round_trip_and_unmapped_values() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let mut config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?;
    let table = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    config.mapping.status = table(&[
        ("Neu", "new"),
        ("In Arbeit", "in_progress"),
        ("Wartet", "waiting_on_customer"),
        ("Eskaliert", "escalated"),
        ("Geloest", "resolved"),
        ("Geschlossen", "closed"),
    ]);
    config.mapping.priority = table(&[
        ("niedrig", "low"),
        ("mittel", "normal"),
        ("hoch", "high"),
        ("kritisch", "critical"),
    ]);
    config.mapping.category = table(&[("Netzwerk/VPN", "vpn")]);
    let dortmund = RunningAdapter::start(config).await?;
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, dirs[2].path()).await?;
    dortmund.wait_for_numbers().await?;

    let ticket = dortmund
        .api
        .expect(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "H-1", "focus_team": "dealers-sales", "category": "Netzwerk/VPN", "priority": "hoch", "status": "Neu" }),
            201,
        )
        .await?;
    assert_eq!(
        (
            ticket["status"].as_str(),
            ticket["priority"].as_str(),
            ticket["category"].as_str()
        ),
        (Some("Neu"), Some("hoch"), Some("Netzwerk/VPN"))
    );
    let number = ticket["number"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/tickets/{number}");
    let moved = dortmund
        .api
        .expect("PATCH", &path, &json!({ "status": "In Arbeit" }), 200)
        .await?;
    assert_eq!(moved["status"], "In Arbeit");

    let (status, error) = dortmund
        .api
        .call("PATCH", &path, &json!({ "status": "Offen" }))
        .await?;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["code"], "unmapped_value");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("\"Offen\" is not mapped")
            && message.contains("Geschlossen, In Arbeit, Neu"),
        "{message}"
    );

    eventually(20, "munich sees our terms", || async {
        let (status, seen) = munich.api.call("GET", &path, &Value::Null).await?;
        Ok(status == 200
            && seen["status"] == "in_progress"
            && seen["priority"] == "high"
            && seen["category"] == "vpn")
    })
    .await?;
    dortmund.stop().await?;
    munich.stop().await?;
    gateway.stop().await
}

/// When in-house withdraws a partner's PII grant, the partner's adapter keeps the team's
/// tickets (revoked and re-sent in one entry) and drops only the PII: its replica still equals
/// the gateway's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_grant_replaces_tickets_instead_of_deleting_them() -> anyhow::Result<()> {
    use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField};
    use hotline_federation::{Change, FieldOp, Hlc};
    let OneSite {
        pki,
        gateway,
        site: dortmund,
        dirs: _dirs,
    } = OneSite::start().await?;
    let mut ticket = new_ticket("G-1", "granted");
    ticket["focus_team"] = json!("finance-hr");
    let created = dortmund
        .api
        .expect("POST", "/v1/tickets", &ticket, 201)
        .await?;
    let path = format!(
        "/v1/tickets/{}",
        created["number"].as_str().unwrap_or_default()
    );
    let both = [&dortmund];
    eventually(20, "quiet", || quiet(&gateway, &both)).await?;
    assert_eq!(
        created["customer_name"], "Erika Mustermann",
        "finance-hr grants twenty4help PII"
    );

    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let withdraw = Change {
        key: EntityKey::new(EntityKind::Policy, "finance-hr"),
        ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::PiiGrants(
            vec![],
        )))],
        origin_site: "munich".into(),
        origin_seq: 1,
        hlc: Hlc::new(hotline_tests::changes::now_ms(), 0),
    };
    munich
        .push(hotline_tests::changes::push(&[withdraw]))
        .await?;
    eventually(20, "the grant change reached dortmund", || {
        quiet(&gateway, &both)
    })
    .await?;

    let (status, seen) = dortmund.api.call("GET", &path, &Value::Null).await?;
    assert_eq!(
        status, 200,
        "the ticket was deleted instead of replaced: {seen}"
    );
    assert!(
        seen.get("customer_name").is_none(),
        "PII survived the withdrawn grant: {seen}"
    );
    converged(&gateway, &dortmund, "twenty4help")?;
    dortmund.stop().await?;
    gateway.stop().await
}
