//! The tamper-evident audit trail (DESIGN.md section 7), as pure logic: entries, their
//! canonical bytes and hash chain, verification that names the first changed, removed or
//! reordered entry, Ed25519-signed checkpoints and the proof of a receipt against a later
//! checkpoint. The gateway stores and serves what is decided here; it never hashes on its own.
//!
//! An entry's `content_digest` is SHA-256 of its canonical bytes (every field length-prefixed,
//! in a fixed order), and its `hash` is SHA-256(`prev_hash` || `content_digest`), with 32 zero
//! bytes before the first entry. So a receipt (an entry's position and hash) is proved against a
//! later checkpoint with only the content digests of the entries after it: the proof shows
//! nothing of what those entries say: each entry carries 16 random bytes (its salt, drawn by
//! the gateway) inside its content, so a digest cannot be matched against a guessed record
//! (a look-up's time and outcome, a lease) either.
//!
//! Entries never hold personal data: a change is described by its digest, origin, global
//! sequence and field names, never by comment bodies or customer names.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The hash before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// Length of an entry's salt.
pub const SALT_BYTES: usize = 16;

/// What a checkpoint signature covers starts with this, so no other signed message of the
/// gateway can be taken for a checkpoint.
const CHECKPOINT_DOMAIN: &[u8] = b"hotline.v1.audit.checkpoint\0";

/// One recorded action, before it is chained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When it happened, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who acted: `site:<id>`, `staff:<role>:<name>`, `customer` or `gateway`.
    pub actor: String,
    /// What was done, e.g. `push.accepted`, `admin.upsert_site`, `status_page.lookup`.
    pub action: String,
    /// What it was done to: an entity (`ticket/ASZ-2026-000001`), a site, a tenant.
    pub subject: String,
    /// Details as a JSON object, never personal data.
    pub detail_json: String,
}

/// An entry of the trail: a record at its position, chained to the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the trail, from 1.
    pub seq: u64,
    /// What was recorded.
    pub record: Record,
    /// Random bytes drawn when it was recorded, part of its content digest.
    pub salt: [u8; SALT_BYTES],
    /// The hash of the entry before ([`GENESIS`] for the first).
    pub prev_hash: [u8; 32],
    /// SHA-256(`prev_hash` || content digest).
    pub hash: [u8; 32],
}

/// The end of the trail: its size and the hash of its last entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Entries in the trail (the last one's position).
    pub seq: u64,
    /// The last entry's hash, [`GENESIS`] while empty.
    pub hash: [u8; 32],
}

impl Default for Record {
    fn default() -> Self {
        Record {
            at_ms: 0,
            actor: String::new(),
            action: String::new(),
            subject: String::new(),
            detail_json: "{}".into(),
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths are u64 so no field can be long enough to wrap its prefix.
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The canonical bytes of an entry's content: its position, its salt and every field of its
/// record, each length-prefixed, in a fixed order. Equal content gives equal bytes, and no two
/// different contents give the same bytes.
pub fn canonical(seq: u64, salt: &[u8; SALT_BYTES], record: &Record) -> Vec<u8> {
    let Record {
        at_ms,
        actor,
        action,
        subject,
        detail_json,
    } = record;
    let mut out = Vec::with_capacity(64 + actor.len() + action.len() + subject.len());
    out.extend_from_slice(b"hotline.v1.audit.entry\0");
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(salt);
    out.extend_from_slice(&at_ms.to_be_bytes());
    for field in [actor, action, subject, detail_json] {
        put_bytes(&mut out, field.as_bytes());
    }
    out
}

/// SHA-256 of an entry's canonical bytes.
pub fn content_digest(seq: u64, salt: &[u8; SALT_BYTES], record: &Record) -> [u8; 32] {
    Sha256::digest(canonical(seq, salt, record)).into()
}

/// The chain step: SHA-256(`prev_hash` || `content_digest`).
pub fn link(prev_hash: &[u8; 32], content_digest: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(content_digest);
    hasher.finalize().into()
}

impl Head {
    /// Appends `record` after this head with `salt` (fresh random bytes from the caller):
    /// the new entry, and this head moved to it.
    pub fn append(&mut self, record: Record, salt: [u8; SALT_BYTES]) -> Entry {
        let seq = self.seq + 1;
        let prev_hash = self.hash;
        let hash = link(&prev_hash, &content_digest(seq, &salt, &record));
        *self = Head { seq, hash };
        Entry {
            seq,
            record,
            salt,
            prev_hash,
            hash,
        }
    }
}

impl Entry {
    /// This entry's content digest, from its content as it is now.
    pub fn content_digest(&self) -> [u8; 32] {
        content_digest(self.seq, &self.salt, &self.record)
    }
}

/// What is wrong with an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Its content or hash is not what its hash says: it was changed.
    Changed,
    /// It is missing: the entry after it stands in its place, or the trail ends before a
    /// signed checkpoint's size.
    Removed,
    /// It stands at another entry's place.
    Reordered,
    /// Its link to the entry before does not match that entry's hash.
    Unlinked,
}

impl Problem {
    /// The name shown to people and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Problem::Changed => "changed",
            Problem::Removed => "removed",
            Problem::Reordered => "reordered",
            Problem::Unlinked => "unlinked",
        }
    }
}

/// The first broken entry of a trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// The position of the entry that is wrong.
    pub seq: u64,
    /// What is wrong with it.
    pub problem: Problem,
    /// Said for a person.
    pub detail: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "entry {} {}: {}",
            self.seq,
            self.problem.name(),
            self.detail
        )
    }
}

/// Walks a trail read in storage order, from entry 1, and checks each entry against the ones
/// before. Feed it entries with [`ChainCheck::check`]; it keeps only the running head.
#[derive(Clone, Debug, Default)]
pub struct ChainCheck {
    head: Head,
}

impl ChainCheck {
    /// A check from the start of the trail.
    pub fn new() -> Self {
        ChainCheck::default()
    }

    /// A check that goes on after `head`: the entries up to it were checked earlier (the
    /// caller vouches for them; see the gateway's incremental verify).
    pub fn after(head: Head) -> Self {
        ChainCheck { head }
    }

    /// The head of the entries checked so far.
    pub fn head(&self) -> Head {
        self.head
    }

    /// Checks the next entry. `later` tells whether an entry with the position expected here
    /// appears later in the trail (then this one was reordered, otherwise the expected one was
    /// removed); it is only asked when the positions differ.
    pub fn check(
        &mut self,
        entry: &Entry,
        later: impl FnOnce(u64) -> bool,
    ) -> std::result::Result<(), Broken> {
        let expected = self.head.seq + 1;
        if entry.seq != expected {
            return Err(if later(expected) {
                Broken {
                    seq: expected,
                    problem: Problem::Reordered,
                    detail: format!(
                        "entry {} stands at its place; entry {expected} comes later",
                        entry.seq
                    ),
                }
            } else {
                Broken {
                    seq: expected,
                    problem: Problem::Removed,
                    detail: format!(
                        "the trail goes from entry {} to {}",
                        expected - 1,
                        entry.seq
                    ),
                }
            });
        }
        if entry.prev_hash != self.head.hash {
            return Err(Broken {
                seq: expected,
                problem: Problem::Unlinked,
                detail: "its previous hash is not the hash of the entry before".into(),
            });
        }
        if link(&entry.prev_hash, &entry.content_digest()) != entry.hash {
            return Err(Broken {
                seq: expected,
                problem: Problem::Changed,
                detail: "its content does not hash to its recorded hash".into(),
            });
        }
        self.head = Head {
            seq: entry.seq,
            hash: entry.hash,
        };
        Ok(())
    }

    /// Checks that the trail checked so far reaches `checkpoint` (signed earlier) and holds at
    /// its size the hash it signed. Call once every entry up to at least its size was checked,
    /// or at the end of the trail.
    pub fn reaches(
        &self,
        size: u64,
        hash_at_size: Option<[u8; 32]>,
        head: &[u8; 32],
    ) -> std::result::Result<(), Broken> {
        if self.head.seq < size {
            return Err(Broken {
                seq: self.head.seq + 1,
                problem: Problem::Removed,
                detail: format!(
                    "the trail ends at entry {} but a signed checkpoint counted {size}",
                    self.head.seq
                ),
            });
        }
        match hash_at_size {
            Some(hash) if &hash == head => Ok(()),
            _ => Err(Broken {
                seq: size,
                problem: Problem::Changed,
                detail: "its hash is not the head hash of the signed checkpoint of that size"
                    .into(),
            }),
        }
    }
}

/// Verifies a whole trail (from entry 1, in storage order): the number of entries checked, or
/// the first changed, removed or reordered entry.
pub fn verify(entries: &[Entry]) -> std::result::Result<u64, Broken> {
    let mut check = ChainCheck::new();
    for (at, entry) in entries.iter().enumerate() {
        check.check(entry, |expected| {
            entries[at + 1..].iter().any(|e| e.seq == expected)
        })?;
    }
    Ok(check.head().seq)
}

/// A checkpoint: the trail's size and head hash at a moment, before signing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Entries in the trail.
    pub size: u64,
    /// The hash of entry `size`.
    pub head: [u8; 32],
    /// When it was taken, ms since the Unix epoch.
    pub at_ms: u64,
}

/// A checkpoint with the gateway's Ed25519 signature over [`Checkpoint::signed_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The signature (64 bytes).
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// The bytes the signature covers: a domain tag, the size, the head hash and the time.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = CHECKPOINT_DOMAIN.to_vec();
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        out
    }

    /// Signs it with the gateway's secret key (its 32-byte seed).
    pub fn sign(self, secret: &[u8; 32]) -> SignedCheckpoint {
        let key = SigningKey::from_bytes(secret);
        SignedCheckpoint {
            checkpoint: self,
            signature: key.sign(&self.signed_bytes()).to_bytes(),
        }
    }
}

/// The public key (32 bytes) of a secret key seed.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

impl SignedCheckpoint {
    /// Checks the signature with the gateway's public key.
    pub fn verify(&self, public: &[u8; 32]) -> Result<()> {
        let key = VerifyingKey::from_bytes(public).map_err(|e| {
            Error::invalid("public_key", format!("is not an Ed25519 public key: {e}"))
        })?;
        key.verify(
            &self.checkpoint.signed_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| {
            Error::invalid(
                "checkpoint.signature",
                "does not verify with the gateway's public key: the checkpoint was not signed by \
                 that key or was changed after signing",
            )
        })
    }
}

/// A receipt: the position and hash of an entry, as the gateway answered a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's position.
    pub seq: u64,
    /// The entry's hash.
    pub hash: [u8; 32],
}

/// Proves that the entry of `receipt` is in the trail `checkpoint` signed: the signature holds
/// under `public`, and chaining the content digests of entries `receipt.seq + 1 ..= size` onto
/// the receipt's hash gives the checkpoint's head.
pub fn prove(
    receipt: &Receipt,
    checkpoint: &SignedCheckpoint,
    public: &[u8; 32],
    digests_after: &[[u8; 32]],
) -> Result<()> {
    checkpoint.verify(public)?;
    let Checkpoint { size, head, .. } = checkpoint.checkpoint;
    if receipt.seq == 0 || receipt.seq > size {
        return Err(Error::invalid(
            "receipt.seq",
            format!(
                "entry {} is not within the checkpoint's {size} entries (1 to {size})",
                receipt.seq
            ),
        ));
    }
    let wanted = size - receipt.seq;
    if digests_after.len() as u64 != wanted {
        return Err(Error::invalid(
            "digests",
            format!(
                "{} content digests were given; entries {} to {size} need {wanted}",
                digests_after.len(),
                receipt.seq + 1
            ),
        ));
    }
    let reached = digests_after
        .iter()
        .fold(receipt.hash, |hash, digest| link(&hash, digest));
    if reached != head {
        return Err(Error::invalid(
            "receipt",
            format!(
                "chaining entries {} to {size} onto the receipt's hash does not give the \
                 checkpoint's head: the receipt's entry is not in that trail as signed",
                receipt.seq + 1
            ),
        ));
    }
    Ok(())
}

/// Lower-case hex of bytes, for people and JSON.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// 32 bytes from their lower- or upper-case hex.
pub fn parse_hex32(field: &str, text: &str) -> Result<[u8; 32]> {
    let bytes = parse_hex(field, text)?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        Error::invalid(
            field,
            format!("is {} bytes; 32 bytes (64 hex digits) are allowed", b.len()),
        )
    })
}

/// Bytes from hex.
pub fn parse_hex(field: &str, text: &str) -> Result<Vec<u8>> {
    if text.len() % 2 != 0 {
        return Err(Error::invalid(field, "has an odd number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| Error::invalid(field, format!("is not hex at character {i}")))
        })
        .collect()
}

mod wire;

#[cfg(test)]
mod tests;
