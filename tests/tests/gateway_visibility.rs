//! Visibility that changes while sites are subscribed (a focus team gains or loses a handler,
//! a ticket moves team), and snapshots for cursors older than the retained log. After every
//! step each site's replica must equal the gateway's redacted view for its tenant.

use hotline_federation::model::{
    EntityKey, EntityKind, FieldValue, PolicyField, TicketField, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, comment, now_ms, number, open_ticket, push};
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
                apply_events(tenant, replica, &events)?;
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
    apply_events("twenty4help", &mut replica, &events)?;
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

/// `Fetch` answers with exactly what the caller's subscription holds for an entity (internal
/// comments of another tenant left out) and the log position it reflects; an entity the
/// caller may not see answers like one that does not exist; malformed requests are refused
/// with what is allowed.
#[tokio::test]
async fn fetch_answers_the_callers_redacted_view() -> anyhow::Result<()> {
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
            .push(push(&[
                open_ticket(&finance, "inhouse", "munich", "finance-hr", 1),
                comment(
                    &finance,
                    "inhouse",
                    "munich",
                    2,
                    "munich-1",
                    Visibility::Tenant,
                    "in-house only",
                ),
            ]))
            .await?
            .into_inner(),
    )?;
    let key = EntityKey::new(EntityKind::Ticket, finance.clone());
    let missing = EntityKey::new(EntityKind::Ticket, number(&block, 9));
    let fetch = |keys: &[&EntityKey]| pb::FetchRequest {
        keys: keys.iter().map(|k| (*k).clone().into()).collect(),
    };

    let answer = dortmund.fetch(fetch(&[&key, &missing])).await?.into_inner();
    assert_eq!(answer.as_of, gateway.head());
    let states = answer
        .states
        .into_iter()
        .map(EntityState::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let view = gateway_view(&gateway.state, "twenty4help")?;
    assert_eq!(
        states.iter().collect::<Vec<_>>(),
        vec![&view.entities[&key]]
    );
    assert!(
        states[0].comments.is_empty(),
        "another tenant's internal comment was fetched: {:?}",
        states[0].comments
    );
    assert_eq!(answer.absent, vec![pb::EntityKey::from(missing.clone())]);

    let foreign = erfurt.fetch(fetch(&[&key])).await?.into_inner();
    assert!(foreign.states.is_empty(), "{foreign:?}");
    assert_eq!(foreign.absent, vec![pb::EntityKey::from(key.clone())]);

    for (request, expected) in [
        (fetch(&[]), "1 to 512 entities"),
        (fetch(&[&key, &key]), "named twice"),
        (
            pb::FetchRequest {
                keys: vec![pb::EntityKey {
                    kind: 0,
                    id: finance.clone(),
                }],
            },
            "keys[0]",
        ),
    ] {
        let status = dortmund
            .fetch(request)
            .await
            .expect_err("a malformed fetch was answered");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{status:?}");
    }
    gateway.stop().await
}
