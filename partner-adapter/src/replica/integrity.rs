//! Is the local store fit to start on? Checked once at every start, before anything is written:
//!
//! - sled must open it (an error or a panic inside sled on garbage both count as damage; a lock
//!   held by another process does not);
//! - every record must decode: counters, clock, format and site markers, outbox entries, dead
//!   letters, number blocks, entity heads, comments and call events (each with its entity's
//!   head) and webhook queue entries (one pass over the whole store);
//! - the format marker must name a layout this release reads ([`FORMAT_V1`], [`FORMAT`]); a
//!   newer one is refused as a config error, since nothing is damaged;
//! - sled must not have lost records it had before. sled does not report a damaged log: it
//!   silently stops recovery at the first bad record, so a damaged store can open empty or
//!   rolled back. Two checks catch that: a store whose sled files exist must hold its site and
//!   format markers, and the counters must not be below the [`HIGH_WATER_FILE`] written next to
//!   the records at every start and every clean stop.
//!
//! Anything found is an [`Error::CorruptStore`] listing what is damaged; `hotline-adapter recover`
//! (see [`crate::recover`]) rebuilds the store from what can still be read.
//!
//! Part of the store (`crate::replica`), which runs it at every open; also reachable as
//! `crate::integrity`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use hotline_runtime::sled_files::{LOCK_WAIT, lock_held, retry_while_locked};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hotline_federation::Change;
use hotline_federation::model::EntityKey;
use hotline_proto::v1 as pb;
use prost::Message;

use super::entities::{check_element, check_head};
use super::keys::meta as meta_key;
use super::keys::{self, key_seq};
use super::records::{NumberBlock, Parked, decode_counter};
use super::webhook_queue::check_webhook_record;
use crate::error::{Error, Result};

pub use super::high_water::{HIGH_WATER_FILE, HighWater, read_high_water, write_high_water};

/// The value of the `format` marker: which layout of records the store uses. Layout 2 keeps
/// each comment and call event under its own key (see `super::entities`).
pub const FORMAT: &[u8] = b"hotline-adapter-store/2";

/// The `format` marker of layout 1 (each entity one whole record), migrated at open
/// ([`super::migrate`]).
pub const FORMAT_V1: &[u8] = b"hotline-adapter-store/1";

/// What every `format` marker starts with; the layout number follows.
const FORMAT_NAME: &str = "hotline-adapter-store/";

/// The newest layout this release reads and writes.
const LAYOUT: u32 = 2;

/// The file in the data directory that marks a rebuild by `recover` still in progress; it holds
/// the path of the quarantined store the rebuild reads from.
pub const RECOVERING_FILE: &str = "recovering";

/// At most this many problems are listed; the rest are counted.
const MAX_LISTED: usize = 12;

/// What a healthy store holds (for `recover`'s "nothing to do" message).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Records checked.
    pub records: usize,
    /// Changes waiting in the outbox.
    pub outbox: usize,
    /// Entities in the replica.
    pub entities: usize,
    /// The store was written before the format marker existed (it is migrated at start).
    pub legacy: bool,
    /// The store's records are in layout 1, or a migration was interrupted: it is migrated at
    /// start ([`super::migrate`]).
    pub migrate: bool,
    /// The store is new (no sled files were there).
    pub fresh: bool,
}

/// Microseconds since the Unix epoch: the first origin sequence number (and webhook event id) of
/// a new or rebuilt store. Sequence numbers only ever grow by one per change, and no site makes a
/// change per microsecond, so a store started at this floor can never reuse a number that an
/// earlier store of the site (deleted, lost or quarantined) already used, which the gateway (by
/// origin sequence) and partner tools (by event id) would drop as duplicates.
pub fn time_floor(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// True when `dir` holds sled files, i.e. a store was created there before.
pub fn holds_store(dir: &Path) -> bool {
    ["db", "conf"].iter().any(|name| dir.join(name).exists())
}

/// Opens sled in `dir` (waiting up to [`LOCK_WAIT`] for a lock just released): sled's errors
/// and panics on a damaged store become
/// [`Error::CorruptStore`]; a lock held by another process, a permission problem or a full
/// disk are [`Error::File`], since nothing is damaged then.
pub fn open_db(dir: &Path) -> Result<sled::Db> {
    hotline_runtime::sled_files::clear_interrupted_snapshots(dir).map_err(|e| Error::File {
        path: dir.into(),
        problem: format!("cannot remove an interrupted snapshot file: {e}"),
    })?;
    let opened = retry_while_locked(
        || catch_unwind(AssertUnwindSafe(|| sled::Config::new().path(dir).open())),
        |opened| matches!(opened, Ok(Err(sled::Error::Io(e))) if lock_held(e)),
    );
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(sled::Error::Io(e))) if lock_held(&e) => Err(Error::File {
            path: dir.into(),
            problem: format!(
                "another process holds the local store's lock (is an adapter running on this \
                     data directory?); waited {} s; stop it first",
                LOCK_WAIT.as_secs()
            ),
        }),
        Ok(Err(sled::Error::Io(e)))
            if matches!(
                e.kind(),
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::NotFound
            ) =>
        {
            Err(Error::File {
                path: dir.into(),
                problem: format!("cannot open the local store: {e}"),
            })
        }
        // A full or read-only disk damages nothing: quarantining the store would be wrong.
        Ok(Err(sled::Error::Io(e)))
            if matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::QuotaExceeded
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ) =>
        {
            Err(Error::File {
                path: dir.into(),
                problem: format!(
                    "cannot open the local store: {e}; the store is not damaged, do not run \
                     recover: free space (or make the disk writable) and start again"
                ),
            })
        }
        Ok(Err(e)) => Err(damaged(dir, vec![format!("sled cannot open it: {e}")])),
        Err(panic) => Err(damaged(
            dir,
            vec![format!(
                "sled panicked while opening it: {}",
                panic_text(panic.as_ref())
            )],
        )),
    }
}

/// The text of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

fn damaged(dir: &Path, damage: Vec<String>) -> Error {
    Error::CorruptStore {
        dir: dir.to_path_buf(),
        damage,
    }
}

/// Problems found, the first [`MAX_LISTED`] in words.
#[derive(Default)]
struct Findings {
    listed: Vec<String>,
    more: usize,
}

impl Findings {
    fn add(&mut self, problem: String) {
        if self.listed.len() < MAX_LISTED {
            self.listed.push(problem);
        } else {
            self.more += 1;
        }
    }

    /// Adds what another pass found.
    fn merge(&mut self, other: Findings) {
        for problem in other.listed {
            self.add(problem);
        }
        self.more += other.more;
    }

    fn into_damage(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed
                .push(format!("and {} more damaged records", self.more));
        }
        self.listed
    }
}

/// Decodes an outbox entry and checks it belongs where it is stored: its origin sequence is the
/// key's and its origin site is `site`.
pub fn decode_outbox(key: &[u8], raw: &[u8], site: &str) -> std::result::Result<Change, String> {
    let seq = key_seq(key).ok_or_else(|| format!("malformed key {key:02x?}"))?;
    let wire = pb::Change::decode(raw).map_err(|e| format!("cannot decode: {e}"))?;
    let change = Change::try_from(wire).map_err(|e| format!("invalid: {e}"))?;
    if change.origin_seq != seq {
        return Err(format!(
            "holds origin_seq {} under key {seq}",
            change.origin_seq
        ));
    }
    if change.origin_site != site {
        return Err(format!("is a change of site {:?}", change.origin_site));
    }
    Ok(change)
}

/// Decodes a dead letter stored under `key`.
pub fn decode_parked(key: &[u8], raw: &[u8], site: &str) -> std::result::Result<Parked, String> {
    let parked = Parked::decode(raw).map_err(|e| format!("cannot decode: {e}"))?;
    let change = parked
        .change
        .clone()
        .ok_or_else(|| "holds no change".to_owned())?;
    decode_outbox(key, &change.encode_to_vec(), site)?;
    Ok(parked)
}

/// Checks every record of `db` (opened from `dir`) for `site`. `existed`: sled files were in
/// `dir` before it was opened. A store of another site is a config error, not damage.
pub fn verify(db: &sled::Db, dir: &Path, site: &str, existed: bool) -> Result<Health> {
    let checked = catch_unwind(AssertUnwindSafe(|| scan(db, site)));
    let (mut findings, mut health, counters) = match checked {
        Ok(result) => result,
        Err(panic) => {
            return Err(damaged(
                dir,
                vec![format!(
                    "sled panicked while reading it: {}",
                    panic_text(panic.as_ref())
                )],
            ));
        }
    };
    if let Some(layout) = counters.layout.filter(|layout| *layout > LAYOUT) {
        return Err(Error::Config {
            field: "data_dir".into(),
            problem: format!(
                "{} holds a store in layout {layout} ({FORMAT_NAME}{layout}), written by a newer \
                 release; this release reads layouts 1 to {LAYOUT}: run the newer release",
                dir.display()
            ),
        });
    }
    match (&counters.site, &counters.format) {
        (Some(owner), _) if owner != site => {
            return Err(Error::Config {
                field: "data_dir".into(),
                problem: format!(
                    "{} holds the store of site {owner:?}, not {site:?}",
                    dir.display()
                ),
            });
        }
        (None, None) if existed && health.records > 0 => {
            findings.add("the site and format markers are missing".into());
        }
        (None, None) if existed => findings
            .add("it holds no records although sled files are there: sled dropped its log".into()),
        (None, None) => health.fresh = true,
        (None, Some(_)) => findings.add("the site marker is missing".into()),
        (Some(_), None) => (health.legacy, health.migrate) = (true, true),
        (Some(_), Some(_)) => {
            health.migrate = counters.layout != Some(LAYOUT) || counters.migrating
        }
    }
    match read_high_water(dir) {
        Ok(Some(marks)) => {
            if counters.seq < marks.seq {
                findings.add(format!(
                    "the origin-sequence counter is {} but the store had reached {} ({HIGH_WATER_FILE}): sled lost recent writes",
                    counters.seq, marks.seq
                ));
            }
            if counters.webhook < marks.webhook {
                findings.add(format!(
                    "the webhook counter is {} but the store had reached {} ({HIGH_WATER_FILE}): sled lost recent writes",
                    counters.webhook, marks.webhook
                ));
            }
        }
        Ok(None) => {}
        Err(problem) => findings.add(problem),
    }
    if findings.listed.is_empty() {
        Ok(health)
    } else {
        Err(damaged(dir, findings.into_damage()))
    }
}

/// What the scan learnt of the markers and counters.
#[derive(Default)]
struct Counters {
    site: Option<String>,
    format: Option<Vec<u8>>,
    /// The layout number the format marker names.
    layout: Option<u32>,
    /// A migration's progress cursor is there: it was interrupted.
    migrating: bool,
    seq: u64,
    webhook: u64,
}

/// Entity heads handed to the second thread at a time.
const HEAD_BATCH: usize = 256;

/// Records as sled returns them.
type Records = Vec<(sled::IVec, sled::IVec)>;

/// What the head checks found, and how many heads were sound.
#[derive(Default)]
struct HeadChecks {
    findings: Findings,
    sound: usize,
}

impl HeadChecks {
    fn check(&mut self, batch: Records, split: bool) {
        for (key, value) in batch {
            match check_head(&value, split) {
                Ok(()) => self.sound += 1,
                Err(e) => self
                    .findings
                    .add(format!("entity {}: {e}", show(&key[1..]))),
            }
        }
    }
}

/// Where the pass hands entity heads: a second thread (decoding them is most of the check's
/// time on a large store), or, when no thread could be started, the pass's own thread.
enum Heads<'scope> {
    Worker {
        sender: std::sync::mpsc::SyncSender<Records>,
        worker: std::thread::ScopedJoinHandle<'scope, HeadChecks>,
    },
    Inline(HeadChecks),
}

impl<'scope> Heads<'scope> {
    fn start(scope: &'scope std::thread::Scope<'scope, '_>, split: bool) -> Self {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Records>(4);
        let spawned = std::thread::Builder::new()
            .name("store-check".into())
            .spawn_scoped(scope, move || {
                let mut checks = HeadChecks::default();
                for batch in receiver {
                    checks.check(batch, split);
                }
                checks
            });
        match spawned {
            Ok(worker) => Heads::Worker { sender, worker },
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a second thread for the store check; checking on one");
                Heads::Inline(HeadChecks::default())
            }
        }
    }

    /// Hands a batch over; false when the second thread has stopped (it panicked, which
    /// [`Heads::finish`] reports).
    fn give(&mut self, batch: Records, split: bool) -> bool {
        match self {
            Heads::Worker { sender, .. } => sender.send(batch).is_ok(),
            Heads::Inline(checks) => {
                checks.check(batch, split);
                true
            }
        }
    }

    /// Waits for the checks; a panic of the second thread is raised again here.
    fn finish(self) -> HeadChecks {
        match self {
            Heads::Worker { sender, worker } => {
                drop(sender);
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
            Heads::Inline(checks) => checks,
        }
    }
}

/// One pass over every record; entity heads are decoded on a second thread meanwhile.
fn scan(db: &sled::Db, site: &str) -> (Findings, Health, Counters) {
    // Heads hold comments and call events only in layout 1 (or not yet migrated).
    let split = matches!(db.get(meta_key("format")), Ok(Some(format)) if format.as_ref() == FORMAT)
        && !matches!(db.contains_key(meta_key("migrate")), Ok(true));
    std::thread::scope(|scope| {
        let mut heads = Heads::start(scope, split);
        let (mut findings, mut health, counters) = scan_records(db, site, &mut heads, split);
        let checks = heads.finish();
        findings.merge(checks.findings);
        health.entities = checks.sound;
        (findings, health, counters)
    })
}

/// The pass itself; entity heads go to `heads` in batches.
fn scan_records(
    db: &sled::Db,
    site: &str,
    heads: &mut Heads<'_>,
    split: bool,
) -> (Findings, Health, Counters) {
    let mut findings = Findings::default();
    let mut health = Health::default();
    let mut counters = Counters::default();
    let mut highest_outbox = 0;
    let mut last_head = Vec::new();
    let mut pending = Vec::with_capacity(HEAD_BATCH);
    for item in db.iter() {
        let (key, value) = match item {
            Ok(pair) => pair,
            Err(e) => {
                findings.add(format!(
                    "sled cannot read past record {}: {e}",
                    health.records
                ));
                break;
            }
        };
        health.records += 1;
        let problem = match key.first().copied() {
            Some(keys::ENTITY) => {
                pending.push((key, value));
                if pending.len() == HEAD_BATCH
                    && !heads.give(
                        std::mem::replace(&mut pending, Vec::with_capacity(HEAD_BATCH)),
                        split,
                    )
                {
                    // The checker stopped (it panicked): the caller reports its panic.
                    break;
                }
                Ok(())
            }
            Some(keys::COMMENT) => check_element(db, &key, &value, &mut last_head)
                .map_err(|e| format!("comment {}: {e}", show_element(&key))),
            Some(keys::CALL_EVENT) => check_element(db, &key, &value, &mut last_head)
                .map_err(|e| format!("call event {}: {e}", show_element(&key))),
            Some(keys::OUTBOX) => decode_outbox(&key, &value, site)
                .map(|change| {
                    health.outbox += 1;
                    highest_outbox = highest_outbox.max(change.origin_seq);
                })
                .map_err(|e| format!("outbox entry {}: {e}", seq_name(&key))),
            Some(keys::PARKED) => decode_parked(&key, &value, site)
                .map(drop)
                .map_err(|e| format!("dead letter {}: {e}", seq_name(&key))),
            Some(keys::NUMBERS) => NumberBlock::decode(value.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    (b.used <= b.count)
                        .then_some(())
                        .ok_or_else(|| format!("{} of {} numbers used", b.used, b.count))
                })
                .map_err(|e| format!("ticket-number block: {e}")),
            Some(keys::CUSTOMER) => Ok(()),
            Some(keys::RECEIPT) => super::receipts::decode(&value)
                .map(drop)
                .ok_or_else(|| format!("audit receipt {}: not 40 bytes", seq_name(&key))),
            Some(keys::REFRESH) => pb::EntityKey::decode(value.as_ref())
                .map_err(|e| e.to_string())
                .and_then(|wire| EntityKey::try_from(wire).map_err(|e| e.to_string()))
                .and_then(|named| {
                    (keys::refresh_key(&named) == key.as_ref())
                        .then_some(())
                        .ok_or_else(|| "names another entity than its key".to_owned())
                })
                .map_err(|e| format!("refresh marker {}: {e}", show(&key[1..]))),
            Some(keys::WEBHOOK_QUEUE | keys::WEBHOOK_DEAD_LETTER) => {
                check_webhook_record(&key, &value)
            }
            Some(keys::META) => meta(&key[1..], &value, &mut counters),
            _ => Err(format!("unknown record {}", show(&key))),
        };
        if let Err(problem) = problem {
            findings.add(problem);
        }
    }
    // This fails only when the second thread panicked, which `Heads::finish` reports.
    heads.give(pending, split);
    if highest_outbox > counters.seq {
        findings.add(format!(
            "outbox entry {highest_outbox} is above the origin-sequence counter {}",
            counters.seq
        ));
    }
    (findings, health, counters)
}

fn meta(name: &[u8], value: &[u8], counters: &mut Counters) -> std::result::Result<(), String> {
    let what = |e: String| format!("{} marker: {e}", show(name));
    match name {
        b"site" => {
            let owner = std::str::from_utf8(value)
                .map_err(|_| what("not UTF-8".into()))?
                .to_owned();
            counters.site = Some(owner);
            Ok(())
        }
        b"format" => {
            let layout = std::str::from_utf8(value)
                .ok()
                .and_then(|text| text.strip_prefix(FORMAT_NAME))
                .and_then(|number| number.parse::<u32>().ok())
                .filter(|layout| *layout >= 1)
                .ok_or_else(|| {
                    what(format!(
                        "{:?}, expected {:?} or {:?}",
                        String::from_utf8_lossy(value),
                        String::from_utf8_lossy(FORMAT_V1),
                        String::from_utf8_lossy(FORMAT)
                    ))
                })?;
            counters.format = Some(value.to_vec());
            counters.layout = Some(layout);
            Ok(())
        }
        // The head key of the last entity an interrupted migration rewrote.
        b"migrate" => {
            counters.migrating = true;
            Ok(())
        }
        b"seq" => decode_counter(value)
            .map(|n| counters.seq = n)
            .map_err(what),
        b"webhook" => decode_counter(value)
            .map(|n| counters.webhook = n)
            .map_err(what),
        b"cursor" => decode_counter(value).map(drop).map_err(what),
        b"checkpoint" => pb::AuditCheckpoint::decode(value)
            .map(drop)
            .map_err(|e| what(e.to_string())),
        b"hlc" | b"confirmed" => pb::Hlc::decode(value)
            .map(drop)
            .map_err(|e| what(e.to_string())),
        // The tenant's sites and the guard terms as the gateway named them (recover drops
        // them: the next heartbeat names them again).
        b"tenant_sites" | b"guard_terms" => std::str::from_utf8(value)
            .map(drop)
            .map_err(|_| what("not UTF-8".into())),
        _ => Err(what("unknown counter".into())),
    }
}

fn seq_name(key: &[u8]) -> String {
    key_seq(key).map_or_else(|| show(key), |seq| seq.to_string())
}

/// A comment or call-event key in words: its element id, then its entity.
fn show_element(key: &[u8]) -> String {
    match keys::element_parts(key) {
        Some((entity, id)) => format!("{} of {}", show(id), show(entity)),
        None => show(key),
    }
}

/// A key in words: UTF-8 when it is, hex otherwise.
fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => format!("{text:?}"),
        _ => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// Fsyncs a directory, so a rename or a new file in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::File {
            path: dir.into(),
            problem: format!("cannot sync the directory: {e}"),
        })
}

/// Refuses to start on a store whose rebuild by `recover` was interrupted.
pub fn check_not_recovering(dir: &Path) -> Result<()> {
    let marker = dir.join(RECOVERING_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(from) => Err(damaged(
            dir,
            vec![format!(
                "a rebuild by `hotline-adapter recover` from {} was interrupted",
                from.trim()
            )],
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::File {
            path: marker,
            problem: e.to_string(),
        }),
    }
}
