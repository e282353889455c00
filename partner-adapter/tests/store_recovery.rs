//! The store check at start and `recover`, on real sled stores in temp dirs: damage of every
//! kind is refused with a list of what is damaged, and recover keeps what can be read while the
//! counters stay above every number the old store used.

use crate::common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{SITE, TENANT, write_at};
use hotline_adapter::config::AdapterConfig;
use hotline_adapter::error::Error;
use hotline_adapter::integrity::{self, HighWater};
use hotline_adapter::recover::{self, Outcome, Recovery};
use hotline_adapter::replica::Replica;
use hotline_adapter::sync::now_ms;
use hotline_federation::clock::DEFAULT_MAX_SKEW_MS;
use hotline_federation::model::{EntityKey, EntityKind};

fn open(dir: &Path) -> Result<Replica, Error> {
    Replica::open(dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS)
}

/// Sets the subject of ticket `id` now; returns the change's origin sequence.
fn write(replica: &Replica, id: &str, subject: &str) -> u64 {
    write_at(
        replica,
        &EntityKey::new(EntityKind::Ticket, id),
        subject,
        now_ms(),
    )
    .origin_seq
}

/// A store of SITE with three unpushed changes; their origin sequences.
fn store_with_outbox(dir: &Path) -> Vec<u64> {
    let replica = open(dir).expect("open");
    let seqs = vec![
        write(&replica, "ASZ-2025-000001", "one"),
        write(&replica, "ASZ-2025-000002", "two"),
        write(&replica, "ASZ-2025-000003", "three"),
    ];
    replica.record_high_water().expect("high water");
    seqs
}

fn config(dir: &Path) -> AdapterConfig {
    AdapterConfig {
        federation: "acme".into(),
        tenant: TENANT.into(),
        site: SITE.into(),
        data_dir: dir.to_path_buf(),
        ..AdapterConfig::default()
    }
}

fn damage_of(result: Result<Replica, Error>) -> Vec<String> {
    match result {
        Err(Error::CorruptStore { damage, .. }) => damage,
        Err(other) => panic!("expected a damaged-store error, got {other}"),
        Ok(_) => panic!("a damaged store opened"),
    }
}

fn recovered(outcome: Outcome) -> Recovery {
    match outcome {
        Outcome::Recovered(recovery) => recovery,
        other => panic!("expected a rebuild, got: {other}"),
    }
}

fn outbox_seqs(replica: &Replica) -> Vec<u64> {
    replica
        .outbox(usize::MAX)
        .expect("outbox")
        .iter()
        .map(|c| c.origin_seq)
        .collect()
}

/// A new store's first origin sequence is the creation time in microseconds, not 1, so a store
/// that replaces a lost one (even one deleted by hand) cannot reuse its numbers.
#[test]
fn new_store_starts_its_counters_at_the_time_floor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = integrity::time_floor(SystemTime::now());
    let replica = open(dir.path()).expect("open");
    let seq = write(&replica, "ASZ-2025-000001", "first");
    assert!(
        seq > before,
        "first origin_seq {seq} is not above the time floor {before}"
    );
}

/// A snapshot file whose writing was interrupted by a kill (`snap.*.generating`, which sled
/// would read as its newest snapshot) does not make a healthy store look damaged: it opens with
/// its whole outbox.
#[test]
fn interrupted_sled_snapshot_is_not_damage() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    std::fs::write(
        dir.join("snap.7FFFFFFFFFFFFFFF.generating"),
        vec![7u8; 4096],
    )
    .expect("write the interrupted snapshot");
    let replica = open(&dir).expect("a store with an interrupted snapshot opens");
    assert_eq!(outbox_seqs(&replica), seqs);
}

/// An outbox entry that does not decode stops the start with its sequence named; recover keeps
/// the other entries in order, counts the lost one, resets the cursor and continues numbering
/// above every old sequence.
#[test]
fn undecodable_outbox_entry_is_refused_and_recover_keeps_the_rest() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    {
        // Damage the files themselves: the adapter hands out no raw access to its store.
        let db = integrity::open_db(&dir).expect("open the sled files");
        let mut key = vec![b'o'];
        key.extend_from_slice(&seqs[1].to_be_bytes());
        db.insert(key, &b"\xff\xff not a change"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let damage = damage_of(open(&dir));
    assert!(
        damage
            .iter()
            .any(|d| d.contains(&format!("outbox entry {}", seqs[1]))),
        "{damage:?}"
    );

    let recovery = recovered(recover::recover(&config(&dir), false).expect("recover"));
    assert_eq!((recovery.kept, recovery.lost), (2, 1), "{recovery:?}");
    assert!(recovery.quarantine.is_dir());
    assert!(
        recovery
            .quarantine
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("data.quarantine-")),
        "{}",
        recovery.quarantine.display()
    );

    let replica = open(&dir).expect("the rebuilt store opens");
    assert_eq!(outbox_seqs(&replica), [seqs[0], seqs[2]]);
    assert_eq!(replica.cursor().expect("cursor"), 0);
    let kept = replica
        .entity(&EntityKey::new(EntityKind::Ticket, "ASZ-2025-000001"))
        .expect("entity");
    assert!(!kept.is_empty(), "the kept change is not visible locally");
    let next = write(&replica, "ASZ-2025-000004", "after");
    assert!(next > seqs[2], "next origin_seq {next} reuses an old one");
    assert!(next > recovery.floors.seq);
}

/// sled silently drops its log when the start of its file is overwritten and opens empty; the
/// missing markers give it away, and recover still numbers above the old sequences.
#[test]
fn wiped_sled_log_is_detected_and_numbering_stays_above_the_old_store() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    let log = dir.join("db");
    let mut bytes = std::fs::read(&log).expect("read");
    let end = bytes.len().min(64 * 1024);
    bytes[..end].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&log, bytes).expect("write");

    let damage = damage_of(open(&dir));
    assert!(
        damage
            .iter()
            .any(|d| d.contains("sled") || d.contains("markers") || d.contains("high-water")),
        "{damage:?}"
    );
    let recovery = recovered(recover::recover(&config(&dir), false).expect("recover"));
    let replica = open(&dir).expect("the rebuilt store opens");
    let next = write(&replica, "ASZ-2025-000009", "after");
    assert!(next > seqs[2], "next origin_seq {next} reuses an old one");
    assert_eq!(
        outbox_seqs(&replica).len(),
        recovery.kept + 1,
        "{recovery:?}"
    );
}

/// A garbage sled `conf` file makes sled refuse the store; recover reads it with the default
/// conf and keeps every outbox entry.
#[test]
fn damaged_sled_conf_is_refused_and_recover_keeps_every_entry() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    std::fs::write(dir.join("conf"), b"\x00garbage\xff").expect("write");

    let damage = damage_of(open(&dir));
    assert!(
        damage.iter().any(|d| d.contains("sled cannot open it")),
        "{damage:?}"
    );
    let recovery = recovered(recover::recover(&config(&dir), false).expect("recover"));
    assert_eq!((recovery.kept, recovery.lost), (3, 0), "{recovery:?}");
    assert!(recovery.read.contains("conf"), "{}", recovery.read);
    let replica = open(&dir).expect("the rebuilt store opens");
    assert_eq!(outbox_seqs(&replica), seqs);
}

/// Counters below the high-water marks mean sled lost writes it had acknowledged (a rolled-back
/// log): refused, because the old numbers would be handed out again.
#[test]
fn counter_below_high_water_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seqs = store_with_outbox(dir.path());
    integrity::write_high_water(
        dir.path(),
        HighWater {
            seq: seqs[2] + 10,
            webhook: 0,
        },
    )
    .expect("write");
    let damage = damage_of(open(dir.path()));
    assert!(
        damage.iter().any(|d| d.contains("sled lost recent writes")),
        "{damage:?}"
    );
}

/// A bad counter, a bad entity and a bad format marker are each named.
#[test]
fn replica_level_damage_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_outbox(dir.path());
    {
        let db = integrity::open_db(dir.path()).expect("open the sled files");
        db.insert(b"mcursor", &b"abc"[..]).expect("insert");
        db.insert(b"eticket/ASZ-2025-000001", &b"\xff\xff"[..])
            .expect("insert");
        db.insert(b"mformat", &b"something else"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let damage = damage_of(open(dir.path())).join("\n");
    for expected in ["\"cursor\" marker", "entity", "\"format\" marker"] {
        assert!(damage.contains(expected), "{expected} not in {damage}");
    }
}

/// Entity heads are checked on a second thread in batches: damage in every batch, the last
/// partial one included, is counted once, after what the main pass found.
#[test]
fn damaged_heads_in_every_batch_are_all_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    store_with_outbox(dir.path());
    {
        let db = integrity::open_db(dir.path()).expect("open the sled files");
        for n in 0..600 {
            db.insert(format!("eticket/ASZ-2025-{n:06}"), &b"\xff\xff"[..])
                .expect("insert");
        }
        db.insert(b"mcursor", &b"abc"[..]).expect("insert");
        db.flush().expect("flush");
    }
    let damage = damage_of(open(dir.path()));
    assert_eq!(damage.len(), 13, "{damage:?}");
    assert!(damage[0].contains("\"cursor\" marker"), "{damage:?}");
    assert!(damage[1].starts_with("entity "), "{damage:?}");
    assert_eq!(damage[12], "and 589 more damaged records");
}

/// On a healthy store recover changes nothing; with force it rebuilds and keeps everything.
#[test]
fn healthy_store_is_left_alone_unless_forced() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    let outcome = recover::recover(&config(&dir), false).expect("recover");
    assert!(matches!(outcome, Outcome::Healthy { .. }), "{outcome}");
    assert_eq!(std::fs::read_dir(parent.path()).expect("ls").count(), 1);

    let recovery = recovered(recover::recover(&config(&dir), true).expect("recover --force"));
    assert!(recovery.damage.is_empty());
    assert_eq!((recovery.kept, recovery.lost), (3, 0));
    let replica = open(&dir).expect("open");
    assert_eq!(outbox_seqs(&replica), seqs);
}

/// A rebuild interrupted after the old store was moved aside is refused at start, and the next
/// recover redoes it from the same quarantine.
#[test]
fn interrupted_rebuild_is_refused_and_redone() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let seqs = store_with_outbox(&dir);
    let first = recovered(recover::recover(&config(&dir), true).expect("recover"));
    std::fs::write(
        dir.join(integrity::RECOVERING_FILE),
        first.quarantine.to_string_lossy().as_bytes(),
    )
    .expect("write");

    let damage = damage_of(open(&dir));
    assert!(
        damage.iter().any(|d| d.contains("interrupted")),
        "{damage:?}"
    );
    let again = recovered(recover::recover(&config(&dir), false).expect("recover"));
    assert_eq!(again.quarantine, first.quarantine);
    assert_eq!(again.kept, 3);
    assert_eq!(outbox_seqs(&open(&dir).expect("open")), seqs);
}

/// recover refuses to touch a store another process has open.
#[test]
fn store_in_use_is_not_moved() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let _running = open(&dir).expect("open");
    let error = recover::recover(&config(&dir), true).expect_err("recover on an open store");
    assert!(error.to_string().contains("lock"), "{error}");
    assert_eq!(std::fs::read_dir(parent.path()).expect("ls").count(), 1);
}

/// Quarantine names carry the UTC time and never reuse an existing path.
#[test]
fn quarantine_names_are_timestamped_and_unique() {
    let at = UNIX_EPOCH + Duration::from_secs(951_868_799); // 2000-02-29 23:59:59 UTC
    assert_eq!(recover::utc_stamp(at), "20000229T235959Z");
    assert_eq!(recover::utc_stamp(UNIX_EPOCH), "19700101T000000Z");
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    let first = recover::quarantine_path(&dir, at);
    assert!(first.ends_with("data.quarantine-20000229T235959Z"));
    std::fs::create_dir(&first).expect("mkdir");
    let second = recover::quarantine_path(&dir, at);
    assert!(second.ends_with("data.quarantine-20000229T235959Z-2"));
}
