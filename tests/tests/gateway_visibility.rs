//! Visibility that changes while sites are subscribed (a focus team gains or loses a handler,
//! a ticket moves team), and snapshots for cursors older than the retained log. After every
//! step each site's replica must equal the gateway's redacted view for its tenant.

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, TicketField};
use hotline_federation::{Change, FieldOp, Hlc, Replica};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, collect_until, federation_config, gateway_view, lease,
    subscribe_until,
};

fn inhouse_change(key: EntityKey, op: FieldOp, seq: u64) -> Change {
    Change {
        key,
        ops: vec![op],
        origin_site: "munich".into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), 0),
    }
}

fn handlers(team: &str, tenants: &[&str], seq: u64) -> Change {
    let list = tenants.iter().map(|t| t.to_string()).collect();
    inhouse_change(
        EntityKey::new(EntityKind::Policy, team),
        FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(list))),
        seq,
    )
}

/// A partner that gains a focus team receives its tickets whole; one that loses it, or whose
/// ticket moves to another team, receives revocations and purges them.
#[tokio::test]
async fn gained_and_lost_visibility_reaches_live_subscribers() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;

    let block = lease(&mut munich, 10).await?;
    let finance = number(&block, 0);
    accepted(
        &munich
            .push(push(&[open_ticket(
                &finance,
                "inhouse",
                "munich",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;

    let mut erfurt_stream = erfurt
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let mut dortmund_stream = dortmund
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let (mut erfurt_replica, mut dortmund_replica) = (Replica::default(), Replica::default());

    let mut check =
        async |step: &str, erfurt_sees: bool, dortmund_sees: bool| -> anyhow::Result<()> {
            let head = gateway.head();
            for (stream, replica, tenant, sees) in [
                (
                    &mut erfurt_stream,
                    &mut erfurt_replica,
                    "helpbycom",
                    erfurt_sees,
                ),
                (
                    &mut dortmund_stream,
                    &mut dortmund_replica,
                    "twenty4help",
                    dortmund_sees,
                ),
            ] {
                let events = collect_until(stream, 10_000, |e| {
                    e.last().is_some_and(|e| e.cursor >= head)
                })
                .await?;
                apply_events(replica, &events)?;
                assert_eq!(
                    *replica,
                    gateway_view(&gateway.state, tenant)?,
                    "{step}: {tenant}"
                );
                let has = replica.entities.keys().any(|k| k.id == finance);
                assert_eq!(has, sees, "{step}: does {tenant} hold the finance ticket?");
            }
            Ok(())
        };
    check("start", false, true).await?;

    accepted(
        &munich
            .push(push(&[handlers(
                "finance-hr",
                &["inhouse", "twenty4help", "helpbycom"],
                2,
            )]))
            .await?
            .into_inner(),
    )?;
    check("helpbycom added to finance-hr", true, true).await?;

    accepted(
        &munich
            .push(push(&[handlers(
                "finance-hr",
                &["inhouse", "twenty4help"],
                3,
            )]))
            .await?
            .into_inner(),
    )?;
    check("helpbycom removed again", false, true).await?;

    let moved = inhouse_change(
        EntityKey::new(EntityKind::Ticket, finance.clone()),
        FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam("bank".into()))),
        4,
    );
    accepted(&munich.push(push(&[moved])).await?.into_inner())?;
    check("ticket moved to the in-house-only bank team", false, false).await?;
    gateway.stop().await
}

/// A cursor older than the retained log gets a snapshot first, then the tail; the result is
/// the same replica as the gateway's view.
#[tokio::test]
async fn old_cursor_gets_a_snapshot() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.log_retention = 5;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 30).await?;
    for seq in 1..=30u64 {
        let change = open_ticket(
            &number(&block, seq - 1),
            "twenty4help",
            "dortmund",
            "finance-hr",
            seq,
        );
        accepted(&dortmund.push(push(&[change])).await?.into_inner())?;
    }
    let head = gateway.head();
    let floor = gateway
        .state
        .shared
        .floor
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        floor > 0,
        "the log was never pruned (floor {floor}, head {head})"
    );

    let events = subscribe_until(&mut dortmund, 1, head).await?;
    assert!(
        matches!(
            events.first().and_then(|e| e.body.as_ref()),
            Some(pb::sync_event::Body::SnapshotBegin(_))
        ),
        "expected a snapshot first, got {:?}",
        events.first()
    );
    let mut replica = Replica::default();
    apply_events(&mut replica, &events)?;
    assert_eq!(replica, gateway_view(&gateway.state, "twenty4help")?);
    assert_eq!(
        replica
            .entities
            .values()
            .filter(|e| e.key.kind == EntityKind::Ticket)
            .count(),
        30
    );
    gateway.stop().await
}
