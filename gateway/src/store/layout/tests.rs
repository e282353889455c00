//! The migration from layout 1 on real sled files, and the bytes a comment writes in layout 2.

use std::sync::Arc;

use hotline_federation::clock::Hlc;
use hotline_federation::model::{
    CallEvent, CallOutcome, Comment, EntityKey, EntityKind, FieldValue, TicketField, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp};

use super::{MIGRATION_CHUNK, migrate, stored_layout};
use crate::log::encode_state;
use crate::store::memory::MemoryStore;
use crate::store::sled_store::SledStore;
use crate::store::{Batch, Store, Write, entities, keys};

fn change(key: &EntityKey, ops: Vec<FieldOp>, wall_ms: u64) -> Change {
    Change {
        key: key.clone(),
        ops,
        origin_site: "dortmund".into(),
        origin_seq: wall_ms,
        hlc: Hlc::new(wall_ms, 0),
    }
}

fn comment(i: usize) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: format!("dortmund-{i}"),
        author_alias: "Advisor 7".into(),
        author_tenant: "inhouse".into(),
        visibility: Visibility::Tenant,
        body: format!("Rückruf vereinbart, Versuch {i}"),
        created_at_ms: 1_000 + i as u64,
        attachments: Vec::new(),
    })
}

/// A ticket with a category and `comments` comments.
fn ticket(n: usize, comments: usize) -> EntityState {
    let key = EntityKey::new(EntityKind::Ticket, format!("ASZ-2026-{n:06}"));
    let mut state = EntityState::new(key.clone());
    let category = FieldValue::Ticket(TicketField::Category("billing".into()));
    state.apply(&change(&key, vec![FieldOp::Set(category)], 1));
    for i in 0..comments {
        state.apply(&change(&key, vec![comment(i)], 2 + i as u64));
    }
    state
}

/// A call log of one day with `events` events.
fn call_log(day: usize, events: usize) -> EntityState {
    let key = EntityKey::new(EntityKind::CallLog, format!("dortmund.2026-11-{day:02}"));
    let mut state = EntityState::new(key.clone());
    for i in 0..events {
        let event = CallEvent {
            id: format!("call-{i}"),
            site: "dortmund".into(),
            outcome: CallOutcome::Answered,
            wait_seconds: 12,
            at_ms: 5_000 + i as u64,
            focus_team: Some("finance-hr".into()),
            ticket_number: None,
            talk_seconds: 90,
            wrap_seconds: 30,
        };
        state.apply(&change(
            &key,
            vec![FieldOp::AddCallEvent(event)],
            1 + i as u64,
        ));
    }
    state
}

/// A store as the previous release wrote it: each entity one whole record, plus log entries.
fn write_layout_1(store: &dyn Store, tickets: usize) -> Vec<EntityState> {
    let mut states: Vec<EntityState> = (0..tickets).map(|n| ticket(n + 1, n % 7)).collect();
    states.extend((1..=5).map(|day| call_log(day, day * 3)));
    let mut batch = Batch::default();
    for (seq, state) in states.iter().enumerate() {
        batch.put(keys::entity(&state.key), encode_state(state));
        batch.put(
            keys::log(seq as u64 + 1),
            format!("entry {seq}").into_bytes(),
        );
    }
    batch.put(keys::meta("head"), keys::encode_u64(states.len() as u64));
    store.apply(batch).unwrap();
    store.flush().unwrap();
    states
}

fn everything(store: &dyn Store) -> Vec<(Vec<u8>, Vec<u8>)> {
    store.range(&[], &[u8::MAX; 4], usize::MAX).unwrap()
}

/// Every entity reads back with the canonical hash it had when written.
fn assert_reads_back(store: &dyn Store, states: &[EntityState]) {
    for state in states {
        let read = entities::read(store, &state.key).unwrap().expect("stored");
        assert_eq!(
            read.canonical_hash(),
            state.canonical_hash(),
            "{}",
            state.key
        );
    }
    // Read together (and one key not stored among them): the same, in the order asked.
    let mut keys: Vec<EntityKey> = states.iter().rev().map(|s| s.key.clone()).collect();
    keys.insert(
        keys.len() / 2,
        EntityKey::new(EntityKind::Ticket, "ASZ-2026-999999"),
    );
    let together = entities::read_many(store, &keys).unwrap();
    let one_by_one: Vec<Option<EntityState>> = keys
        .iter()
        .map(|key| entities::read(store, key).unwrap())
        .collect();
    assert_eq!(
        together, one_by_one,
        "read together and one by one disagree"
    );
    assert_eq!(together.iter().filter(|s| s.is_none()).count(), 1);
    let scanned = entities::scan_all(store).unwrap();
    assert_eq!(scanned.len(), states.len());
    let mut chunks = entities::Chunks::new(7);
    let mut streamed = Vec::new();
    while let Some(chunk) = chunks.next_chunk(store).unwrap() {
        assert!(chunk.len() <= 7);
        streamed.extend(chunk);
    }
    assert_eq!(streamed, scanned, "chunks and one scan disagree");
}

/// A store of the previous release (sled files, whole records, log entries) migrates at open:
/// every ticket and call log reads back equal, the log is untouched, the layout says 2.
#[test]
fn a_layout_1_store_migrates_and_reads_back_equal() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let states = write_layout_1(&store, 600);
    let log_before = store.range(&keys::log(0), &keys::log(u64::MAX), usize::MAX);
    let migration = migrate(&store, MIGRATION_CHUNK, None).unwrap();
    assert_eq!((migration.from, migration.done), (1, true));
    assert_eq!(migration.rewritten, states.len() as u64);
    assert_eq!(stored_layout(&store).unwrap(), 2);
    assert_eq!(store.get(&keys::meta("layout.cursor")).unwrap(), None);
    let log_after = store.range(&keys::log(0), &keys::log(u64::MAX), usize::MAX);
    assert_eq!(log_before.unwrap(), log_after.unwrap());
    // The heads hold no comment any more: the comments live under their own keys.
    let big = &states[5];
    assert_eq!(big.comments.len(), 5);
    let head = store.get(&keys::entity(&big.key)).unwrap().unwrap();
    assert!(crate::log::decode_state(&head).unwrap().comments.is_empty());
    assert_reads_back(&store, &states);
    drop(store);
    let reopened = SledStore::open(dir.path()).unwrap();
    assert_reads_back(&reopened, &states);
}

/// A migration stopped after two chunks (a kill) leaves its cursor; run again it finishes with
/// exactly what an uninterrupted migration gives.
#[test]
fn a_stopped_migration_resumes_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let states = write_layout_1(&store, 100);
    let stopped = migrate(&store, 16, Some(2)).unwrap();
    assert_eq!((stopped.rewritten, stopped.done), (32, false));
    assert_eq!(stored_layout(&store).unwrap(), 1);
    assert!(store.get(&keys::meta("layout.cursor")).unwrap().is_some());
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    let resumed = migrate(&store, 16, None).unwrap();
    assert!(resumed.done);
    assert_eq!(resumed.rewritten, states.len() as u64 - 32);
    assert_reads_back(&store, &states);

    let whole = MemoryStore::new();
    write_layout_1(&whole, 100);
    migrate(&whole, 16, None).unwrap();
    assert_eq!(everything(&store), everything(&whole));
}

/// Migrating a store already in layout 2 rewrites nothing and changes no byte.
#[test]
fn migrating_a_layout_2_store_changes_nothing() {
    let store = MemoryStore::new();
    let states = write_layout_1(&store, 40);
    migrate(&store, 8, None).unwrap();
    let before = everything(&store);
    let again = migrate(&store, 8, None).unwrap();
    assert_eq!((again.from, again.rewritten, again.done), (2, 0, true));
    assert_eq!(everything(&store), before);
    assert_reads_back(&store, &states);
}

/// A store written by a later build (layout 3) is refused, naming the number and what this
/// build reads, rather than read wrongly.
#[test]
fn an_unknown_layout_is_refused() {
    let store = MemoryStore::new();
    let mut batch = Batch::default();
    batch.put(keys::meta("layout"), keys::encode_u64(3));
    store.apply(batch).unwrap();
    let error = migrate(&store, 8, None).unwrap_err().to_string();
    assert!(error.contains("storage layout 3"), "{error}");
    assert!(error.contains("reads layouts 1 and 2"), "{error}");
}

fn bytes(batch: &Batch) -> usize {
    batch
        .writes
        .iter()
        .map(|w| match w {
            Write::Put(k, v) => k.len() + v.len(),
            Write::Delete(k) => k.len(),
        })
        .sum()
}

/// The 101st comment on a ticket writes that comment alone: under twice one comment's
/// record, where layout 1 rewrote all 101.
#[test]
fn a_comment_writes_bytes_of_the_comment_not_the_ticket() {
    let store = MemoryStore::new();
    let before = ticket(1, 100);
    let mut batch = Batch::default();
    entities::write_whole(&mut batch, &before);
    let one_comment = match &batch.writes[1] {
        Write::Put(k, v) => k.len() + v.len(),
        Write::Delete(_) => unreachable!("write_whole only puts"),
    };
    store.apply(batch).unwrap();
    let mut after = before.clone();
    after.apply(&change(&before.key, vec![comment(100)], 500));
    let mut delta = Batch::default();
    entities::write_delta(&mut delta, &before, &after);
    assert_eq!(delta.writes.len(), 1, "only the new comment is written");
    assert!(bytes(&delta) < 2 * one_comment, "{} bytes", bytes(&delta));
    assert!(bytes(&delta) * 50 < encode_state(&after).len());
    store.apply(delta).unwrap();
    let read = entities::read(&store, &after.key).unwrap().unwrap();
    assert_eq!(read.canonical_hash(), after.canonical_hash());
}

/// A change of a register rewrites the head and no comment.
#[test]
fn a_register_change_writes_the_head_alone() {
    let before = ticket(1, 20);
    let mut after = before.clone();
    let category = FieldValue::Ticket(TicketField::Category("hardware".into()));
    after.apply(&change(&before.key, vec![FieldOp::Set(category)], 900));
    let mut delta = Batch::default();
    entities::write_delta(&mut delta, &before, &after);
    let written: Vec<_> = delta
        .writes
        .iter()
        .map(|w| match w {
            Write::Put(k, _) | Write::Delete(k) => k.clone(),
        })
        .collect();
    assert_eq!(written, vec![keys::entity(&before.key)]);
}

/// A gateway opened on a layout-1 store serves the migrated entities: the writer and every
/// reader start only after the migration.
#[tokio::test]
async fn the_gateway_opens_a_layout_1_store() {
    let store = Arc::new(MemoryStore::new());
    let states = write_layout_1(store.as_ref(), 30);
    let config = crate::config::GatewayConfig {
        storage: "memory".into(),
        ..crate::config::GatewayConfig::default()
    };
    let state = crate::state::GatewayState::open_with_store(config, store.clone())
        .await
        .expect("the gateway opens a layout-1 store");
    assert_eq!(stored_layout(store.as_ref()).unwrap(), 2);
    for expected in &states {
        let read = state.entity(&expected.key).unwrap();
        assert_eq!(read.canonical_hash(), expected.canonical_hash());
    }
    state.close().await;
}

/// A store that remembers every batch the writer applied, to weigh them.
#[derive(Default)]
struct WeighedStore {
    inner: MemoryStore,
    batches: parking_lot::Mutex<Vec<Batch>>,
}

impl Store for WeighedStore {
    fn apply(&self, batch: Batch) -> crate::error::Result<()> {
        self.batches.lock().push(batch.clone());
        self.inner.apply(batch)
    }
    fn get(&self, key: &[u8]) -> crate::error::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn range(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> crate::error::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.inner.range(start, end, limit)
    }
    fn flush(&self) -> crate::error::Result<()> {
        self.inner.flush()
    }
}

/// Through the real writer, the 101st comment's committed batch holds that comment (under
/// twice one comment's record) plus the log, dedupe and audit entries, and weighs a small
/// part of the whole ticket that layout 1 rewrote.
#[tokio::test]
async fn the_writer_commits_a_comment_without_its_ticket() {
    let store = Arc::new(WeighedStore::default());
    let config = crate::config::GatewayConfig {
        storage: "memory".into(),
        ..crate::config::GatewayConfig::default()
    };
    let state = crate::state::GatewayState::open_with_store(config, store.clone())
        .await
        .unwrap();
    let key = EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001");
    let category = FieldValue::Ticket(TicketField::Category("billing".into()));
    let number = FieldValue::Ticket(TicketField::PublicNumber(key.id.clone()));
    let seeded = state.writer.seed(
        key.clone(),
        vec![FieldOp::Set(number), FieldOp::Set(category)],
    );
    assert!(matches!(
        seeded.await.unwrap()[0],
        crate::writer::Outcome::Accepted { .. }
    ));
    for i in 0..=100 {
        let outcome = state
            .writer
            .seed(key.clone(), vec![comment(i)])
            .await
            .unwrap();
        assert!(
            matches!(outcome[0], crate::writer::Outcome::Accepted { .. }),
            "{outcome:?}"
        );
    }
    let last = store.batches.lock().last().cloned().unwrap();
    let ticket = state.entity(&key).unwrap();
    assert_eq!(ticket.comments.len(), 101);
    let mut one = Batch::default();
    entities::write_whole(&mut one, &ticket);
    let one_comment = bytes(&Batch {
        writes: vec![one.writes[1].clone()],
    });
    let entity_part = Batch {
        writes: last
            .writes
            .iter()
            .filter(|w| match w {
                Write::Put(k, _) | Write::Delete(k) => {
                    [keys::ENTITY, keys::COMMENT, keys::CALL_EVENT].contains(&k[0])
                }
            })
            .cloned()
            .collect(),
    };
    assert!(
        bytes(&entity_part) < 2 * one_comment,
        "{} bytes",
        bytes(&entity_part)
    );
    let whole = encode_state(&ticket).len();
    assert!(
        bytes(&last) * 4 < whole,
        "batch {} bytes, ticket {whole}",
        bytes(&last)
    );
    state.close().await;
}

/// What the writer writes from a change's operations ([`entities::write_change`]) leaves the
/// store byte for byte as the comparison of whole states ([`entities::write_delta`]) does, for
/// every kind of operation: a new comment, a comment re-added with an older stamp, a register
/// set that wins and one that loses to a newer write, a delete, a call event, and an entity
/// that did not exist before.
#[test]
fn writing_from_the_change_stores_what_comparing_states_stores() {
    let category = |c: &str| FieldOp::Set(FieldValue::Ticket(TicketField::Category(c.into())));
    let ticket_key = ticket(9, 0).key;
    let log = call_log(3, 2);
    let event = match log.call_events.values().next() {
        Some(event) => FieldOp::AddCallEvent(event.value.clone()),
        None => unreachable!("the call log has two events"),
    };
    let cases: Vec<(&str, EntityState, Change)> = vec![
        (
            "new comment",
            ticket(9, 5),
            change(&ticket_key, vec![comment(5)], 900),
        ),
        (
            "comment again, older",
            ticket(9, 5),
            change(&ticket_key, vec![comment(2)], 1),
        ),
        (
            "set wins",
            ticket(9, 5),
            change(&ticket_key, vec![category("hw")], 900),
        ),
        (
            "set loses",
            ticket(9, 5),
            change(&ticket_key, vec![category("hw")], 0),
        ),
        (
            "delete",
            ticket(9, 5),
            change(
                &ticket_key,
                vec![FieldOp::Delete {
                    reason: "dup".into(),
                }],
                900,
            ),
        ),
        (
            "set and comment",
            ticket(9, 2),
            change(&ticket_key, vec![category("net"), comment(7)], 900),
        ),
        (
            "call event again",
            log.clone(),
            change(&log.key, vec![event.clone()], 900),
        ),
        (
            "new entity",
            EntityState::new(ticket_key.clone()),
            change(&ticket_key, vec![category("hw"), comment(0)], 900),
        ),
        (
            "new call log",
            EntityState::new(log.key.clone()),
            change(&log.key, vec![event], 900),
        ),
    ];
    for (name, before, change) in cases {
        let mut after = before.clone();
        after.apply(&change);
        let (by_change, by_states) = (MemoryStore::new(), MemoryStore::new());
        for store in [&by_change, &by_states] {
            let mut whole = Batch::default();
            entities::write_whole(&mut whole, &before);
            store.apply(whole).unwrap();
        }
        let mut batch = Batch::default();
        entities::write_change(&mut batch, before.is_empty(), &after, &change);
        by_change.apply(batch).unwrap();
        let mut batch = Batch::default();
        entities::write_delta(&mut batch, &before, &after);
        by_states.apply(batch).unwrap();
        assert_eq!(everything(&by_change), everything(&by_states), "{name}");
        let read = entities::read(&by_change, &after.key).unwrap().expect(name);
        assert_eq!(read.canonical_hash(), after.canonical_hash(), "{name}");
    }
}

/// A pass over the heads of one kind reads every entity of that kind once, in key order, across
/// chunk boundaries, as its head only (registers and delete, no comments), and nothing of
/// another kind.
#[test]
fn each_head_of_a_kind_is_read_once_without_its_elements() {
    let store = MemoryStore::new();
    let mut batch = Batch::default();
    let tickets: Vec<EntityState> = (1..=5).map(|n| ticket(n, n)).collect();
    // Article ids that are prefixes of one another ("kb-1", "kb-10", "kb-100"), so a chunk
    // that ended at "kb-1" and went on from anything but the very next key would skip one.
    let articles: Vec<EntityState> = ["kb-1", "kb-10", "kb-100", "kb-2"]
        .iter()
        .map(|id| EntityState::new(EntityKey::new(EntityKind::Article, id.to_string())))
        .collect();
    for state in tickets
        .iter()
        .chain(&articles)
        .chain([call_log(1, 3), call_log(2, 1)].iter())
    {
        entities::write_whole(&mut batch, state);
    }
    store.apply(batch).unwrap();
    for chunk in [1, 2, 3, 5, 512] {
        let mut seen = Vec::new();
        entities::for_each_head(&store, EntityKind::Ticket, chunk, |head| {
            seen.push(head);
            Ok(())
        })
        .unwrap();
        let heads: Vec<EntityState> = tickets.iter().map(EntityState::head).collect();
        assert_eq!(seen, heads, "chunk {chunk}");
        let mut ids = Vec::new();
        entities::for_each_head(&store, EntityKind::Article, chunk, |head| {
            ids.push(head.key.id);
            Ok(())
        })
        .unwrap();
        assert_eq!(ids, ["kb-1", "kb-10", "kb-100", "kb-2"], "chunk {chunk}");
    }
    let mut logs = Vec::new();
    entities::for_each_head(&store, EntityKind::CallLog, 1, |head| {
        logs.push(head.key.id.clone());
        assert!(head.call_events.is_empty());
        Ok(())
    })
    .unwrap();
    assert_eq!(logs, ["dortmund.2026-11-01", "dortmund.2026-11-02"]);
}

/// A head read gives the registers and delete stamp a whole read gives, without the elements,
/// and nothing for a key that is not stored.
#[test]
fn a_head_read_gives_the_registers_without_the_elements() {
    let store = MemoryStore::new();
    let (with_comments, log) = (ticket(1, 4), call_log(2, 3));
    let mut batch = Batch::default();
    entities::write_whole(&mut batch, &with_comments);
    entities::write_whole(&mut batch, &log);
    store.apply(batch).unwrap();
    for state in [&with_comments, &log] {
        let whole = entities::read(&store, &state.key).unwrap().expect("stored");
        let head = entities::read_head(&store, &state.key)
            .unwrap()
            .expect("stored");
        assert_eq!(head.registers, whole.registers, "{}", state.key);
        assert_eq!(head.deleted, whole.deleted);
        assert!(head.comments.is_empty() && head.call_events.is_empty());
        assert!(!whole.comments.is_empty() || !whole.call_events.is_empty());
    }
    let absent = EntityKey::new(EntityKind::Ticket, "ASZ-2026-999999");
    assert!(entities::read_head(&store, &absent).unwrap().is_none());
}
