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
use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::key_seq;
use super::records::Parked;
use crate::error::{Error, Result};

pub use super::high_water::{HIGH_WATER_FILE, HighWater, read_high_water, write_high_water};

mod scan;
use scan::scan;

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
