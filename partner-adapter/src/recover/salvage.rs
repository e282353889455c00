//! Reading what can still be read from a quarantined store: every kind of record forwards and,
//! past a damaged page, backwards from its end.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use hotline_federation::{Change, Hlc};
use hotline_proto::v1 as pb;
use prost::Message;

use super::file;
use crate::error::{Error, Result};
use crate::replica::integrity::{self, RECOVERING_FILE, decode_outbox, decode_parked};
use crate::replica::keys::{self, key_seq};
use crate::replica::{check_webhook_record, decode_counter, webhook_event_id};

/// What could be read from the old store.
#[derive(Default)]
pub(super) struct Salvaged {
    pub(super) read: String,
    pub(super) outbox: Vec<Change>,
    pub(super) lost: usize,
    /// Dead letters and webhook records to copy as they are.
    pub(super) records: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) dead_letters: (usize, usize),
    pub(super) webhooks: (usize, usize),
    pub(super) stopped: Vec<String>,
    /// The highest origin sequence the old store shows (counter or keys).
    pub(super) seq: u64,
    /// The highest webhook event id it shows.
    pub(super) webhook: u64,
    pub(super) hlc: Hlc,
}

/// Reads a scratch copy of `quarantine` at `scratch`, then removes the copy.
pub(super) fn salvage(quarantine: &Path, scratch: &Path, site: &str) -> Result<Salvaged> {
    if scratch.exists() {
        std::fs::remove_dir_all(scratch)
            .map_err(|e| file(scratch, "cannot remove an old scratch copy", e))?;
    }
    copy_dir(quarantine, scratch)?;
    let _ = std::fs::remove_file(scratch.join(RECOVERING_FILE));
    let mut salvaged = Salvaged::default();
    let db = match integrity::open_db(scratch) {
        Ok(db) => {
            salvaged.read = "sled opened the old store".into();
            Some(db)
        }
        Err(first) => {
            let _ = std::fs::remove_file(scratch.join("conf"));
            match integrity::open_db(scratch) {
                Ok(db) => {
                    salvaged.read = format!(
                        "sled refused the old store ({}) but opened it with its `conf` file \
                         replaced by the adapter's defaults",
                        reason(&first)
                    );
                    Some(db)
                }
                Err(second) => {
                    salvaged.read = format!(
                        "sled cannot open the old store, not even with a default `conf` ({}); \
                         nothing could be read from it",
                        reason(&second)
                    );
                    None
                }
            }
        }
    };
    if let Some(db) = db {
        let read = catch_unwind(AssertUnwindSafe(|| {
            read_records(&db, site, &mut salvaged);
        }));
        if let Err(panic) = read {
            salvaged.stopped.push(format!(
                "sled panicked while reading the old store ({})",
                integrity::panic_text(panic.as_ref())
            ));
        }
    }
    salvaged.outbox.sort_by_key(|c| c.origin_seq);
    salvaged.outbox.dedup_by_key(|c| c.origin_seq);
    let _ = std::fs::remove_dir_all(scratch);
    Ok(salvaged)
}

fn reason(e: &Error) -> String {
    match e {
        Error::CorruptStore { damage, .. } => damage.join("; "),
        other => other.to_string(),
    }
}

/// Reads each kind of record forwards and, past a damaged page, backwards from its end.
fn read_records(db: &sled::Db, site: &str, salvaged: &mut Salvaged) {
    let mut seen = std::collections::BTreeSet::new();
    for prefix in [
        keys::META,
        keys::OUTBOX,
        keys::PARKED,
        keys::RECEIPT,
        keys::WEBHOOK_QUEUE,
        keys::WEBHOOK_DEAD_LETTER,
    ] {
        let mut last_forward: Option<Vec<u8>> = None;
        let mut broken = false;
        for item in db.scan_prefix([prefix]) {
            match item {
                Ok((key, value)) => {
                    last_forward = Some(key.to_vec());
                    if seen.insert(key.to_vec()) {
                        take(&key, &value, site, salvaged);
                    }
                }
                Err(e) => {
                    salvaged.stopped.push(format!(
                        "sled could not read past a damaged page in the {:?} records: {e}",
                        char::from(prefix)
                    ));
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            continue;
        }
        for item in db.scan_prefix([prefix]).rev() {
            let Ok((key, value)) = item else { break };
            if last_forward
                .as_deref()
                .is_some_and(|last| key.as_ref() <= last)
            {
                break;
            }
            if seen.insert(key.to_vec()) {
                take(&key, &value, site, salvaged);
            }
        }
    }
}

/// Keeps one record if it is readable; learns the numbers it shows either way.
fn take(key: &[u8], value: &[u8], site: &str, salvaged: &mut Salvaged) {
    match key.first().copied() {
        Some(keys::META) => match &key[1..] {
            b"seq" => {
                if let Ok(n) = decode_counter(value) {
                    salvaged.seq = salvaged.seq.max(n);
                }
            }
            b"webhook" => {
                if let Ok(n) = decode_counter(value) {
                    salvaged.webhook = salvaged.webhook.max(n);
                }
            }
            b"hlc" => {
                if let Ok(wire) = pb::Hlc::decode(value) {
                    salvaged.hlc = salvaged.hlc.max(Hlc::from(wire));
                }
            }
            // The highest accepted reading, so a later CLOCK_SKEW refusal never turns the clock
            // back below a write that stands.
            b"confirmed" if pb::Hlc::decode(value).is_ok() => {
                salvaged.records.push((key.to_vec(), value.to_vec()));
            }
            // The gateway's latest audit checkpoint: evidence the site keeps.
            b"checkpoint" if pb::AuditCheckpoint::decode(value).is_ok() => {
                salvaged.records.push((key.to_vec(), value.to_vec()));
            }
            _ => {}
        },
        Some(keys::OUTBOX) => {
            salvaged.seq = salvaged.seq.max(key_seq(key).unwrap_or(0));
            match decode_outbox(key, value, site) {
                Ok(change) => salvaged.outbox.push(change),
                Err(_) => salvaged.lost += 1,
            }
        }
        Some(keys::PARKED) => {
            salvaged.seq = salvaged.seq.max(key_seq(key).unwrap_or(0));
            match decode_parked(key, value, site) {
                Ok(_) => {
                    salvaged.records.push((key.to_vec(), value.to_vec()));
                    salvaged.dead_letters.0 += 1;
                }
                Err(_) => salvaged.dead_letters.1 += 1,
            }
        }
        // Audit receipts are the site's evidence of what the gateway recorded: kept when readable.
        Some(keys::RECEIPT) if crate::replica::receipts::decode(value).is_some() => {
            salvaged.records.push((key.to_vec(), value.to_vec()));
        }
        Some(keys::WEBHOOK_QUEUE | keys::WEBHOOK_DEAD_LETTER) => {
            if let Some(id) = webhook_event_id(key) {
                salvaged.webhook = salvaged.webhook.max(id);
            }
            match check_webhook_record(key, value) {
                Ok(()) => {
                    salvaged.records.push((key.to_vec(), value.to_vec()));
                    salvaged.webhooks.0 += 1;
                }
                Err(_) => salvaged.webhooks.1 += 1,
            }
        }
        _ => {}
    }
}

/// Copies a directory tree (sled's files and its `blobs` directory).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| file(to, "cannot create it", e))?;
    let entries = std::fs::read_dir(from).map_err(|e| file(from, "cannot list it", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| file(from, "cannot list it", e))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| file(&entry.path(), "cannot stat it", e))?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .map_err(|e| file(&entry.path(), "cannot copy it", e))?;
        }
    }
    Ok(())
}
