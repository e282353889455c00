//! The open-time check's one pass over every record of the store (part of
//! [`super`]): markers and counters are read, every record is decoded, and entity heads are
//! decoded on a second thread meanwhile.

use hotline_federation::model::EntityKey;
use hotline_proto::v1 as pb;
use prost::Message;

use super::super::entities::{check_element, check_head};
use super::super::keys::meta as meta_key;
use super::super::keys::{self, key_seq};
use super::super::records::{NumberBlock, decode_counter};
use super::super::webhook_queue::check_webhook_record;
use super::{FORMAT, FORMAT_NAME, FORMAT_V1, Findings, Health, decode_outbox, decode_parked};

/// What the scan learnt of the markers and counters.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) site: Option<String>,
    pub(super) format: Option<Vec<u8>>,
    /// The layout number the format marker names.
    pub(super) layout: Option<u32>,
    /// A migration's progress cursor is there: it was interrupted.
    pub(super) migrating: bool,
    pub(super) seq: u64,
    pub(super) webhook: u64,
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
pub(super) fn scan(db: &sled::Db, site: &str) -> (Findings, Health, Counters) {
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
            Some(keys::RECEIPT) => super::super::receipts::decode(&value)
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
        // Retention purges (count, time of the last) and the rewrite an erasure asks for.
        b"retention_purged" | b"retention_purged_at" | b"rewrite" => {
            decode_counter(value).map(drop).map_err(what)
        }
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
