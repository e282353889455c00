//! The audit trail's wire forms: entries and signed checkpoints to and from
//! `hotline.v1` messages, destructured whole so a new field is a compile error here.

use hotline_proto::v1 as pb;

use super::{Checkpoint, Entry, Record, SALT_BYTES, SignedCheckpoint};
use crate::error::{Error, Result};

fn bytes32(field: &str, raw: &[u8]) -> Result<[u8; 32]> {
    raw.try_into().map_err(|_| {
        Error::invalid(
            field,
            format!("is {} bytes; a SHA-256 hash is 32 bytes", raw.len()),
        )
    })
}

impl From<Entry> for pb::AuditEntry {
    fn from(entry: Entry) -> Self {
        let Entry {
            seq,
            record:
                Record {
                    at_ms,
                    actor,
                    action,
                    subject,
                    detail_json,
                },
            salt,
            prev_hash,
            hash,
        } = entry;
        pb::AuditEntry {
            seq,
            at_ms,
            actor,
            action,
            subject,
            detail_json,
            prev_hash: prev_hash.to_vec(),
            hash: hash.to_vec(),
            salt: salt.to_vec(),
        }
    }
}

impl TryFrom<pb::AuditEntry> for Entry {
    type Error = Error;

    fn try_from(wire: pb::AuditEntry) -> Result<Self> {
        let pb::AuditEntry {
            seq,
            at_ms,
            actor,
            action,
            subject,
            detail_json,
            prev_hash,
            hash,
            salt,
        } = wire;
        Ok(Entry {
            seq,
            record: Record {
                at_ms,
                actor,
                action,
                subject,
                detail_json,
            },
            salt: salt.as_slice().try_into().map_err(|_| {
                Error::invalid(
                    "audit_entry.salt",
                    format!("is {} bytes; a salt is {SALT_BYTES} bytes", salt.len()),
                )
            })?,
            prev_hash: bytes32("audit_entry.prev_hash", &prev_hash)?,
            hash: bytes32("audit_entry.hash", &hash)?,
        })
    }
}

impl From<SignedCheckpoint> for pb::AuditCheckpoint {
    fn from(signed: SignedCheckpoint) -> Self {
        let SignedCheckpoint {
            checkpoint: Checkpoint { size, head, at_ms },
            signature,
        } = signed;
        pb::AuditCheckpoint {
            size,
            head: head.to_vec(),
            at_ms,
            signature: signature.to_vec(),
        }
    }
}

impl TryFrom<pb::AuditCheckpoint> for SignedCheckpoint {
    type Error = Error;

    fn try_from(wire: pb::AuditCheckpoint) -> Result<Self> {
        let pb::AuditCheckpoint {
            size,
            head,
            at_ms,
            signature,
        } = wire;
        let signature: [u8; 64] = signature.as_slice().try_into().map_err(|_| {
            Error::invalid(
                "checkpoint.signature",
                format!(
                    "is {} bytes; an Ed25519 signature is 64 bytes",
                    signature.len()
                ),
            )
        })?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                size,
                head: bytes32("checkpoint.head", &head)?,
                at_ms,
            },
            signature,
        })
    }
}
