//! The redb store's tests: batches, ranges, what survives a kill, repair and compaction.

use super::compact::{sparse, usage};
use super::*;

fn put(batch: &mut Batch, key: &str, value: &str) {
    batch.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
}

fn keys(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
    entries
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

/// A batch's puts and deletes all take effect together, in order: the writer relies on an
/// entity and its dedupe entry landing as one.
#[test]
fn a_batch_applies_its_puts_and_deletes_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut batch = Batch::default();
    put(&mut batch, "a", "1");
    put(&mut batch, "b", "2");
    batch.delete(b"a".to_vec());
    put(&mut batch, "b", "3");
    store.apply(batch).expect("apply");
    assert_eq!(store.get(b"a").expect("get"), None);
    assert_eq!(store.get(b"b").expect("get"), Some(b"3".to_vec()));
}

/// Ranges come back in byte order, bounded by start (inclusive), end (exclusive) and the
/// limit: the log and the views page through keys this way.
#[test]
fn range_is_ordered_bounded_and_limited() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut batch = Batch::default();
    for key in ["k3", "k1", "k2", "k5", "k4", "j9", "l0"] {
        put(&mut batch, key, "v");
    }
    store.apply(batch).expect("apply");
    let all = store.range(b"k", b"l", usize::MAX).expect("range");
    assert_eq!(keys(&all), ["k1", "k2", "k3", "k4", "k5"]);
    let first_two = store.range(b"k", b"l", 2).expect("range");
    assert_eq!(keys(&first_two), ["k1", "k2"]);
    let from_k2 = store.range(b"k2", b"k4", usize::MAX).expect("range");
    assert_eq!(keys(&from_k2), ["k2", "k3"]);
    assert!(store.range(b"l", b"k", 10).expect("range").is_empty());
}

/// What was flushed is there after the store is closed and opened again: a restarted
/// gateway finds every acknowledged write.
#[test]
fn reopening_keeps_flushed_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        for i in 0..100 {
            put(&mut batch, &format!("key{i:03}"), &format!("value{i}"));
        }
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }
    let store = RedbStore::open(dir.path()).expect("reopen");
    assert_eq!(
        store
            .range(b"key", b"kez", usize::MAX)
            .expect("range")
            .len(),
        100
    );
    assert_eq!(
        store.get(b"key042").expect("get"),
        Some(b"value42".to_vec())
    );
}

/// `recover` reopens the file and keeps what was flushed, so the writer can go on after a
/// failed group; the store then takes new batches.
#[test]
fn recover_reopens_with_the_flushed_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut batch = Batch::default();
    put(&mut batch, "kept", "1");
    store.apply(batch).expect("apply");
    store.flush().expect("flush");
    store.recover().expect("recover");
    assert_eq!(store.get(b"kept").expect("get"), Some(b"1".to_vec()));
    let mut batch = Batch::default();
    put(&mut batch, "after", "2");
    store.apply(batch).expect("apply after recover");
    store.flush().expect("flush after recover");
    assert_eq!(store.get(b"after").expect("get"), Some(b"2".to_vec()));
}

/// A copy of the file taken while the store is open is what a SIGKILL leaves behind: taken
/// after `apply` it lacks the batch, taken after `flush` it has it. This is the property the
/// writer's acknowledgement depends on (it acknowledges after `flush`), and it shows that
/// `apply` alone writes nothing durable.
#[test]
fn only_flushed_batches_survive_a_kill() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path()).expect("open");
    let mut batch = Batch::default();
    put(&mut batch, "durable", "1");
    store.apply(batch).expect("apply");
    store.flush().expect("flush");
    let mut batch = Batch::default();
    put(&mut batch, "volatile", "2");
    store.apply(batch).expect("apply");
    assert_eq!(store.get(b"volatile").expect("get"), Some(b"2".to_vec()));

    let killed = |name: &str| {
        let copy = dir.path().join(name);
        std::fs::create_dir(&copy).expect("copy dir");
        std::fs::copy(dir.path().join(FILE_NAME), copy.join(FILE_NAME)).expect("copy");
        RedbStore::open(&copy).expect("open the copy")
    };
    let before_flush = killed("before-flush");
    assert_eq!(
        before_flush.get(b"durable").expect("get"),
        Some(b"1".to_vec())
    );
    assert_eq!(before_flush.get(b"volatile").expect("get"), None);

    store.flush().expect("flush");
    let after_flush = killed("after-flush");
    assert_eq!(
        after_flush.get(b"volatile").expect("get"),
        Some(b"2".to_vec())
    );
}

/// Fills a store opened with `quick_repair`, copies its file while open (a kill), and
/// opens the copy: whether redb had to repair the whole file.
fn full_repair_after_kill(quick_repair: bool) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open_with(dir.path(), 1 << 20, quick_repair).expect("open");
    for round in 0..3u32 {
        let mut batch = Batch::default();
        for i in 0..200u32 {
            put(&mut batch, &format!("{round}-{i:04}"), "some value");
        }
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }
    let copy = dir.path().join("killed");
    std::fs::create_dir(&copy).expect("copy dir");
    std::fs::copy(dir.path().join(FILE_NAME), copy.join(FILE_NAME)).expect("copy");
    let repaired = std::rc::Rc::new(std::cell::Cell::new(false));
    let seen = repaired.clone();
    let path = copy.join(FILE_NAME);
    let db = open_db_with(&path, 1 << 20, Compact::Never, quick_repair, move |_| {
        seen.set(true)
    })
    .expect("open the copy");
    let tx = db.begin_read().expect("read");
    let table = tx.open_table(TABLE).expect("table");
    let last = table.get(b"2-0199".as_slice()).expect("get");
    assert_eq!(
        last.map(|v| v.value().to_vec()),
        Some(b"some value".to_vec())
    );
    repaired.get()
}

/// With quick repair an open after a kill reads the allocator state back; without it (how
/// the gateway opens its store), redb walks the whole file, which is what made the restart
/// after a SIGKILL at 900,000 tickets take 23.6 s. The bench's comparison rests on this.
#[test]
fn quick_repair_spares_the_full_repair_after_a_kill() {
    assert!(
        !full_repair_after_kill(true),
        "a store flushed with quick repair was repaired in full after a kill"
    );
    assert!(
        full_repair_after_kill(false),
        "a store flushed without quick repair opened without a repair after a kill"
    );
}

/// A file left mostly free (most of what it held was deleted, the last records kept so the
/// end of the file stays in use) is compacted at the next open, and keeps what it held.
#[test]
fn a_sparse_file_is_compacted_at_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(FILE_NAME);
    let store = RedbStore::open(dir.path()).expect("open");
    let value = vec![7u8; 16 << 10];
    for round in 0..4 {
        let mut batch = Batch::default();
        for i in 0..1_000 {
            batch.put(format!("k{round}-{i:04}").into_bytes(), value.clone());
        }
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }
    let mut batch = Batch::default();
    for round in 0..3 {
        for i in 0..1_000 {
            batch.delete(format!("k{round}-{i:04}").into_bytes());
        }
    }
    store.apply(batch).expect("delete");
    store.flush().expect("flush");
    // redb releases what a commit freed at a later durable commit, as the writer's next
    // groups would.
    for i in 0..2 {
        let mut batch = Batch::default();
        put(&mut batch, "later", &i.to_string());
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }
    let db = store.db().expect("handle");
    let (used, file) = usage(&db, &path).expect("usage");
    drop(db);
    drop(store);
    assert!(
        sparse(used, file),
        "the test needs a sparse file: {file} bytes for {used} used"
    );

    let store = RedbStore::open(dir.path()).expect("reopen");
    let db = store.db().expect("handle");
    let (used_after, file_after) = usage(&db, &path).expect("usage");
    assert!(
        !sparse(used_after, file_after),
        "still sparse after open: {file_after} bytes for {used_after} used (was {file})"
    );
    assert!(file_after < file / 2, "{file_after} of {file}");
    let kept = store.range(b"k3-", b"k3.", usize::MAX).expect("range");
    assert_eq!(kept.len(), 1_000);
    assert!(kept.iter().all(|(_, v)| *v == value));
    assert_eq!(store.get(b"k0-0000").expect("get"), None);
}

/// A store that asks for a rewrite is copied into a fresh file at the next open: every record
/// kept, the request gone, and the bytes of an overwritten value no longer in the file; an
/// unfinished copy a kill left is removed first.
#[test]
fn a_rewrite_keeps_every_record_and_drops_old_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = "Erika-Mustermann-0177";
    {
        let store = RedbStore::open(dir.path()).expect("open");
        let mut batch = Batch::default();
        for i in 0..5000 {
            put(&mut batch, &format!("k{i:05}"), &format!("value {i}"));
        }
        put(&mut batch, "customer", secret);
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
        let mut batch = Batch::default();
        put(&mut batch, "customer", "[erased]");
        batch.put(
            crate::store::keys::meta(crate::store::keys::REWRITE_ASKED),
            vec![1],
        );
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }
    let path = dir.path().join(FILE_NAME);
    std::fs::write(path.with_extension("redb.new"), b"half a copy").expect("leftover");
    let store = RedbStore::open(dir.path()).expect("reopen");
    let all = store.range(&[], &[0xff], usize::MAX).expect("range");
    assert_eq!(
        all.len(),
        5001,
        "the request is gone, everything else is kept"
    );
    assert_eq!(
        store.get(b"customer").expect("get"),
        Some(b"[erased]".to_vec())
    );
    assert_eq!(
        store.get(b"k04999").expect("get"),
        Some(b"value 4999".to_vec())
    );
    drop(store);
    let bytes = std::fs::read(&path).expect("read file");
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert!(!path.with_extension("redb.new").exists());
}
