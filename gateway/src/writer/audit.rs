//! The writer's side of the audit trail: every entry is appended to the group's batch, so it
//! is durable exactly when the change it records is (a group commits whole or not at all).
//! The trail's head is kept here like the log's `head`, and stored under the `audit` counter in
//! the same batch. Checkpoints are signed here too, so a checkpoint's head is always one the
//! store holds.
//!
//! What an entry says about a change: its digest, origin site and sequence, global sequence,
//! the names of the fields it touched and, when refused, the rule; never comment bodies,
//! customer names or any other field value.

use hotline_federation::audit::{
    Checkpoint, Head, Receipt, Record, SALT_BYTES, SignedCheckpoint, hex,
};
use hotline_federation::authority::{Caller, Refusal};
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use prost::Message;
use serde_json::json;

use super::{Group, Outcome, Writer};
use crate::error::{Error, Result};
use crate::store::{Store, keys};

/// The trail's head as stored (empty trail when the counter is absent).
pub fn load_head(store: &dyn Store) -> Result<Head> {
    match store.get(&keys::meta("audit"))? {
        None => Ok(Head::default()),
        Some(raw) => {
            let (seq, hash) = keys::decode_audit_head(&raw).ok_or_else(|| {
                Error::Corrupt("the audit head counter is not a position and a hash".into())
            })?;
            Ok(Head { seq, hash })
        }
    }
}

/// The latest signed checkpoint, if one was signed.
pub fn latest_checkpoint(store: &dyn Store) -> Result<Option<SignedCheckpoint>> {
    let Some(raw) = store.get(&keys::meta("checkpoint"))? else {
        return Ok(None);
    };
    let wire = pb::AuditCheckpoint::decode(raw.as_slice())
        .map_err(|e| Error::Corrupt(format!("the latest audit checkpoint does not decode: {e}")))?;
    SignedCheckpoint::try_from(wire)
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("the latest audit checkpoint: {e}")))
}

/// Who acted, as the trail names them.
pub fn actor_of(caller: &Caller) -> String {
    match caller {
        Caller::Site { site, .. } => format!("site:{site}"),
        Caller::Gateway => super::GATEWAY_SITE.into(),
    }
}

/// The names of what a change touches: register names, `comment:<id>`, `call_event:<id>`,
/// `delete`; never a value.
fn touched(change: &Change) -> Vec<String> {
    change
        .ops
        .iter()
        .map(|op| match op {
            FieldOp::Set(value) => value.register(),
            FieldOp::AddComment(comment) => format!("comment:{}", comment.id),
            FieldOp::AddCallEvent(event) => format!("call_event:{}", event.id),
            FieldOp::Delete { .. } => "delete".into(),
        })
        .collect()
}

/// What an entry says of a change whatever its outcome: its digest in hex and the names of
/// what it touches.
#[derive(Clone, Debug)]
pub(super) struct Summary {
    digest: String,
    fields: Vec<String>,
}

impl Summary {
    /// The summary of `change`, whose digest is `digest`.
    pub(super) fn of(change: &Change, digest: &[u8; 32]) -> Self {
        Summary {
            digest: hex(digest),
            fields: touched(change),
        }
    }
}

/// The entry of a decided change: `<prefix>.accepted` or `<prefix>.refused`.
pub(super) fn change_record(
    now: u64,
    actor: String,
    tenant: Option<&str>,
    prefix: &str,
    change: &Change,
    summary: &Summary,
    outcome: &Outcome,
) -> Record {
    let mut detail = json!({
        "origin_site": change.origin_site,
        "origin_seq": change.origin_seq,
        "digest": summary.digest,
        "fields": summary.fields,
    });
    if let Some(tenant) = tenant {
        detail["tenant"] = json!(tenant);
    }
    let action = match outcome {
        Outcome::Accepted { global_seq, .. } => {
            detail["global_seq"] = json!(global_seq);
            format!("{prefix}.accepted")
        }
        Outcome::Rejected(Refusal { rule, .. }) => {
            detail["rule"] = json!(rule.name());
            format!("{prefix}.refused")
        }
    };
    Record {
        at_ms: now,
        actor,
        action,
        subject: change.key.to_string(),
        detail_json: detail.to_string(),
    }
}

impl Writer {
    /// Appends `record` to the group's trail and batch; its receipt.
    pub(super) fn record(&self, group: &mut Group, record: Record) -> Receipt {
        let salt = entry_salt(&self.salt_key, group.audit.seq + 1);
        let entry = group.audit.append(record, salt);
        let receipt = Receipt {
            seq: entry.seq,
            hash: entry.hash,
        };
        group.batch.put(
            keys::audit(entry.seq),
            pb::AuditEntry::from(entry).encode_to_vec(),
        );
        receipt
    }

    /// Signs the trail's head as of this point of the group, unless the latest checkpoint
    /// already covers it; stored with the group.
    pub(super) fn process_checkpoint(
        &self,
        group: &mut Group,
        secret: &[u8; 32],
    ) -> Option<SignedCheckpoint> {
        let covered = group
            .checkpoint
            .is_some_and(|c| c.checkpoint.size == group.audit.seq);
        if covered || group.audit.seq == 0 {
            return None;
        }
        let signed = Checkpoint {
            size: group.audit.seq,
            head: group.audit.hash,
            at_ms: (self.settings.now_ms)(),
        }
        .sign(secret);
        let wire = pb::AuditCheckpoint::from(signed).encode_to_vec();
        group
            .batch
            .put(keys::checkpoint(signed.checkpoint.size), wire.clone());
        group.batch.put(keys::meta("checkpoint"), wire);
        group.checkpoint = Some(signed);
        Some(signed)
    }
}

/// The salt of the entry at `seq`: the first [`SALT_BYTES`] of SHA-256(`key` || `seq`). `key`
/// is 32 random bytes drawn once when the writer starts and never stored, so the salts are as
/// unguessable as fresh random ones (what they are for: a proof's digest cannot be matched
/// against a guessed record), while the writer reads the OS random source once instead of once
/// per entry.
pub(super) fn entry_salt(key: &[u8; 32], seq: u64) -> [u8; SALT_BYTES] {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(key)
        .chain_update(seq.to_be_bytes())
        .finalize();
    let mut salt = [0u8; SALT_BYTES];
    salt.copy_from_slice(&digest[..SALT_BYTES]);
    salt
}

/// Draws the writer's salt key from the OS random source.
pub(super) fn salt_key() -> Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| {
        Error::Unavailable(format!(
            "cannot read the operating system's random source for audit salts: {e}"
        ))
    })?;
    Ok(key)
}

#[cfg(test)]
mod salt_tests {
    use super::entry_salt;

    /// Salts differ per position and per writer key, and are stable for one (key, position):
    /// the property the chain's privacy relies on (no two entries share a salt).
    #[test]
    fn salts_differ_by_position_and_key() {
        let key = [7u8; 32];
        let other = [8u8; 32];
        let salts: std::collections::HashSet<_> = (1..=1000).map(|s| entry_salt(&key, s)).collect();
        assert_eq!(salts.len(), 1000);
        assert_eq!(entry_salt(&key, 5), entry_salt(&key, 5));
        assert_ne!(entry_salt(&key, 5), entry_salt(&other, 5));
    }
}
