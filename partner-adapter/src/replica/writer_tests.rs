//! The writer against a real store: groups share a flush, a failed flush acknowledges none of
//! its group, a refused or panicking write spares its group and stores nothing, and the writer
//! never keeps a stopped store open.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use hotline_federation::lifecycle::{self, TicketText};
use hotline_federation::model::{
    Channel, EntityKind, FieldValue, Language, Priority, TicketField, TicketStatus,
};
use hotline_proto::v1 as pb;

use super::*;
use crate::mapping::{Mapping, MappingConfig};
use crate::webhooks::{DeliveryQueue, WebhookTarget};

const NOW: u64 = 1_795_000_000_000;
const SITE: &str = "munich";
const TENANT: &str = "inhouse";

/// What each test starts from: a store with leased numbers, its writer, and webhook events
/// without targets.
struct Fixture {
    dir: tempfile::TempDir,
    replica: Arc<Replica>,
    writer: LocalWriter,
    events: Arc<TicketEvents>,
}

fn fixture() -> Fixture {
    fixture_for(Vec::new())
}

/// [`fixture`] with webhook events for `targets` (nothing delivers them).
fn fixture_for(targets: Vec<WebhookTarget>) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = Arc::new(Replica::open(dir.path(), SITE, TENANT, 60_000).expect("store"));
    replica
        .add_numbers(&pb::LeaseBlock {
            prefix: "HL".into(),
            year: 2026,
            first: 1,
            count: 1_000,
        })
        .expect("numbers");
    let mapping = Mapping::new(&MappingConfig::default()).expect("mapping");
    Fixture {
        writer: LocalWriter::start(&replica).expect("writer"),
        events: Arc::new(TicketEvents::new(
            targets,
            mapping,
            SITE.into(),
            Arc::default(),
        )),
        replica,
        dir,
    }
}

type Answer<T> = oneshot::Receiver<Result<T>>;

/// Waits for an answer as [`LocalWriter::write`] does: a dropped one is "the writer stopped".
fn answer<T>(answer: Answer<T>) -> Result<T> {
    answer.blocking_recv().map_err(|_| stopped())?
}

impl Fixture {
    /// Keeps the writer busy inside a group of its own (holding the local lock) until the
    /// returned sender is dropped, so every write queued meanwhile lands in its next group.
    fn hold_writer(&self) -> (std::sync::mpsc::Sender<()>, Answer<()>) {
        let (started, taken) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let held = self
            .writer
            .submit(move |_, _| {
                let _ = started.send(());
                let _ = released.recv();
                Ok(((), None))
            })
            .expect("queued");
        taken.recv().expect("the writer took the holding write");
        (release, held)
    }

    /// Lets the writer go on after [`Fixture::hold_writer`].
    fn release(release: std::sync::mpsc::Sender<()>, held: Answer<()>) {
        drop(release);
        answer(held).expect("the holding write");
    }

    /// Queues the creation of a ticket for `customer`.
    fn new_ticket(&self, customer: &str) -> Answer<Option<NewTicket>> {
        let step = new_ticket(NOW, self.events.clone(), creation(customer));
        self.writer.submit(step).expect("queued")
    }

    /// Queues a change whose `build` the writer runs (refusing, or panicking).
    fn change(
        &self,
        number: &str,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change> + Send + 'static,
    ) -> Answer<(Change, EntityState)> {
        let key = EntityKey::new(EntityKind::Ticket, number);
        let step = checked_change(key, NOW, self.events.clone(), build);
        self.writer.submit(step).expect("queued")
    }
}

/// What builds the creation of a ticket for `customer`, given its number.
fn creation(
    customer: &str,
) -> impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change> + Send + 'static {
    let customer = customer.to_owned();
    move |number, seq, hlc, _| {
        let ticket = lifecycle::NewTicket {
            customer_ref: customer,
            focus_team: "dealers-sales".into(),
            category: "vpn".into(),
            priority: Priority::Normal,
            status: TicketStatus::New,
            language: Language::De,
            channel: Channel::Phone,
            first_contact: None,
            text: TicketText::default(),
            access_code: None,
        };
        Ok(Change {
            key: EntityKey::new(EntityKind::Ticket, number),
            ops: lifecycle::create_ops(ticket, number, TENANT, SITE, NOW),
            origin_site: SITE.into(),
            origin_seq: seq,
            hlc,
        })
    }
}

/// The number of the ticket a create answered with.
fn created(answer: Answer<Option<NewTicket>>) -> String {
    let (change, after, _) = self::answer(answer)
        .expect("stored")
        .expect("a number was left");
    assert_eq!(change.key, after.key);
    after.key.id
}

/// Writes queued while the writer is busy are applied as one group and share one flush, and
/// every one is stored with its own number and outbox entry.
#[test]
fn a_group_of_writes_shares_one_flush() {
    let f = fixture();
    let flushes = f.replica.group_flushes();
    let (release, held) = f.hold_writer();
    let answers: Vec<_> = (0..64).map(|i| f.new_ticket(&format!("c-{i}"))).collect();
    Fixture::release(release, held);
    let numbers: BTreeSet<String> = answers.into_iter().map(created).collect();
    assert_eq!(numbers.len(), 64, "each create got its own number");
    let used = f.replica.group_flushes() - flushes;
    assert_eq!(used, 1, "64 creates took {used} flushes");
    assert_eq!(f.replica.outbox_depth(), 64);
    for number in &numbers {
        let stored = f
            .replica
            .entity(&EntityKey::new(EntityKind::Ticket, number.as_str()))
            .expect("read");
        assert!(!stored.is_empty(), "{number} was answered but not stored");
    }
}

/// In one group, a refused write (a comment on a ticket that does not exist) gets its error,
/// a write whose build panics is told the writer dropped it, and neither stores anything; the
/// writes around them are stored, and the writer goes on.
#[test]
fn a_refused_or_panicking_write_stores_nothing_and_spares_its_group() {
    let f = fixture();
    let flushes = f.replica.group_flushes();
    let (first, missing, panicking, last) = {
        let (release, held) = f.hold_writer();
        let first = f.new_ticket("c-first");
        let missing = f.change("HL-2026-000999", |_, _, before, _| {
            assert!(before.is_empty());
            Err(Error::NotFound("no ticket HL-2026-000999 at munich".into()))
        });
        let panicking = f.change("HL-2026-000998", |_, _, _, _| {
            panic!("a build that panics (injected by the test)")
        });
        let last = f.new_ticket("c-last");
        Fixture::release(release, held);
        (first, missing, panicking, last)
    };
    let (first, last) = (created(first), created(last));
    assert_ne!(first, last);
    assert_eq!(
        f.replica.group_flushes() - flushes,
        1,
        "the creates around the refusal and the panic were not one group"
    );
    let missing = answer(missing);
    assert!(
        matches!(&missing, Err(Error::NotFound(m)) if m.contains("HL-2026-000999")),
        "{missing:?}"
    );
    let panicked = answer(panicking).expect_err("a panicking write was answered as if it ran");
    assert!(
        panicked.to_string().contains("writer stopped"),
        "{panicked}"
    );
    assert_eq!(
        f.replica.outbox_depth(),
        2,
        "only the two creates were stored"
    );
    created(f.new_ticket("c-after"));
    assert_eq!(f.replica.outbox_depth(), 3);
}

/// A flush that fails answers every applied write of its group with the error (none is told
/// "stored"), while a refused write of the same group keeps its own error; once flushes work
/// again, so do writes.
#[test]
fn a_failed_flush_acknowledges_none_of_its_group() {
    let f = fixture();
    let (release, held) = f.hold_writer();
    let creates: Vec<_> = (0..3).map(|i| f.new_ticket(&format!("c-{i}"))).collect();
    let missing = f.change("HL-2026-000999", |_, _, _, _| {
        Err(Error::NotFound("no ticket HL-2026-000999 at munich".into()))
    });
    f.replica.failing_flushes.store(true, Ordering::SeqCst);
    Fixture::release(release, held);
    for create in creates {
        let error = answer(create).expect_err("a create was acknowledged after its flush failed");
        assert!(error.to_string().contains("injected"), "{error}");
    }
    assert!(
        matches!(answer(missing), Err(Error::NotFound(_))),
        "the refusal lost its own error"
    );
    f.replica.failing_flushes.store(false, Ordering::SeqCst);
    created(f.new_ticket("c-after"));
}

/// The writer holds the store only while it writes: once a write is answered and the adapter
/// lets go of its store, the store is closed and opens again with the write; a write queued
/// after that is answered with an error, not left waiting.
#[test]
fn the_writer_never_keeps_a_stopped_store_open() {
    let f = fixture();
    let number = created(f.new_ticket("c-1"));
    let Fixture {
        dir,
        replica,
        writer,
        events,
    } = f;
    let store = Arc::downgrade(&replica);
    drop(replica);
    assert!(
        store.upgrade().is_none(),
        "the writer still holds the store"
    );
    let reopened = Replica::open(dir.path(), SITE, TENANT, 60_000).expect("reopened");
    let stored = reopened
        .entity(&EntityKey::new(EntityKind::Ticket, number.as_str()))
        .expect("read");
    assert!(!stored.is_empty(), "the acknowledged create was lost");
    let ran = Arc::new(AtomicBool::new(false));
    let running = ran.clone();
    let late = writer
        .submit(new_ticket(NOW, events, move |_, _, _, _| {
            running.store(true, Ordering::SeqCst);
            Err(Error::Storage("ran against a closed store".into()))
        }))
        .expect("queued");
    let error = answer(late).expect_err("a write after the store closed was answered as stored");
    assert!(error.to_string().contains("writer stopped"), "{error}");
    assert!(!ran.load(Ordering::SeqCst));
}

/// The files' keeper hears of a received file only once the entry that names it is stored:
/// an entry whose flush fails leaves the flag down (before, the flag went up before the
/// commit, so a keeper could take it, read the references as they were and miss the new file
/// until its pass a minute later), and the same entry stored raises it with the file named.
#[test]
fn the_keeper_hears_of_a_received_file_once_it_is_stored() {
    use crate::replica::RemoteEntry;
    use hotline_federation::FieldOp;
    use hotline_federation::attachment::AttachmentRef;
    use hotline_federation::model::{Comment, Visibility};
    let f = fixture();
    let number = created(f.new_ticket("c-files"));
    let key = EntityKey::new(EntityKind::Ticket, &number);
    let file = AttachmentRef {
        sha256: "ab".repeat(32),
        size: 2_048,
        content_type: "image/png".into(),
        filename: "screen.png".into(),
    };
    let mut incoming = f.replica.entity(&key).expect("the ticket");
    incoming.apply(&Change {
        key: key.clone(),
        ops: vec![FieldOp::AddComment(Comment {
            id: "erfurt-7".into(),
            author_alias: "Agent E".into(),
            author_tenant: "helpbycom".into(),
            visibility: Visibility::Federation,
            body: "the screenshot".into(),
            created_at_ms: NOW,
            attachments: vec![file.clone()],
        })],
        origin_site: "erfurt".into(),
        origin_seq: 7,
        hlc: Hlc::new(NOW + 1, 0),
    });
    let entry = RemoteEntry {
        states: vec![incoming],
        cursor: Some(1),
        ..RemoteEntry::default()
    };
    // The flag a fresh store starts with (the keeper's first look), taken.
    f.replica.take_files_changed();

    f.replica.failing_flushes.store(true, Ordering::SeqCst);
    f.replica
        .apply_remote(&entry, &f.events, NOW)
        .expect_err("an entry was stored although its flush failed");
    assert!(
        !f.replica.take_files_changed(),
        "the keeper was told of files before the entry naming them was stored"
    );

    f.replica.failing_flushes.store(false, Ordering::SeqCst);
    f.replica
        .apply_remote(&entry, &f.events, NOW)
        .expect("the entry stored");
    assert!(
        f.replica.take_files_changed(),
        "the keeper was not told of the received file"
    );
    let named = f.replica.file_refs().expect("the references");
    assert_eq!(named.get(&file.sha256), Some(&file));
}

/// A group as one batch (`super::super::stage`).
#[path = "writer_stage_tests.rs"]
mod staged;
