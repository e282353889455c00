//! `hotline-adapter recover`: rebuild a damaged local store from what can still be read and let
//! the next start re-sync the rest from the gateway.
//!
//! 1. Check the store exactly as a start does ([`crate::integrity`]). A healthy store is left
//!    alone unless `force` is given; a store in use or of another site is an error.
//! 2. Move the data directory aside to `<name>.quarantine-<UTC time>` next to it (never over an
//!    existing path) and create the new one with a `recovering` marker naming the quarantine,
//!    so an interrupted rebuild is refused at start and redone by the next `recover`.
//! 3. Read a scratch copy of the quarantine (the quarantine itself stays as it was found); if
//!    sled refuses it, try once more with sled's `conf` file replaced by the defaults the adapter
//!    uses. Every outbox entry that decodes is kept in order, the others are counted as lost;
//!    readable dead letters and webhook records are kept too. A damaged page ends a forward scan,
//!    so each kind of record is also scanned backwards from its end.
//! 4. Write the new store: kept entries (and their effect on local entities), the cursor at 0
//!    (the next start re-syncs everything the gateway has for the site), and the counters above
//!    every number the old store can have used: the largest of the old counter if readable, the
//!    largest sequence in any outbox or dead-letter key (even of an unreadable record), the old
//!    high-water mark, and [`integrity::time_floor`] (microseconds since the epoch), which holds
//!    even when sled silently lost the newest records and everything else about the old counter.
//!    The gateway drops a change whose (site, origin sequence) it has seen as a duplicate, and
//!    partners drop a webhook whose event id they have seen, so reusing either would lose data.
//!
//! Ticket-number blocks are not kept: a rolled-back block could hand out a number already used.
//! The next connection to the gateway leases a new block.

mod salvage;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use hotline_federation::Hlc;

use self::salvage::salvage;
use crate::config::AdapterConfig;
use crate::error::{Error, Result};
use crate::replica::Replica;
use crate::replica::integrity::{self, HighWater, RECOVERING_FILE};

/// What `recover` did.
#[derive(Debug)]
pub enum Outcome {
    /// There is no store in the data directory; the adapter creates one at start.
    NoStore {
        /// The data directory.
        dir: PathBuf,
    },
    /// The store is healthy and was left alone.
    Healthy {
        /// The data directory.
        dir: PathBuf,
        /// What it holds.
        health: integrity::Health,
    },
    /// The store was quarantined and rebuilt.
    Recovered(Recovery),
}

/// The summary of a rebuild.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The data directory, now holding the new store.
    pub dir: PathBuf,
    /// Where the old store was moved.
    pub quarantine: PathBuf,
    /// What was damaged (empty when forced on a healthy store).
    pub damage: Vec<String>,
    /// How the old store could be read.
    pub read: String,
    /// Outbox entries kept (they will be pushed at the next start).
    pub kept: usize,
    /// Outbox entries found but unreadable (their changes are lost).
    pub lost: usize,
    /// Dead letters kept and lost.
    pub dead_letters: (usize, usize),
    /// Webhook deliveries and webhook dead letters kept and lost.
    pub webhooks: (usize, usize),
    /// Where a scan had to stop early (records behind a damaged page cannot be counted).
    pub stopped: Vec<String>,
    /// The new origin-sequence and webhook counters (the next numbers are one above).
    pub floors: HighWater,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::NoStore { dir } => write!(
                f,
                "There is no local store in {}; nothing to recover. The adapter creates one at start.",
                dir.display()
            ),
            Outcome::Healthy { dir, health } => write!(
                f,
                "The local store in {} is healthy ({} records: {} entities, {} outbox entries); \
                 nothing changed.\nTo rebuild it anyway (quarantine it and re-sync from the \
                 gateway), run recover again with --force.",
                dir.display(),
                health.records,
                health.entities,
                health.outbox
            ),
            Outcome::Recovered(r) => {
                writeln!(f, "Recovered the local store in {}.", r.dir.display())?;
                if r.damage.is_empty() {
                    writeln!(f, "Damage: none found (--force)")?;
                } else {
                    writeln!(f, "Damage:")?;
                    for problem in &r.damage {
                        writeln!(f, "  - {problem}")?;
                    }
                }
                writeln!(
                    f,
                    "Old store quarantined (kept as found) at: {}",
                    r.quarantine.display()
                )?;
                writeln!(f, "Read: {}", r.read)?;
                writeln!(
                    f,
                    "Outbox entries kept: {} (pushed at the next start; the gateway ignores any it already has)",
                    r.kept
                )?;
                writeln!(f, "Outbox entries lost (unreadable): {}", r.lost)?;
                writeln!(
                    f,
                    "Dead letters kept: {}, lost: {}",
                    r.dead_letters.0, r.dead_letters.1
                )?;
                writeln!(
                    f,
                    "Webhook records kept: {}, lost: {}",
                    r.webhooks.0, r.webhooks.1
                )?;
                for stop in &r.stopped {
                    writeln!(
                        f,
                        "Warning: {stop}; records behind it could not be read or counted"
                    )?;
                }
                writeln!(
                    f,
                    "Next origin sequence: {}; next webhook event id: {}",
                    r.floors.seq + 1,
                    r.floors.webhook + 1
                )?;
                write!(
                    f,
                    "Start the adapter as usual: it re-syncs everything from the gateway (cursor 0), \
                     pushes the kept outbox entries and leases new ticket numbers once connected."
                )
            }
        }
    }
}

/// Checks the store of `config` and, if it is damaged (or `force`), quarantines and rebuilds it.
pub fn recover(config: &AdapterConfig, force: bool) -> Result<Outcome> {
    let dir = config.data_dir.clone();
    let now = SystemTime::now();
    let (quarantine, damage) = match interrupted(&dir)? {
        Some(quarantine) => {
            // A rebuild from `quarantine` was interrupted: the directory holds only a partial
            // copy of what the quarantine still has. Do it again.
            std::fs::remove_dir_all(&dir)
                .map_err(|e| file(&dir, "cannot remove the partial rebuild", e))?;
            let note = format!(
                "an earlier recover was interrupted; rebuilt again from {}",
                quarantine.display()
            );
            (quarantine, vec![note])
        }
        None => {
            if !integrity::holds_store(&dir) {
                return Ok(Outcome::NoStore { dir });
            }
            let checked = integrity::open_db(&dir)
                .and_then(|db| integrity::verify(&db, &dir, &config.site, true));
            let damage = match checked {
                Ok(health) if !force => return Ok(Outcome::Healthy { dir, health }),
                Ok(_) => Vec::new(),
                Err(Error::CorruptStore { damage, .. }) => damage,
                Err(e) => return Err(e),
            };
            let quarantine = quarantine_path(&dir, now);
            std::fs::rename(&dir, &quarantine).map_err(|e| {
                file(
                    &dir,
                    &format!("cannot move it to {}", quarantine.display()),
                    e,
                )
            })?;
            integrity::sync_dir(&parent(&dir))?;
            (quarantine, damage)
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| file(&dir, "cannot create it", e))?;
    let marker = dir.join(RECOVERING_FILE);
    std::fs::write(&marker, quarantine.to_string_lossy().as_bytes())
        .map_err(|e| file(&marker, "cannot write it", e))?;
    integrity::sync_dir(&dir)?;

    let scratch = parent(&dir).join(format!(".{}.salvage", name(&dir)));
    let salvaged = salvage(&quarantine, &scratch, &config.site)?;
    let floor = integrity::time_floor(now);
    let marks = integrity::read_high_water(&quarantine)
        .ok()
        .flatten()
        .unwrap_or_default();
    let floors = HighWater {
        seq: floor.max(salvaged.seq).max(marks.seq),
        webhook: floor.max(salvaged.webhook).max(marks.webhook),
    };
    let hlc = salvaged
        .outbox
        .iter()
        .map(|c| c.hlc)
        .fold(salvaged.hlc, Hlc::max);
    let replica = Replica::open_checked(
        &dir,
        &config.site,
        &config.tenant,
        hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
    )?;
    let floors = replica.restore(&salvaged.outbox, &salvaged.records, floors, hlc)?;
    drop(replica);
    std::fs::remove_file(&marker).map_err(|e| file(&marker, "cannot remove it", e))?;
    integrity::sync_dir(&dir)?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(Outcome::Recovered(Recovery {
        dir,
        quarantine,
        damage,
        read: salvaged.read,
        kept: salvaged.outbox.len(),
        lost: salvaged.lost,
        dead_letters: salvaged.dead_letters,
        webhooks: salvaged.webhooks,
        stopped: salvaged.stopped,
        floors,
    }))
}

/// The quarantine named by an interrupted rebuild's marker, if there is one.
fn interrupted(dir: &Path) -> Result<Option<PathBuf>> {
    let marker = dir.join(RECOVERING_FILE);
    match std::fs::read_to_string(&marker) {
        Ok(text) => {
            let quarantine = PathBuf::from(text.trim());
            if !quarantine.is_dir() {
                return Err(Error::File {
                    path: marker,
                    problem: format!(
                        "an interrupted recover was reading {}, which is gone; move the \
                         quarantined store back there (or remove {} to give up on it) and run \
                         recover again",
                        quarantine.display(),
                        dir.display()
                    ),
                });
            }
            Ok(Some(quarantine))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(file(&marker, "cannot read it", e)),
    }
}

fn file(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::File {
        path: path.into(),
        problem: format!("{what}: {e}"),
    }
}

fn parent(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || "adapter-data".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// `<dir>.quarantine-<YYYYMMDDTHHMMSSZ>`, with `-2`, `-3`, ... when that exists already.
pub fn quarantine_path(dir: &Path, now: SystemTime) -> PathBuf {
    let base = format!("{}.quarantine-{}", name(dir), utc_stamp(now));
    let parent = parent(dir);
    let mut candidate = parent.join(&base);
    let mut n = 2;
    while candidate.exists() {
        candidate = parent.join(format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn utc_stamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), by 400-year eras.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
