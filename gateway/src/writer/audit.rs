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

/// What an entry says of a change whatever its outcome (its digest in hex, the names of what
/// it touches, its origin), prepared as the parts of the entry's detail JSON that come before
/// and after the global sequence: worked out on the pushing caller's thread, so the writer
/// only joins them ([`change_record`]).
#[derive(Clone, Debug)]
pub(super) struct Summary {
    /// `{"digest":"<hex>","fields":[...]`
    opening: String,
    /// `"origin_seq":<n>,"origin_site":"<site>"`
    origin: String,
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

impl Summary {
    /// The summary of `change`, whose digest is `digest`.
    pub(super) fn of(change: &Change, digest: &[u8; 32]) -> Self {
        let fields = serde_json::Value::from(touched(change));
        Summary {
            opening: format!(r#"{{"digest":"{}","fields":{fields}"#, hex(digest)),
            origin: format!(
                r#""origin_seq":{},"origin_site":{}"#,
                change.origin_seq,
                json_string(&change.origin_site)
            ),
        }
    }
}

/// The entry of a decided change: `<prefix>.accepted` or `<prefix>.refused`. Its detail is a
/// JSON object with its keys in order (what `serde_json` writes for a map): `digest`,
/// `fields`, `global_seq` (accepted), `origin_seq`, `origin_site`, `rule` (refused), `tenant`
/// (a site's change).
pub(super) fn change_record(
    now: u64,
    actor: String,
    tenant: Option<&str>,
    prefix: &str,
    change: &Change,
    summary: &Summary,
    outcome: &Outcome,
) -> Record {
    let mut detail = String::with_capacity(summary.opening.len() + summary.origin.len() + 96);
    detail.push_str(&summary.opening);
    detail.push(',');
    let (action, rule) = match outcome {
        Outcome::Accepted { global_seq, .. } => {
            detail.push_str(&format!(r#""global_seq":{global_seq},"#));
            (format!("{prefix}.accepted"), None)
        }
        Outcome::Rejected(Refusal { rule, .. }) => (format!("{prefix}.refused"), Some(rule)),
    };
    detail.push_str(&summary.origin);
    if let Some(rule) = rule {
        detail.push_str(&format!(r#","rule":{}"#, json_string(rule.name())));
    }
    if let Some(tenant) = tenant {
        detail.push_str(&format!(r#","tenant":{}"#, json_string(tenant)));
    }
    detail.push('}');
    Record {
        at_ms: now,
        actor,
        action,
        subject: change.key.to_string(),
        detail_json: detail,
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

#[cfg(test)]
mod tests {
    use hotline_federation::Hlc;
    use hotline_federation::authority::Rule;
    use hotline_federation::model::{EntityKey, EntityKind};
    use hotline_federation::state::change_digest;
    use serde_json::json;

    use super::super::pushed::tests::comment;
    use super::*;

    /// The detail as built from a map and written by `serde_json`, as entries were before it
    /// was prepared in parts.
    fn from_map(change: &Change, tenant: Option<&str>, outcome: &Outcome) -> String {
        let mut detail = json!({
            "origin_site": change.origin_site,
            "origin_seq": change.origin_seq,
            "digest": hex(&change_digest(change)),
            "fields": touched(change),
        });
        if let Some(tenant) = tenant {
            detail["tenant"] = json!(tenant);
        }
        match outcome {
            Outcome::Accepted { global_seq, .. } => detail["global_seq"] = json!(global_seq),
            Outcome::Rejected(Refusal { rule, .. }) => detail["rule"] = json!(rule.name()),
        }
        detail.to_string()
    }

    /// The detail joined from prepared parts is byte for byte what `serde_json` writes for the
    /// same map, for either outcome, with and without a tenant, and for names that need
    /// escaping; and it parses back to that map.
    #[test]
    fn a_detail_joined_from_parts_is_the_map_serde_writes() {
        let sites = ["erfurt", "quote\"back\\slash", "ümlaut\u{1}ctl"];
        for (n, site) in sites.into_iter().enumerate() {
            let change = Change {
                key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
                ops: vec![
                    comment("erfurt-1"),
                    comment("a\"b"),
                    FieldOp::Delete {
                        reason: "dup".into(),
                    },
                ],
                origin_site: site.into(),
                origin_seq: u64::MAX - n as u64,
                hlc: Hlc::new(1_790_000_000_000, 3),
            };
            let summary = Summary::of(&change, &change_digest(&change));
            let outcomes = [
                Outcome::Accepted {
                    global_seq: u64::MAX,
                    duplicate: false,
                },
                Outcome::Rejected(Refusal::new(Rule::ClockSkew, "ahead")),
            ];
            for outcome in &outcomes {
                for tenant in [None, Some("twenty4help"), Some("t\"x")] {
                    let record = change_record(
                        7,
                        "site:x".into(),
                        tenant,
                        "push",
                        &change,
                        &summary,
                        outcome,
                    );
                    let expected = from_map(&change, tenant, outcome);
                    assert_eq!(record.detail_json, expected);
                    let parsed: serde_json::Value =
                        serde_json::from_str(&record.detail_json).unwrap();
                    assert_eq!(parsed.to_string(), expected);
                }
            }
        }
    }
}
