//! An outside review's attacks on the rules epoch (`gateway/src/writer/rules.rs`): a group
//! that changes the rules and fails must not leave readers waiting once the store works again,
//! and a gateway that reads another's policy change or erasure from a shared PostgreSQL store
//! must make its slow readers decide again. Each failed before its fix.

use std::sync::Arc;
use std::time::Duration;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, TicketField};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, open_ticket, push};
use hotline_tests::harness::{
    FEDERATION, Pki, RunningGateway, collect_until, federation_config, lease, small_window_client,
};

fn ticket(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, id)
}

fn munich_change(key: EntityKey, ops: Vec<FieldOp>, seq: u64) -> Change {
    Change {
        key,
        ops,
        origin_site: "munich".into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), seq as u32),
    }
}

/// Takes `plants` from helpbycom (handlers: in-house only).
fn plants_without_helpbycom(seq: u64) -> Change {
    munich_change(
        EntityKey::new(EntityKind::Policy, "plants"),
        vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
            vec!["inhouse".into()],
        )))],
        seq,
    )
}

/// A group that changes the rules fails at its flush (a full disk), and the disk is fine again
/// at once. The epoch stayed odd until `recover`, which ran only at the writer's next group:
/// with no other write, a partner's Fetch waited five seconds and answered UNAVAILABLE. The idle
/// writer now reads the store again at once.
#[tokio::test]
async fn readers_go_on_after_a_failed_rules_group_once_the_store_works() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.storage = "memory".into();
    let store = Arc::new(hotline_gateway::store::memory::MemoryStore::new());
    let gateway = RunningGateway::start_with_store(config, store.clone()).await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let block = lease(&mut munich, 10).await?;
    let id = number(&block, 0);
    accepted(
        &munich
            .push(push(&[open_ticket(&id, "inhouse", "munich", "plants", 1)]))
            .await?
            .into_inner(),
    )?;

    store.set_failing_flushes(true);
    let failed = munich.push(push(&[plants_without_helpbycom(2)])).await;
    assert!(failed.is_err(), "the flush failed: {failed:?}");
    store.set_failing_flushes(false);
    // The disk is fine again; give the gateway a moment of its own.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut outcomes = Vec::new();
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let answer = erfurt
            .fetch(pb::FetchRequest {
                keys: vec![ticket(&id).into()],
            })
            .await
            .map(|_| ())
            .map_err(|s| format!("{:?}: {}", s.code(), s.message()));
        outcomes.push((answer, started.elapsed()));
    }
    assert!(
        outcomes
            .iter()
            .all(|(answer, took)| answer.is_ok() && *took < Duration::from_secs(2)),
        "fetches after a failed rules group, with the store working again: {outcomes:?}"
    );
    gateway.stop().await
}

/// Two gateways on one PostgreSQL database. twenty4help's snapshot on the first is blocked by
/// a slow reader when a customer is erased through the second. The first reads the erasure
/// (`recover` with `others`: rules published, `erasures` counted) but its rules epoch does not
/// move, so the blocked snapshot keeps its chunk read before the erasure and sends the erased
/// customer's name. Reading another gateway's writes now moves the epoch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_on_one_gateway_never_sends_a_customer_erased_through_another()
-> anyhow::Result<()> {
    let Some(server) = hotline_runtime::local_postgres::LocalPostgres::start_for_test("a63") else {
        return Ok(());
    };
    const FILLERS: u64 = 440;
    let pki = Pki::new()?;
    let dirs = hotline_tests::sites::temp_dirs::<2>()?;
    let key = dirs[0].path().join("audit-signing.key");
    let replica = |dir: &std::path::Path| {
        let mut config = federation_config(&pki, dir);
        config.storage = "postgres".into();
        config.postgres.url = server.url("postgres");
        config.postgres.schema = "public".into();
        config.audit.signing_key = Some(key.clone());
        config.limits.subscriber_buffer = 4;
        config.limits.stall_timeout_ms = 60_000;
        config
    };
    let first = RunningGateway::start(replica(dirs[0].path())).await?;
    let second = RunningGateway::start(replica(dirs[1].path())).await?;
    let mut munich = first.site_client(&pki, "inhouse", "munich").await?;
    let block = lease(&mut munich, (FILLERS + 10) as u32).await?;
    let mut batch = Vec::new();
    for i in 0..FILLERS {
        batch.push(open_ticket(
            &number(&block, i),
            "inhouse",
            "munich",
            "finance-hr",
            i + 1,
        ));
        if batch.len() == 100 {
            accepted(&munich.push(push(&batch)).await?.into_inner())?;
            batch.clear();
        }
    }
    accepted(&munich.push(push(&batch)).await?.into_inner())?;
    let id = number(&block, FILLERS);
    let mut change = open_ticket(&id, "inhouse", "munich", "finance-hr", FILLERS + 1);
    for op in &mut change.ops {
        if let FieldOp::Set(FieldValue::Ticket(field)) = op {
            match field {
                TicketField::CustomerName(n) => *n = "Zora Loeschmich".into(),
                TicketField::CustomerRef(r) => *r = "E-ERASE-63".into(),
                _ => {}
            }
        }
    }
    accepted(&munich.push(push(&[change])).await?.into_inner())?;

    let cert = pki.site("twenty4help", "dortmund")?;
    let mut slow = small_window_client(&first, &pki, &cert).await?;
    let mut stream = slow
        .subscribe(pb::SubscribeRequest {
            cursor: first.head() + 1_000,
        })
        .await?
        .into_inner();
    let early = collect_until(&mut stream, 100, |e| e.len() >= 20).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!format!("{early:?}").contains("Zora Loeschmich"));

    let admin_cert = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut admin =
        pb::admin_client::AdminClient::new(second.channel(&pki, Some(&admin_cert)).await?);
    admin
        .erase_customer(pb::EraseCustomerRequest {
            customer_ref: "E-ERASE-63".into(),
            reason: "Art. 17".into(),
        })
        .await?;
    let head = second.head();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while first.head() < head {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the first gateway never read the erasure"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !format!("{:?}", first.state.view("twenty4help")?).contains("Zora Loeschmich"),
        "the first gateway holds the erasure"
    );

    let rest = collect_until(&mut stream, 100_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    let mut in_snapshot = true;
    let mut leaked = Vec::new();
    for (i, event) in rest.iter().enumerate() {
        if matches!(event.body, Some(pb::sync_event::Body::SnapshotEnd(_))) {
            in_snapshot = false;
        }
        if format!("{event:?}").contains("Zora Loeschmich") {
            let part = if in_snapshot {
                "inside the snapshot"
            } else {
                "after it"
            };
            leaked.push(format!("event {i}, {part}"));
        }
    }
    assert!(
        leaked.is_empty(),
        "the erased customer's name reached twenty4help after the first gateway read the \
         erasure: {leaked:?}"
    );
    first.stop().await?;
    second.stop().await
}
