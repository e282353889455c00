//! Storage layout 2 at the adapter: a store written in layout 1 (each entity one whole
//! `EntityState` record, as every release before issue 16 wrote it; generated here) opens,
//! migrates and reads back the same, also when the migration was cut short; a migrated store
//! reopens unchanged; the open-time check knows the comment and call-event records.

use hotline_adapter::error::Error;
use hotline_adapter::integrity;
use hotline_adapter::replica::{Replica, migrate};
use hotline_federation::clock::DEFAULT_MAX_SKEW_MS;
use hotline_federation::model::{
    CallEvent, CallOutcome, Comment, EntityKey, EntityKind, FieldValue, TicketField, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use prost::Message;
use std::path::Path;

/// The site every store belongs to.
const SITE: &str = "dortmund";
/// Its tenant.
const TENANT: &str = "twenty4help";
/// Tickets in the generated store.
const TICKETS: u64 = 23;
/// The cursor the generated store holds.
const CURSOR: u64 = 4_242;
/// The origin-sequence counter of the generated store.
const SEQ: u64 = 1_000_000;

fn open(dir: &Path) -> Result<Replica, Error> {
    Replica::open(dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS)
}

fn ticket(n: u64) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, format!("ASZ-2025-{n:06}"))
}

fn change(key: &EntityKey, seq: u64, ops: Vec<FieldOp>) -> Change {
    Change {
        key: key.clone(),
        ops,
        origin_site: SITE.into(),
        origin_seq: seq,
        hlc: Hlc {
            wall_ms: 1_764_000_000_000 + seq,
            logical: 0,
        },
    }
}

fn comment(ticket: u64, i: u64) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: format!("c{i}"),
        author_alias: "ada".into(),
        author_tenant: TENANT.into(),
        visibility: Visibility::Federation,
        body: format!("comment {i} on ticket {ticket}"),
        created_at_ms: 1_764_000_000_000 + i,
        attachments: Vec::new(),
    })
}

fn call_event(i: u64) -> FieldOp {
    FieldOp::AddCallEvent(CallEvent {
        id: format!("call-{i}"),
        site: SITE.into(),
        outcome: CallOutcome::Answered,
        wait_seconds: 10 + u32::try_from(i).expect("small"),
        at_ms: 1_764_000_000_000 + i,
        focus_team: None,
        ticket_number: None,
        talk_seconds: 60,
        wrap_seconds: 5,
    })
}

/// The entities of the generated store: tickets with 0 to 6 comments each (one deleted), and a
/// call log with call events.
fn entities() -> Vec<EntityState> {
    let mut out = Vec::new();
    for n in 1..=TICKETS {
        let key = ticket(n);
        let mut state = EntityState::new(key.clone());
        let subject = FieldValue::Ticket(TicketField::Subject(format!("ticket {n}")));
        state.apply(&change(&key, n * 10, vec![FieldOp::Set(subject)]));
        let ops = (0..n % 7).map(|i| comment(n, i)).collect();
        state.apply(&change(&key, n * 10 + 1, ops));
        if n == 5 {
            let delete = FieldOp::Delete {
                reason: "duplicate".into(),
            };
            state.apply(&change(&key, n * 10 + 2, vec![delete]));
        }
        out.push(state);
    }
    let log = EntityKey::new(EntityKind::CallLog, format!("{SITE}.2026-11-26"));
    let mut state = EntityState::new(log.clone());
    state.apply(&change(&log, 900, (0..9).map(call_event).collect()));
    out.push(state);
    out
}

/// The outbox of the generated store: three unpushed changes, one of them a comment.
fn outbox() -> Vec<Change> {
    vec![
        change(&ticket(1), SEQ - 2, vec![comment(1, 50)]),
        change(&ticket(2), SEQ - 1, vec![comment(2, 51)]),
        change(&ticket(3), SEQ, vec![comment(3, 52)]),
    ]
}

/// Writes a store of SITE in layout 1, record by record as the releases before layout 2 did.
fn write_v1_store(dir: &Path) {
    let db = integrity::open_db(dir).expect("open the sled files");
    for state in entities() {
        let mut key = format!("e{}/{}", state.key.kind.as_str(), state.key.id).into_bytes();
        db.insert(&key, pb::EntityState::from(state).encode_to_vec())
            .expect("insert");
        key.clear();
    }
    for change in outbox() {
        let mut key = vec![b'o'];
        key.extend_from_slice(&change.origin_seq.to_be_bytes());
        db.insert(key, pb::Change::from(change).encode_to_vec())
            .expect("insert");
    }
    let hlc = pb::Hlc::from(Hlc {
        wall_ms: 1_764_000_009_999,
        logical: 0,
    })
    .encode_to_vec();
    for (name, value) in [
        ("site", SITE.as_bytes().to_vec()),
        ("format", b"hotline-adapter-store/1".to_vec()),
        ("seq", SEQ.to_be_bytes().to_vec()),
        ("webhook", 77u64.to_be_bytes().to_vec()),
        ("cursor", CURSOR.to_be_bytes().to_vec()),
        ("hlc", hlc.clone()),
        ("confirmed", hlc),
    ] {
        db.insert(format!("m{name}"), value).expect("insert");
    }
    db.flush().expect("flush");
}

/// Every record of the store in `dir`, in key order.
fn records(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = integrity::open_db(dir).expect("open the sled files");
    db.iter()
        .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).expect("read"))
        .collect()
}

fn expected() -> hotline_federation::Replica {
    let mut replica = hotline_federation::Replica::default();
    for state in entities() {
        replica.join_state(&state);
    }
    replica
}

fn count(records: &[(Vec<u8>, Vec<u8>)], prefix: u8) -> usize {
    records.iter().filter(|(key, _)| key[0] == prefix).count()
}

fn damage_of(result: Result<Replica, Error>) -> String {
    match result {
        Err(Error::CorruptStore { damage, .. }) => damage.join("\n"),
        Err(other) => panic!("expected a damaged-store error, got {other}"),
        Ok(_) => panic!("a damaged store opened"),
    }
}

/// A layout-1 store opens, is migrated, and reads back the same replica (canonical hash), the
/// same outbox, cursor and counters: an upgrade must lose nothing a site had.
#[test]
fn layout_1_store_migrates_and_reads_back_equal() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_v1_store(dir.path());
    let before = records(dir.path());
    {
        let replica = open(dir.path()).expect("open migrates");
        let snapshot = replica.snapshot().expect("snapshot");
        assert_eq!(snapshot.canonical_hash(), expected().canonical_hash());
        assert_eq!(replica.outbox(usize::MAX).expect("outbox"), outbox());
        assert_eq!(replica.cursor().expect("cursor"), CURSOR);
        let comments: usize = entities().iter().map(|s| s.comments.len()).sum();
        let tickets = replica.entities(EntityKind::Ticket).expect("tickets");
        assert_eq!(tickets.len(), usize::try_from(TICKETS).expect("small"));
        assert_eq!(
            tickets.iter().map(|s| s.comments.len()).sum::<usize>(),
            comments
        );
        assert_eq!(replica.entity(&ticket(6)).expect("read"), entities()[5]);
    }
    let after = records(dir.path());
    let meta = |records: &[(Vec<u8>, Vec<u8>)], name: &str| {
        let key = format!("m{name}").into_bytes();
        records
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    };
    for name in ["seq", "webhook", "cursor", "hlc", "confirmed", "site"] {
        assert_eq!(meta(&before, name), meta(&after, name), "counter {name}");
    }
    assert_eq!(
        meta(&after, "format").as_deref(),
        Some(&b"hotline-adapter-store/2"[..])
    );
    assert_eq!(meta(&after, "migrate"), None);
    let comments: usize = entities().iter().map(|s| s.comments.len()).sum();
    assert_eq!(count(&after, b'c'), comments);
    assert_eq!(count(&after, b'g'), 9);
    assert_eq!(count(&after, b'o'), 3);
    for (key, value) in after.iter().filter(|(key, _)| key[0] == b'e') {
        let head = pb::EntityState::decode(value.as_slice()).expect("head");
        assert!(
            head.comments.is_empty() && head.call_events.is_empty(),
            "head {key:?} still holds its elements"
        );
    }
}

/// A migration cut after two chunks (as by a kill) leaves a store the check accepts, and the
/// next open finishes it with exactly the records of an uninterrupted migration.
#[test]
fn migration_cut_short_and_rerun_ends_identical() {
    let whole = tempfile::tempdir().expect("tempdir");
    write_v1_store(whole.path());
    drop(open(whole.path()).expect("open migrates"));

    let cut = tempfile::tempdir().expect("tempdir");
    write_v1_store(cut.path());
    {
        let db = integrity::open_db(cut.path()).expect("open the sled files");
        let done = migrate::run_chunks(&db, 4, 2).expect("two chunks");
        assert_eq!((done.chunks, done.entities, done.finished), (2, 8, false));
        let health =
            integrity::verify(&db, cut.path(), SITE, true).expect("half-migrated is healthy");
        assert!(health.migrate, "an interrupted migration must be resumed");
        // A second cut resumes after the cursor: the next chunk starts at entity 9.
        let done = migrate::run_chunks(&db, 4, 1).expect("one more chunk");
        assert_eq!((done.chunks, done.entities), (1, 4));
    }
    drop(open(cut.path()).expect("open resumes the migration"));
    assert_eq!(records(cut.path()), records(whole.path()));
}

/// Opening a store already in layout 2 writes nothing: the migration runs once.
#[test]
fn layout_2_reopen_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_v1_store(dir.path());
    drop(open(dir.path()).expect("open migrates"));
    let first = records(dir.path());
    drop(open(dir.path()).expect("reopen"));
    assert_eq!(records(dir.path()), first);
}

/// A store of a newer layout is refused as a config error naming the layout, not quarantined
/// as damaged: an older release must not destroy a newer release's store.
#[test]
fn newer_layout_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_v1_store(dir.path());
    {
        let db = integrity::open_db(dir.path()).expect("open the sled files");
        db.insert(b"mformat", &b"hotline-adapter-store/3"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    match open(dir.path()) {
        Err(Error::Config { field, problem }) => {
            assert_eq!(field, "data_dir");
            assert!(problem.contains("layout 3"), "{problem}");
            assert!(problem.contains("layouts 1 to 2"), "{problem}");
        }
        Err(other) => panic!("expected a config error, got {other}"),
        Ok(_) => panic!("a store of a newer layout opened"),
    }
}

/// Damaged records of the new prefixes are named by the check at open: an undecodable comment,
/// a comment whose ticket has no head, a call event stored under another event's id, and a
/// layout-2 head that still holds comments.
#[test]
fn check_catches_damaged_comment_and_call_event_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_v1_store(dir.path());
    drop(open(dir.path()).expect("open migrates"));
    {
        let db = integrity::open_db(dir.path()).expect("open the sled files");
        db.insert(b"cticket/ASZ-2025-000002\0c0", &b"\xff\xff"[..])
            .expect("insert");
        let stray = db
            .get(b"cticket/ASZ-2025-000003\0c1")
            .expect("get")
            .expect("comment c1 of ticket 3");
        db.insert(b"cticket/ASZ-2025-000999\0c1", stray)
            .expect("insert");
        let event = db
            .get(format!("gcall_log/{SITE}.2026-11-26\0call-1"))
            .expect("get")
            .expect("call event 1");
        db.insert(format!("gcall_log/{SITE}.2026-11-26\0call-7"), event)
            .expect("insert");
        let whole = pb::EntityState::from(entities()[3].clone()).encode_to_vec();
        db.insert(b"eticket/ASZ-2025-000004", whole)
            .expect("insert");
        db.flush().expect("flush");
    }
    let damage = damage_of(open(dir.path()));
    for expected in [
        "comment \"c0\" of \"ticket/ASZ-2025-000002\": cannot decode",
        "comment \"c1\" of \"ticket/ASZ-2025-000999\": its entity has no head",
        "holds element \"call-1\" under the key of element \"call-7\"",
        "entity \"ticket/ASZ-2025-000004\": the head holds 4 comments",
    ] {
        assert!(damage.contains(expected), "{expected:?} not in {damage}");
    }
}
