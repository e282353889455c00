//! What an entity write puts into a batch: applied to an empty temporary sled, the batch shows
//! exactly the records written.

use hotline_federation::model::{
    Comment, EntityKey, EntityKind, FieldValue, TicketField, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc};

use super::{read, remove, scan, write};

fn key() -> EntityKey {
    EntityKey::new(EntityKind::Ticket, "ASZ-2025-000001")
}

fn change(seq: u64, ops: Vec<FieldOp>) -> Change {
    Change {
        key: key(),
        ops,
        origin_site: "dortmund".into(),
        origin_seq: seq,
        hlc: Hlc {
            wall_ms: 1_764_000_000_000 + seq,
            logical: 0,
        },
    }
}

fn comment(i: u64) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: format!("c{i}"),
        author_alias: "ada".into(),
        author_tenant: "twenty4help".into(),
        visibility: Visibility::Federation,
        body: format!("comment {i}"),
        created_at_ms: 1_764_000_000_000 + i,
        attachments: Vec::new(),
    })
}

fn subject(text: &str) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(TicketField::Subject(text.into())))
}

/// A ticket with a subject and 40 comments.
fn ticket() -> EntityState {
    let mut state = EntityState::new(key());
    state.apply(&change(1, vec![subject("printer")]));
    state.apply(&change(2, (0..40).map(comment).collect()));
    state
}

/// The keys a batch writes, applied to an empty store.
fn written(batch: sled::Batch) -> Vec<Vec<u8>> {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("temporary sled");
    db.apply_batch(batch).expect("apply");
    db.iter()
        .map(|item| item.expect("read").0.to_vec())
        .collect()
}

fn store(state: &EntityState) -> sled::Db {
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("temporary sled");
    let mut batch = sled::Batch::default();
    write(&mut batch, &EntityState::new(state.key.clone()), state);
    db.apply_batch(batch).expect("apply");
    db
}

/// A new comment on a ticket with 40 writes that comment's record and nothing else: the cost
/// of a comment must not grow with the ticket.
#[test]
fn a_comment_writes_only_the_comment() {
    let before = ticket();
    let mut after = before.clone();
    after.apply(&change(3, vec![comment(99)]));
    let mut batch = sled::Batch::default();
    write(&mut batch, &before, &after);
    assert_eq!(
        written(batch),
        vec![b"cticket/ASZ-2025-000001\0c99".to_vec()]
    );
}

/// A changed register writes the head and no comment.
#[test]
fn a_register_change_writes_only_the_head() {
    let before = ticket();
    let mut after = before.clone();
    after.apply(&change(3, vec![subject("scanner")]));
    let mut batch = sled::Batch::default();
    write(&mut batch, &before, &after);
    assert_eq!(written(batch), vec![b"eticket/ASZ-2025-000001".to_vec()]);
}

/// What is written reads back equal, alone and in a scan, and a removal leaves nothing: the
/// split layout must be invisible to readers.
#[test]
fn written_entity_reads_back_and_removes_completely() {
    let state = ticket();
    let db = store(&state);
    assert_eq!(read(&db, &key()).expect("read"), Some(state.clone()));
    let mut scanned = Vec::new();
    scan(&db, Some(EntityKind::Ticket), |s| {
        scanned.push(s);
        Ok(())
    })
    .expect("scan");
    assert_eq!(scanned, vec![state.clone()]);
    let mut batch = sled::Batch::default();
    remove(&mut batch, &state);
    db.apply_batch(batch).expect("apply");
    assert_eq!(db.len(), 0);
}

/// A replacement holding fewer comments (a snapshot item redacted for the site) removes the
/// records of the comments it no longer holds.
#[test]
fn a_replacement_removes_comments_it_no_longer_holds() {
    let before = ticket();
    let db = store(&before);
    let mut after = before.clone();
    after.comments.retain(|id, _| id != "c7");
    let mut batch = sled::Batch::default();
    write(&mut batch, &before, &after);
    db.apply_batch(batch).expect("apply");
    assert_eq!(read(&db, &key()).expect("read"), Some(after));
}

/// A comment record whose ticket has no head makes a scan fail instead of dropping it quietly.
#[test]
fn scan_refuses_a_comment_without_head() {
    let db = store(&ticket());
    db.remove(b"eticket/ASZ-2025-000001").expect("remove");
    let error = scan(&db, None, |_| Ok(())).expect_err("an orphan comment");
    assert!(error.to_string().contains("has no entity head"), "{error}");
}

/// A scan while another thread creates tickets (head and first comments in one batch) and
/// comments on them never calls the store damaged and never shows a ticket without the
/// comments it was created with.
#[test]
fn a_scan_beside_writes_sees_whole_tickets() {
    const TICKETS: u64 = 1500;
    let db = sled::Config::new()
        .temporary(true)
        .open()
        .expect("temporary sled");
    let writer_db = db.clone();
    let (go, started) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        // Starts with the first scan, so scans and writes overlap.
        started.recv().expect("the first scan starts");
        for n in 1..=TICKETS {
            let key = EntityKey::new(EntityKind::Ticket, format!("ASZ-2025-{n:06}"));
            let mut state = EntityState::new(key.clone());
            let mut first = change(n, vec![subject("printer"), comment(0), comment(1)]);
            first.key = key.clone();
            state.apply(&first);
            let mut batch = sled::Batch::default();
            write(&mut batch, &EntityState::new(key.clone()), &state);
            writer_db.apply_batch(batch).expect("create");
            let before = state.clone();
            let mut more = change(n, vec![comment(2)]);
            more.key = key;
            state.apply(&more);
            let mut batch = sled::Batch::default();
            write(&mut batch, &before, &state);
            writer_db.apply_batch(batch).expect("comment");
        }
    });
    go.send(()).expect("the writer waits");
    let last = loop {
        let writing = !writer.is_finished();
        let mut count = 0u64;
        scan(&db, None, |state| {
            assert!(
                state.comments.len() >= 2,
                "{} without its first comments",
                state.key
            );
            count += 1;
            Ok(())
        })
        .expect("a healthy store scans");
        if !writing {
            break count;
        }
    };
    writer.join().expect("writer");
    assert_eq!(last, TICKETS, "the scan after the writes");
}
