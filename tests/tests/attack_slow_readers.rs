//! An outside review's attacks on what the gateway sends while the rules change under a
//! reader: a snapshot or catch-up blocked on a slow reader while a policy change or an erasure
//! is made (states read before it must not be sent after it), readers reading a group that
//! changes the rules before its rules are published, and the live tail forwarding a late write
//! that lost the merge. Each failed before the fix (`gateway/src/writer/rules.rs`,
//! `Feed::send_touched`, `visibility::strip_change`).

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, TicketField};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, open_ticket, push};
use hotline_tests::harness::{
    FEDERATION, Pki, RunningGateway, collect_until, federation_config, lease, small_window_client,
};

/// In-house's changes, numbered.
struct Inhouse {
    client: pb::federation_client::FederationClient<tonic::transport::Channel>,
    seq: u64,
}

impl Inhouse {
    async fn push(&mut self, key: EntityKey, ops: Vec<FieldOp>) -> anyhow::Result<()> {
        self.seq += 1;
        let change = Change {
            key,
            ops,
            origin_site: "munich".into(),
            origin_seq: self.seq,
            hlc: Hlc::new(now_ms(), self.seq as u32),
        };
        accepted(&self.client.push(push(&[change])).await?.into_inner())?;
        Ok(())
    }

    /// Opens ticket `id` in `team`, with `subject`, customer `name` and reference `customer`.
    async fn open_with(
        &mut self,
        id: &str,
        team: &str,
        subject: &str,
        name: &str,
        customer: &str,
    ) -> anyhow::Result<()> {
        self.seq += 1;
        let mut change = open_ticket(id, "inhouse", "munich", team, self.seq);
        for op in &mut change.ops {
            if let FieldOp::Set(FieldValue::Ticket(field)) = op {
                match field {
                    TicketField::Subject(s) => *s = subject.into(),
                    TicketField::CustomerName(n) => *n = name.into(),
                    TicketField::CustomerRef(r) => *r = customer.into(),
                    _ => {}
                }
            }
        }
        accepted(&self.client.push(push(&[change])).await?.into_inner())?;
        Ok(())
    }

    /// Opens `count` tickets from number `first` of `block` in `team`, a hundred a push.
    async fn fill(
        &mut self,
        block: &pb::LeaseBlock,
        first: u64,
        count: u64,
        team: &str,
    ) -> anyhow::Result<()> {
        let mut batch = Vec::new();
        for i in first..first + count {
            self.seq += 1;
            batch.push(open_ticket(
                &number(block, i),
                "inhouse",
                "munich",
                team,
                self.seq,
            ));
            if batch.len() == 100 {
                accepted(&self.client.push(push(&batch)).await?.into_inner())?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            accepted(&self.client.push(push(&batch)).await?.into_inner())?;
        }
        Ok(())
    }
}

/// A gateway whose subscribers have a small buffer and a long stall timeout, so a slow reader
/// blocks a snapshot or catch-up instead of being cut off, and in-house's munich to feed it.
async fn for_slow_readers(
    pki: &Pki,
    dir: &std::path::Path,
) -> anyhow::Result<(RunningGateway, Inhouse)> {
    let mut config = federation_config(pki, dir);
    config.limits.subscriber_buffer = 4;
    config.limits.stall_timeout_ms = 60_000;
    let gateway = RunningGateway::start(config).await?;
    let munich = Inhouse {
        client: gateway.site_client(pki, "inhouse", "munich").await?,
        seq: 0,
    };
    Ok((gateway, munich))
}

fn ticket(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, id)
}

fn policy(team: &str, field: PolicyField) -> (EntityKey, Vec<FieldOp>) {
    (
        EntityKey::new(EntityKind::Policy, team),
        vec![FieldOp::Set(FieldValue::Policy(field))],
    )
}

fn mentions(events: &[pb::SyncEvent], secret: &str) -> bool {
    format!("{events:?}").contains(secret)
}

/// Where `secret` arrived: each event carrying it, as "event i (kind), inside/after the
/// snapshot".
fn where_sent(events: &[pb::SyncEvent], secret: &str) -> Vec<String> {
    use pb::sync_event::Body;
    let mut in_snapshot = false;
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match &event.body {
            Some(Body::SnapshotBegin(_)) => in_snapshot = true,
            Some(Body::SnapshotEnd(_)) => in_snapshot = false,
            _ => {}
        }
        if format!("{event:?}").contains(secret) {
            let kind = match &event.body {
                Some(Body::Entity(_)) => "entity",
                Some(Body::Change(_)) => "change",
                _ => "other",
            };
            let part = if in_snapshot {
                "inside the snapshot"
            } else {
                "after it"
            };
            out.push(format!("{secret:?} in event {i} ({kind}), {part}"));
        }
    }
    out
}

/// How many filler tickets come before the tickets under test: enough that a reader with a
/// 64 KiB window blocks the snapshot well before them, few enough that they share the first
/// chunk of 512 entities with them.
const FILLERS: u64 = 440;

/// Starts a snapshot for `cert` on a small-window connection and reads `n` events of it, so
/// the snapshot has read its first chunk and is now blocked on the reader.
async fn blocked_snapshot(
    gateway: &RunningGateway,
    pki: &Pki,
    tenant: &str,
    site: &str,
) -> anyhow::Result<(tonic::Streaming<pb::SyncEvent>, Vec<pb::SyncEvent>)> {
    let cert = pki.site(tenant, site)?;
    let mut slow = small_window_client(gateway, pki, &cert).await?;
    let mut stream = slow
        .subscribe(pb::SubscribeRequest {
            cursor: gateway.head() + 1_000,
        })
        .await?
        .into_inner();
    let first = collect_until(&mut stream, 100, |e| e.len() >= 20).await?;
    // Let the snapshot fill the window and the buffer again and stop.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    Ok((stream, first))
}

/// A value written while a ticket was hidden from helpbycom (the subject of a `bank` ticket,
/// which only in-house handles; the customer's name of a `plants` ticket, whose PII helpbycom
/// was not granted), superseded, and only then made visible to helpbycom by a policy change,
/// must never reach helpbycom (DESIGN.md section 5). A snapshot blocked on a slow helpbycom
/// reader while this happens sends the stale state it read before, judged by the new rules.
#[tokio::test]
async fn a_blocked_snapshot_never_sends_values_superseded_while_hidden() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let (gateway, mut munich) = for_slow_readers(&pki, data.path()).await?;
    let block = lease(&mut munich.client, (FILLERS + 10) as u32).await?;
    munich.fill(&block, 0, FILLERS, "plants").await?;
    let hidden = number(&block, FILLERS);
    let unnamed = number(&block, FILLERS + 1);
    munich
        .open_with(
            &hidden,
            "bank",
            "Geheimer Betreff Bank",
            "Kunde Bank",
            "E-1",
        )
        .await?;
    munich
        .open_with(&unnamed, "plants", "Pflanzen", "Geheim Alt Name", "E-2")
        .await?;

    let (mut stream, first) = blocked_snapshot(&gateway, &pki, "helpbycom", "erfurt").await?;

    // While helpbycom may not see them, both values are superseded...
    munich
        .push(
            ticket(&hidden),
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
                "Offener Betreff".into(),
            )))],
        )
        .await?;
    munich
        .push(
            ticket(&unnamed),
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::CustomerName(
                "Erika Neu".into(),
            )))],
        )
        .await?;
    // ...and only then does helpbycom gain sight of them.
    let (key, ops) = policy(
        "bank",
        PolicyField::Handlers(vec!["inhouse".into(), "helpbycom".into()]),
    );
    munich.push(key, ops).await?;
    let (key, ops) = policy("plants", PolicyField::PiiGrants(vec!["helpbycom".into()]));
    munich.push(key, ops).await?;

    let head = gateway.head();
    let rest = collect_until(&mut stream, 100_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    let mut all = first;
    all.extend(rest);
    assert!(
        mentions(&all, "Offener Betreff") && mentions(&all, "Erika Neu"),
        "the current values arrive"
    );
    let leaked: Vec<String> = ["Geheimer Betreff Bank", "Geheim Alt Name"]
        .into_iter()
        .flat_map(|s| where_sent(&all, s))
        .collect();
    assert!(
        leaked.is_empty(),
        "values superseded while hidden from helpbycom reached it: {leaked:?}"
    );
    gateway.stop().await
}

/// A customer erased while a snapshot to twenty4help is blocked: the erasure is done and
/// answered, and only then does the snapshot send the ticket with the customer's name (read
/// before the erasure). The live tail guards against exactly this (`erased_since`); the
/// snapshot does not.
#[tokio::test]
async fn a_blocked_snapshot_never_sends_a_customer_erased_meanwhile() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let (gateway, mut munich) = for_slow_readers(&pki, data.path()).await?;
    let block = lease(&mut munich.client, (FILLERS + 10) as u32).await?;
    munich.fill(&block, 0, FILLERS, "finance-hr").await?;
    let id = number(&block, FILLERS);
    munich
        .open_with(
            &id,
            "finance-hr",
            "Kuendigung",
            "Zora Loeschmich",
            "E-ERASE-1",
        )
        .await?;

    let (mut stream, first) = blocked_snapshot(&gateway, &pki, "twenty4help", "dortmund").await?;
    assert!(!mentions(&first, "Zora Loeschmich"));

    let cert = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut admin = pb::admin_client::AdminClient::new(gateway.channel(&pki, Some(&cert)).await?);
    admin
        .erase_customer(pb::EraseCustomerRequest {
            customer_ref: "E-ERASE-1".into(),
            reason: "Art. 17".into(),
        })
        .await?;
    let view = gateway.state.view("twenty4help")?;
    assert!(
        !format!("{view:?}").contains("Zora Loeschmich"),
        "the gateway erased the name"
    );

    let head = gateway.head();
    let rest = collect_until(&mut stream, 100_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    let mut all = first;
    all.extend(rest);
    let leaked = where_sent(&all, "Zora Loeschmich");
    assert!(
        leaked.is_empty(),
        "an erased customer's name was sent to twenty4help after the erasure was answered: \
         {leaked:?}"
    );
    gateway.stop().await
}

/// A memory store whose `flush` waits while `held` is set, telling `entered` it reached it:
/// the writer's group is then applied (readable) but not yet published (rules, head), as
/// during redb's durable commit or sled's log sync. Only the group whose batch writes a value
/// containing `marker` is held (set when that batch is applied), so a background group of the
/// gateway cannot stand in for the one under test.
struct SlowFlush {
    inner: hotline_gateway::store::memory::MemoryStore,
    marker: &'static [u8],
    held: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
    entered: tokio::sync::Notify,
}

impl SlowFlush {
    fn new(marker: &'static str) -> Self {
        SlowFlush {
            inner: hotline_gateway::store::memory::MemoryStore::new(),
            marker: marker.as_bytes(),
            held: std::sync::Mutex::new(false),
            opened: std::sync::Condvar::new(),
            entered: tokio::sync::Notify::new(),
        }
    }

    /// Lets the held flush go on.
    fn release(&self) {
        *self.held.lock().unwrap() = false;
        self.opened.notify_all();
    }
}

impl hotline_gateway::store::Store for SlowFlush {
    fn apply(&self, batch: hotline_gateway::store::Batch) -> hotline_gateway::error::Result<()> {
        use hotline_gateway::store::Write;
        let marked = batch.writes.iter().any(|write| match write {
            Write::Put(_, value) => value.windows(self.marker.len()).any(|w| w == self.marker),
            Write::Delete(_) => false,
        });
        self.inner.apply(batch)?;
        if marked {
            *self.held.lock().unwrap() = true;
        }
        Ok(())
    }
    fn get(&self, key: &[u8]) -> hotline_gateway::error::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> hotline_gateway::error::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.range(start, end, limit)
    }
    fn flush(&self) -> hotline_gateway::error::Result<()> {
        let mut held = self.held.lock().unwrap();
        if *held {
            self.entered.notify_one();
        }
        while *held {
            held = self.opened.wait(held).unwrap();
        }
        drop(held);
        self.inner.flush()
    }
}

/// One push of in-house takes `plants` from helpbycom and then writes an in-house-only subject
/// into a `plants` ticket. While that group's flush runs, its states are readable but the old
/// rules are still published: helpbycom's Fetch and a catch-up started then paired the new
/// state with the old rules and sent helpbycom the subject written after it lost the team. They
/// now wait for the group's rules.
#[tokio::test]
async fn readers_wait_for_the_rules_of_a_group_being_written() -> anyhow::Result<()> {
    use std::sync::Arc;
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.storage = "memory".into();
    let store = Arc::new(SlowFlush::new("Geheimsache"));
    let gateway = RunningGateway::start_with_store(config, store.clone()).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let id = number(&block, 0);
    munich
        .open_with(&id, "plants", "Pflanze welkt", "Kunde", "E-7")
        .await?;
    let visible = erfurt
        .fetch(pb::FetchRequest {
            keys: vec![ticket(&id).into()],
        })
        .await?
        .into_inner();
    assert_eq!(visible.states.len(), 1, "helpbycom handles plants");

    let entered = store.entered.notified();
    let changes = vec![
        Change {
            key: EntityKey::new(EntityKind::Policy, "plants"),
            ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
                vec!["inhouse".into()],
            )))],
            origin_site: "munich".into(),
            origin_seq: munich.seq + 1,
            hlc: Hlc::new(now_ms(), 1),
        },
        Change {
            key: ticket(&id),
            ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
                "Nur intern: Geheimsache".into(),
            )))],
            origin_site: "munich".into(),
            origin_seq: munich.seq + 2,
            hlc: Hlc::new(now_ms(), 2),
        },
    ];
    let mut client = munich.client.clone();
    let pushing = tokio::spawn(async move { client.push(push(&changes)).await });
    tokio::time::timeout(std::time::Duration::from_secs(10), entered).await?;

    // The group is applied, not yet published: readers asking now wait for its rules.
    let mut fetcher = erfurt.clone();
    let key = ticket(&id);
    let fetching = tokio::spawn(async move {
        fetcher
            .fetch(pb::FetchRequest {
                keys: vec![key.into()],
            })
            .await
    });
    let head = gateway.head();
    let mut subscriber = erfurt.clone();
    let catching_up = tokio::spawn(async move {
        hotline_tests::harness::subscribe_until(&mut subscriber, 0, head).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !fetching.is_finished(),
        "the fetch answered while the group's rules were unpublished"
    );

    store.release();
    accepted(&pushing.await??.into_inner())?;
    let fetched = fetching.await??.into_inner();
    let caught_up = catching_up.await??;

    let fetch_leak = format!("{fetched:?}").contains("Geheimsache");
    let catch_up_leak = where_sent(&caught_up, "Geheimsache");
    assert!(
        !fetch_leak && catch_up_leak.is_empty(),
        "helpbycom received a subject written after it lost the team: fetch {fetch_leak}, \
         catch-up {catch_up_leak:?}"
    );
    gateway.stop().await
}

/// Hole 5 of issue 12 (gateway_access_changes::a_slow_snapshot_follows_a_withdrawn_grant) on
/// the catch-up path: a site catching up from cursor 0 (inside the retained log, so no
/// snapshot) is sent a chunk of up to 512 entries as the current states of the entities they
/// touched, all decided and encoded before the first is sent. A slow reader keeps receiving
/// customer data for hundreds of tickets after the grant was withdrawn.
#[tokio::test]
async fn a_slow_catch_up_follows_a_withdrawn_grant() -> anyhow::Result<()> {
    use hotline_federation::EntityState;
    const TICKETS: u64 = 500;
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let (gateway, mut munich) = for_slow_readers(&pki, data.path()).await?;
    let block = lease(&mut munich.client, TICKETS as u32).await?;
    munich.fill(&block, 0, TICKETS, "finance-hr").await?;
    let cert = pki.site("twenty4help", "dortmund")?;
    let mut slow = small_window_client(&gateway, &pki, &cert).await?;
    let mut stream = slow
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let first = collect_until(&mut stream, 10, |e| !e.is_empty()).await?;
    let (key, ops) = policy("finance-hr", PolicyField::PiiGrants(vec![]));
    munich.push(key, ops).await?;
    let head = gateway.head();
    let rest = collect_until(&mut stream, 100_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    let with_pii = rest
        .iter()
        .filter(|e| match &e.body {
            Some(pb::sync_event::Body::Entity(state)) => EntityState::try_from(state.clone())
                .is_ok_and(|s| s.registers.contains_key("customer_name")),
            _ => false,
        })
        .count();
    assert!(
        first
            .iter()
            .all(|e| !matches!(e.body, Some(pb::sync_event::Body::SnapshotBegin(_)))),
        "this is a catch-up, not a snapshot"
    );
    assert!(
        with_pii < (TICKETS / 2) as usize,
        "{with_pii} of {TICKETS} tickets arrived with customer data after the grant was withdrawn"
    );
    gateway.stop().await
}

/// A change in-house made while a ticket was in `bank` (hidden from helpbycom) reaches the
/// gateway late (an offline in-house site, or a retried push), after the ticket moved to
/// `plants` and its subject was set again: the late subject loses the merge. The live tail
/// forwards the change's operations as they were pushed, so helpbycom receives the subject
/// written while the ticket was hidden from it, which never was the ticket's value at the
/// gateway (catch-up sends the current state instead; `strip` keeps only winning values
/// for partners).
#[tokio::test]
async fn the_live_tail_leaves_out_a_late_write_made_while_hidden() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let id = number(&block, 0);
    munich
        .open_with(&id, "bank", "Konto gesperrt", "Kunde", "E-9")
        .await?;
    // Written while the ticket is in bank, but not pushed yet.
    let late = Change {
        key: ticket(&id),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
            "Bank intern: Betrugsverdacht".into(),
        )))],
        origin_site: "munich".into(),
        origin_seq: 1_000,
        hlc: Hlc::new(now_ms(), 0),
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let head = gateway.head();
    let mut live = erfurt
        .subscribe(pb::SubscribeRequest { cursor: head })
        .await?
        .into_inner();
    munich
        .push(
            ticket(&id),
            vec![
                FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam("plants".into()))),
                FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
                    "Pflanze welkt".into(),
                ))),
            ],
        )
        .await?;
    accepted(&munich.client.push(push(&[late])).await?.into_inner())?;
    let head = gateway.head();
    let events = collect_until(&mut live, 1_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    assert!(
        mentions(&events, "Pflanze welkt"),
        "helpbycom gained the ticket"
    );
    let view = gateway.state.view("inhouse")?;
    let winner = view
        .entities
        .get(&ticket(&id))
        .and_then(|t| t.value("subject").cloned());
    assert_eq!(
        winner,
        Some(FieldValue::Ticket(TicketField::Subject(
            "Pflanze welkt".into()
        ))),
        "the late subject lost the merge"
    );
    let leaked = where_sent(&events, "Betrugsverdacht");
    assert!(
        leaked.is_empty(),
        "a subject written while the ticket was hidden from helpbycom reached it: {leaked:?}"
    );
    gateway.stop().await
}

/// GetFile during a group that takes `plants` from helpbycom and then attaches a file to a
/// `plants` ticket: while the group's flush runs, the comment's file reference is readable but
/// the old rules are published, and helpbycom was served a file attached after it lost the
/// team. The lookup now waits for the group's rules and answers not found.
#[tokio::test]
async fn a_file_attached_after_the_team_was_withdrawn_is_not_served_meanwhile() -> anyhow::Result<()>
{
    use hotline_tests::files::{png, sha256};
    use std::sync::Arc;
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.storage = "memory".into();
    let store = Arc::new(SlowFlush::new("Schaltplan"));
    let gateway = RunningGateway::start_with_store(config, store.clone()).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let id = number(&block, 0);
    munich
        .open_with(&id, "plants", "Pflanze welkt", "Kunde", "E-8")
        .await?;
    let file = png(2_000, 41);
    let digest = sha256(&file);
    let stored = munich
        .client
        .put_file(futures_util::stream::iter(vec![pb::FilePiece {
            sha256: digest.clone(),
            size: file.len() as u64,
            content_type: "image/png".into(),
            offset: 0,
            data: file.clone(),
        }]))
        .await?
        .into_inner();
    assert!(stored.stored, "munich's upload is stored");

    let entered = store.entered.notified();
    let comment = hotline_federation::model::Comment {
        id: "munich-700001".into(),
        author_alias: "ih".into(),
        author_tenant: "inhouse".into(),
        visibility: hotline_federation::model::Visibility::Federation,
        body: "Schaltplan, nur intern".into(),
        created_at_ms: 1,
        attachments: vec![hotline_federation::attachment::AttachmentRef {
            sha256: digest.clone(),
            size: file.len() as u64,
            content_type: "image/png".into(),
            filename: "plan.png".into(),
        }],
    };
    let changes = vec![
        Change {
            key: EntityKey::new(EntityKind::Policy, "plants"),
            ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
                vec!["inhouse".into()],
            )))],
            origin_site: "munich".into(),
            origin_seq: munich.seq + 1,
            hlc: Hlc::new(now_ms(), 1),
        },
        Change {
            key: ticket(&id),
            ops: vec![FieldOp::AddComment(comment)],
            origin_site: "munich".into(),
            origin_seq: munich.seq + 2,
            hlc: Hlc::new(now_ms(), 2),
        },
    ];
    let mut client = munich.client.clone();
    let pushing = tokio::spawn(async move { client.push(push(&changes)).await });
    tokio::time::timeout(std::time::Duration::from_secs(10), entered).await?;

    let mut reader = erfurt.clone();
    let asked = digest.clone();
    let getting = tokio::spawn(async move {
        reader
            .get_file(pb::GetFileRequest {
                sha256: asked,
                offset: 0,
            })
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !getting.is_finished(),
        "the file was looked up while the group's rules were unpublished"
    );
    store.release();
    accepted(&pushing.await??.into_inner())?;
    match getting.await? {
        Ok(_) => anyhow::bail!("helpbycom was served a file attached after it lost the team"),
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound, "{status}"),
    }
    gateway.stop().await
}
