//! The webhook queue in the store: the narrow view the deliverer gets ([`WebhookQueue`], which
//! implements [`DeliveryQueue`]), the queue entries a step writes, and the check of stored
//! webhook records at open and in `recover`.

use std::sync::Arc;

use super::GroupFlush;
use crate::error::Result;
use crate::webhooks::DeliveryQueue;
use crate::webhooks::record::{self, QueueEntry};
use hotline_runtime::sled_files::LogSync;

use super::keys::{
    self, WEBHOOK_DEAD_LETTER, WEBHOOK_QUEUE, show_hex, webhook_key, webhook_parts,
    webhook_target_prefix,
};

/// The webhook queue and its dead letters, and nothing else of the store. Every method blocks
/// on sled: async callers run it on the blocking pool.
#[derive(Clone)]
pub struct WebhookQueue {
    db: sled::Db,
    /// sled's log file, synced after a flush.
    log: Arc<LogSync>,
    /// The store's group commit: events are delivered only once flushed.
    group: Arc<GroupFlush>,
}

impl std::fmt::Debug for WebhookQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookQueue").finish_non_exhaustive()
    }
}

impl WebhookQueue {
    pub(super) fn new(db: sled::Db, log: Arc<LogSync>, group: Arc<GroupFlush>) -> Self {
        WebhookQueue { db, log, group }
    }

    /// Queues `body` as event `event_id` for the first `targets` targets of the configuration,
    /// atomically, outside a change (a change's events are queued in its own step). Durable
    /// with the store's next flush.
    pub fn enqueue(&self, targets: usize, event_id: u64, body: &[u8]) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (key, value) in queue_writes(targets, event_id, body) {
            batch.insert(key, value);
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }
}

impl DeliveryQueue for WebhookQueue {
    fn head(&self, target: u16) -> Result<Option<(u64, Vec<u8>)>> {
        // A local step's events are visible once applied; deliver them only once flushed.
        self.group.flush_applied(|| {
            self.db.flush()?;
            self.log.sync().map_err(super::log_sync_failed)
        })?;
        let prefix = webhook_target_prefix(WEBHOOK_QUEUE, target);
        loop {
            let Some((key, value)) = self.db.scan_prefix(&prefix).next().transpose()? else {
                return Ok(None);
            };
            match webhook_parts(&key) {
                Some((_, event_id)) => return Ok(Some((event_id, value.to_vec()))),
                None => {
                    tracing::error!(key = %show_hex(&key), "removing a malformed webhook queue key");
                    self.db.remove(&key)?;
                }
            }
        }
    }

    fn requeue(&self, target: u16, event_id: u64, entry: Vec<u8>) -> Result<()> {
        // Only while still queued: a purge may have withdrawn the event during the attempt.
        self.db
            .update_and_fetch(webhook_key(WEBHOOK_QUEUE, target, event_id), |held| {
                held.map(|_| entry.clone())
            })?;
        Ok(())
    }

    fn remove(&self, target: u16, event_id: u64) -> Result<()> {
        self.db
            .remove(webhook_key(WEBHOOK_QUEUE, target, event_id))?;
        Ok(())
    }

    fn bury(&self, target: u16, event_id: u64, letter: Vec<u8>) -> Result<()> {
        let queued = webhook_key(WEBHOOK_QUEUE, target, event_id);
        let dead = webhook_key(WEBHOOK_DEAD_LETTER, target, event_id);
        // Only while still queued: a purge may have withdrawn the event during the attempt.
        self.db
            .transaction(|tx| {
                if tx.remove(queued.as_slice())?.is_some() {
                    tx.insert(dead.as_slice(), letter.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => e.into(),
                sled::transaction::TransactionError::Abort(()) => {
                    crate::error::Error::Storage("burying a webhook event was aborted".into())
                }
            })?;
        Ok(())
    }

    fn queued_from(&self, first: u16) -> Result<usize> {
        let start = webhook_target_prefix(WEBHOOK_QUEUE, first);
        let end = vec![WEBHOOK_QUEUE + 1];
        let mut count = 0;
        for key in self.db.range(start..end).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    fn dead_letters(&self) -> Result<Vec<(u16, u64, Vec<u8>)>> {
        self.db
            .scan_prefix([WEBHOOK_DEAD_LETTER])
            .map(|item| {
                let (key, value) = item?;
                let (target, event_id) = webhook_parts(&key).ok_or_else(|| {
                    crate::error::Error::Corrupt(format!(
                        "webhook dead letter with malformed key {}",
                        show_hex(&key)
                    ))
                })?;
                Ok((target, event_id, value.to_vec()))
            })
            .collect()
    }
}

/// The keys of the queued deliveries and dead letters that carry an event about ticket
/// `number` (`ticket.changed` with the ticket's content, an earlier `ticket.revoked`): a
/// retention purge removes them with the ticket, so its content does not outlive it in the
/// queue. A record that does not decode is left to the store check.
pub(super) fn ticket_event_keys(db: &sled::Db, number: &str) -> Result<Vec<Vec<u8>>> {
    let about = |body: serde_json::Value| body["number"].as_str() == Some(number);
    let mut keys = Vec::new();
    for item in db.scan_prefix([WEBHOOK_QUEUE]) {
        let (key, value) = item?;
        if QueueEntry::decode(&value).is_ok_and(|entry| about(record::body_json(&entry.body))) {
            keys.push(key.to_vec());
        }
    }
    for item in db.scan_prefix([WEBHOOK_DEAD_LETTER]) {
        let (key, value) = item?;
        let letter = serde_json::from_slice::<record::WebhookDeadLetter>(&value);
        if letter.is_ok_and(|letter| about(letter.body)) {
            keys.push(key.to_vec());
        }
    }
    Ok(keys)
}

/// The key/value pairs that queue `body` as event `event_id` for the first `targets` targets
/// (past index 65535 none).
pub(super) fn queue_writes(targets: usize, event_id: u64, body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let value = QueueEntry::new(body).encode();
    (0..=u16::MAX)
        .take(targets)
        .map(|target| (webhook_key(WEBHOOK_QUEUE, target, event_id), value.clone()))
        .collect()
}

/// Checks a stored `w` (queued delivery) or `y` (dead letter) record, for the store check at
/// open and for `recover`, which keeps the records that pass.
pub(crate) fn check_webhook_record(key: &[u8], value: &[u8]) -> std::result::Result<(), String> {
    let what = if key.first() == Some(&WEBHOOK_QUEUE) {
        "webhook delivery"
    } else {
        "webhook dead letter"
    };
    let event_id = webhook_event_id(key)
        .ok_or_else(|| format!("{what} with malformed key {}", show_hex(key)))?;
    let checked = match key.first().copied() {
        Some(keys::WEBHOOK_QUEUE) => record::check_queued(value),
        Some(keys::WEBHOOK_DEAD_LETTER) => record::check_dead_letter(value),
        _ => Err("not a webhook record".to_owned()),
    };
    checked.map_err(|e| format!("{what} {event_id}: {e}"))
}

/// The event id in a `w` or `y` key, `None` when the key is malformed.
pub(crate) fn webhook_event_id(key: &[u8]) -> Option<u64> {
    webhook_parts(key).map(|(_, event_id)| event_id)
}
