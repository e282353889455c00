//! The gateway's sync protocol end to end: push, subscribe, retries and restarts, over real
//! mTLS on loopback with the default engine's store in a temp dir.

use hotline_federation::Replica;
use hotline_federation::model::Visibility;
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, federation_config, gateway_view, lease, subscribe_until,
};

/// A ticket with comments pushed at a partner site reaches the in-house site whole, and a
/// retried push is acknowledged with the same positions without adding anything.
#[tokio::test]
async fn push_then_subscribe_round_trip_and_retry_is_a_no_op() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;

    let block = lease(&mut dortmund, 10).await?;
    let id = number(&block, 0);
    let changes = [
        open_ticket(&id, "twenty4help", "dortmund", "finance-hr", 1),
        comment(
            &id,
            "twenty4help",
            "dortmund",
            2,
            "dortmund-1",
            Visibility::Public,
            "Called back.",
        ),
        comment(
            &id,
            "twenty4help",
            "dortmund",
            3,
            "dortmund-2",
            Visibility::Tenant,
            "Escalate?",
        ),
    ];
    let first = accepted(&dortmund.push(push(&changes)).await?.into_inner())?;
    assert!(first.iter().all(|(_, duplicate)| !duplicate));
    let head = gateway.head();
    assert_eq!(first.last().map(|(seq, _)| *seq), Some(head));

    let retry = accepted(&dortmund.push(push(&changes)).await?.into_inner())?;
    let expected: Vec<(u64, bool)> = first.iter().map(|(seq, _)| (*seq, true)).collect();
    assert_eq!(
        retry, expected,
        "a retried push must return the original positions"
    );
    assert_eq!(
        gateway.head(),
        head,
        "a retried push must not add log entries"
    );

    let events = subscribe_until(&mut munich, 0, head).await?;
    let mut replica = Replica::default();
    apply_events("inhouse", &mut replica, &events)?;
    let ticket = replica
        .entities
        .values()
        .find(|e| e.key.id == id)
        .expect("the in-house site received the ticket");
    assert_eq!(
        ticket.comments.len(),
        2,
        "in-house sees public and tenant comments"
    );
    assert_eq!(replica, gateway_view(&gateway.state, "inhouse")?);
    gateway.stop().await
}

/// Every acknowledged change survives a restart on the same data directory, cursors resume
/// where they stopped, and ticket numbers are never leased twice.
#[tokio::test]
async fn restart_keeps_acknowledged_changes_and_cursors() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let dortmund_cert = pki.site("twenty4help", "dortmund")?;
    let munich_cert = pki.site("inhouse", "munich")?;

    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut dortmund = gateway.client(&pki, &dortmund_cert).await?;
    let first_block = lease(&mut dortmund, 5).await?;
    let mut changes = Vec::new();
    for (i, seq) in (0..5).zip(1..) {
        changes.push(open_ticket(
            &number(&first_block, i),
            "twenty4help",
            "dortmund",
            "finance-hr",
            seq,
        ));
    }
    accepted(&dortmund.push(push(&changes)).await?.into_inner())?;
    let head = gateway.head();
    let before = gateway_view(&gateway.state, "inhouse")?;
    gateway.stop().await?;

    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    assert_eq!(gateway.head(), head, "the log head survives the restart");
    assert_eq!(gateway_view(&gateway.state, "inhouse")?, before);

    let mut munich = gateway.client(&pki, &munich_cert).await?;
    let mut replica = Replica::default();
    apply_events(
        "inhouse",
        &mut replica,
        &subscribe_until(&mut munich, 0, head).await?,
    )?;
    assert_eq!(
        replica, before,
        "a fresh subscriber receives everything acknowledged"
    );

    // Resuming from the cursor before the last entry yields only the last entry.
    let resumed = subscribe_until(&mut munich, head - 1, head).await?;
    let data_events: Vec<&pb::SyncEvent> = resumed
        .iter()
        .filter(|e| !matches!(e.body, Some(pb::sync_event::Body::Heartbeat(_))))
        .collect();
    assert!(!data_events.is_empty());
    assert!(
        data_events
            .iter()
            .all(|e| e.cursor == 0 || e.cursor == head),
        "{data_events:?}"
    );

    let mut dortmund = gateway.client(&pki, &dortmund_cert).await?;
    let second_block = lease(&mut dortmund, 5).await?;
    assert!(
        second_block.first >= first_block.first + u64::from(first_block.count),
        "lease after restart overlaps: {first_block:?} then {second_block:?}"
    );
    gateway.stop().await
}

/// Shutting down under load loses nothing acknowledged: every push answered OK before the
/// shutdown is found again after a restart (a retry of it is reported as a duplicate at the
/// same position).
#[tokio::test]
async fn graceful_shutdown_keeps_every_acknowledged_push() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let sites = [
        ("twenty4help", "dortmund"),
        ("twenty4help", "goerlitz"),
        ("helpbycom", "erfurt"),
        ("inhouse", "munich"),
    ];
    let mut writers = Vec::new();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (tenant, site) in sites {
        let answered = answered.clone();
        let mut client = gateway.client(&pki, &pki.site(tenant, site)?).await?;
        let block = lease(&mut client, 200).await?;
        let team = if tenant == "helpbycom" {
            "plants"
        } else {
            "finance-hr"
        };
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for seq in 1..=200u64 {
                let change = open_ticket(&number(&block, seq - 1), tenant, site, team, seq);
                match client.push(push(std::slice::from_ref(&change))).await {
                    Ok(response) => {
                        acknowledged.push((change, accepted(&response.into_inner())?[0].0));
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => break,
                }
            }
            anyhow::Ok((client, acknowledged))
        }));
    }
    // Let some pushes land, then shut down while the others are in flight.
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 40 {
        tokio::task::yield_now().await;
    }
    gateway.stop().await?;
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await??.1);
    }
    assert!(
        acknowledged.len() >= 40,
        "only {} pushes were acknowledged",
        acknowledged.len()
    );

    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    for (tenant, site) in sites {
        let mut client = gateway.client(&pki, &pki.site(tenant, site)?).await?;
        for (change, seq) in acknowledged.iter().filter(|(c, _)| c.origin_site == site) {
            let again = accepted(
                &client
                    .push(push(std::slice::from_ref(change)))
                    .await?
                    .into_inner(),
            )?;
            assert_eq!(
                again,
                vec![(*seq, true)],
                "acknowledged change {} of {site} was lost",
                change.origin_seq
            );
        }
    }
    gateway.stop().await
}
