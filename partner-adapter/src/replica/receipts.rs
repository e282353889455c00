//! The gateway's audit receipts for this site's accepted changes, kept by origin sequence, and
//! the latest signed checkpoint: what lets the site prove later that the gateway recorded a
//! change (`hotline audit prove`), without trusting the gateway's word at that time.

use std::path::Path;

use hotline_federation::audit::{Receipt, SignedCheckpoint};
use hotline_proto::v1 as pb;
use prost::Message;

use super::Replica;
use super::keys::{self, meta, seq_key};
use crate::error::{Error, Result};

/// A receipt's stored value: the entry's position, then its hash.
fn encode(receipt: &Receipt) -> Vec<u8> {
    let mut out = receipt.seq.to_be_bytes().to_vec();
    out.extend_from_slice(&receipt.hash);
    out
}

/// A receipt from its stored value.
pub(crate) fn decode(raw: &[u8]) -> Option<Receipt> {
    if raw.len() != 40 {
        return None;
    }
    Some(Receipt {
        seq: u64::from_be_bytes(raw[..8].try_into().ok()?),
        hash: raw[8..].try_into().ok()?,
    })
}

impl Replica {
    /// Keeps the receipts of a push's accepted changes (by origin sequence) and the checkpoint
    /// its answer carried, when it is newer than the one kept.
    pub fn keep_receipts(
        &self,
        receipts: &[(u64, Receipt)],
        checkpoint: Option<&pb::AuditCheckpoint>,
    ) -> Result<()> {
        let mut batch = sled::Batch::default();
        for (origin_seq, receipt) in receipts {
            batch.insert(seq_key(keys::RECEIPT, *origin_seq), encode(receipt));
        }
        if let Some(checkpoint) = checkpoint {
            let newer = match self.db.get(meta("checkpoint"))? {
                Some(raw) => pb::AuditCheckpoint::decode(raw.as_ref())
                    .map_or(true, |kept| kept.size < checkpoint.size),
                None => true,
            };
            if newer {
                batch.insert(meta("checkpoint"), checkpoint.encode_to_vec());
            }
        }
        self.db.apply_batch(batch)?;
        Ok(())
    }

    /// The receipt kept for the change `origin_seq`.
    pub fn receipt(&self, origin_seq: u64) -> Result<Option<Receipt>> {
        read_receipt(&self.db, origin_seq)
    }

    /// Every receipt kept, by origin sequence.
    pub fn receipts(&self) -> Result<Vec<(u64, Receipt)>> {
        all_receipts(&self.db)
    }
}

fn read_receipt(db: &sled::Db, origin_seq: u64) -> Result<Option<Receipt>> {
    match db.get(seq_key(keys::RECEIPT, origin_seq))? {
        None => Ok(None),
        Some(raw) => decode(&raw).map(Some).ok_or_else(|| {
            Error::Gateway(format!(
                "the audit receipt of change {origin_seq} is damaged"
            ))
        }),
    }
}

fn all_receipts(db: &sled::Db) -> Result<Vec<(u64, Receipt)>> {
    let mut out = Vec::new();
    for item in db.scan_prefix([keys::RECEIPT]) {
        let (key, value) = item?;
        if let (Some(seq), Some(receipt)) = (keys::key_seq(&key), decode(&value)) {
            out.push((seq, receipt));
        }
    }
    Ok(out)
}

/// What a stopped adapter's store holds for a proof: the receipt of `origin_seq` (or of the
/// newest change with one) and the latest checkpoint it was handed.
#[derive(Clone, Debug)]
pub struct StoredProof {
    /// The change's origin sequence.
    pub origin_seq: u64,
    /// Its receipt.
    pub receipt: Receipt,
    /// The latest signed checkpoint the site kept, if any.
    pub checkpoint: Option<SignedCheckpoint>,
}

/// Reads a stopped adapter's store in `dir` for a proof (sled allows one process at a time:
/// stop the adapter first).
pub fn read_stored_proof(dir: &Path, origin_seq: Option<u64>) -> Result<Option<StoredProof>> {
    let db = super::integrity::open_db(dir)?;
    let found = match origin_seq {
        Some(seq) => read_receipt(&db, seq)?.map(|r| (seq, r)),
        None => all_receipts(&db)?.pop(),
    };
    let Some((origin_seq, receipt)) = found else {
        return Ok(None);
    };
    let checkpoint = match db.get(meta("checkpoint"))? {
        None => None,
        Some(raw) => {
            let wire = pb::AuditCheckpoint::decode(raw.as_ref()).map_err(|e| {
                Error::Gateway(format!("the kept audit checkpoint does not decode: {e}"))
            })?;
            Some(SignedCheckpoint::try_from(wire)?)
        }
    };
    Ok(Some(StoredProof {
        origin_seq,
        receipt,
        checkpoint,
    }))
}
