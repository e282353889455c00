//! Tests of the audit chain: verification names the first tampered entry, checkpoints sign and
//! verify, receipts prove against later checkpoints and fail against forged ones.

use hotline_proto::v1 as pb;
use proptest::prelude::*;

use super::*;

fn record(n: u64) -> Record {
    Record {
        at_ms: 1_700_000_000_000 + n,
        actor: format!("site:site{}", n % 3),
        action: "push.accepted".into(),
        subject: format!("ticket/ASZ-2026-{n:06}"),
        detail_json: format!("{{\"global_seq\":{n}}}"),
    }
}

fn trail(len: u64) -> Vec<Entry> {
    let mut head = Head::default();
    (1..=len)
        .map(|n| head.append(record(n), [n as u8; SALT_BYTES]))
        .collect()
}

/// Flips one bit of one byte of the entry's stored form (its fields as they would be stored):
/// `at` picks the byte over the canonical content, the previous hash and the hash.
fn flip(entry: &mut Entry, at: usize, bit: u8) {
    let mask = 1u8 << (bit % 8);
    let Record {
        actor,
        action,
        subject,
        detail_json,
        at_ms,
    } = &mut entry.record;
    let strings: [&mut String; 4] = [actor, action, subject, detail_json];
    let mut at = at % (8 + 8 + 32 + 32 + strings.iter().map(|s| s.len()).sum::<usize>());
    if at < 8 {
        entry.seq ^= u64::from(mask) << (8 * at);
        return;
    }
    at -= 8;
    if at < 8 {
        *at_ms ^= u64::from(mask) << (8 * at);
        return;
    }
    at -= 8;
    if at < 32 {
        entry.prev_hash[at] ^= mask;
        return;
    }
    at -= 32;
    if at < 32 {
        entry.hash[at] ^= mask;
        return;
    }
    at -= 32;
    for s in strings {
        if at < s.len() {
            let mut bytes = std::mem::take(s).into_bytes();
            // Stay within ASCII so the text stays a string, as a store read would need.
            bytes[at] ^= mask & 0x7f | u8::from(mask & 0x7f == 0);
            *s = String::from_utf8_lossy(&bytes).into_owned();
            return;
        }
        at -= s.len();
    }
}

/// An untouched trail verifies whole: no false alarm on an honest gateway.
#[test]
fn intact_trail_verifies() {
    assert_eq!(verify(&trail(50)), Ok(50));
    assert_eq!(verify(&[]), Ok(0));
}

/// Each field of the canonical encoding is length-prefixed, so moving a byte from one field to
/// the next changes the digest (no two contents share bytes).
#[test]
fn canonical_bytes_separate_fields() {
    let a = Record {
        actor: "ab".into(),
        action: "c".into(),
        ..record(1)
    };
    let b = Record {
        actor: "a".into(),
        action: "bc".into(),
        ..record(1)
    };
    let salt = [7; SALT_BYTES];
    assert_ne!(content_digest(1, &salt, &a), content_digest(1, &salt, &b));
    // The salt is content too: the same record under another salt has another digest.
    assert_ne!(
        content_digest(1, &salt, &a),
        content_digest(1, &[8; SALT_BYTES], &a)
    );
}

proptest! {
    /// Any single bit flip anywhere in any entry is detected, and the entry named is the one
    /// flipped (or, for a flipped position, the place it should stand at).
    #[test]
    fn a_flipped_byte_is_found_and_located(len in 1u64..40, which in 0usize..40, at in 0usize..400, bit in 0u8..8) {
        let mut entries = trail(len);
        let which = which % entries.len();
        let before = entries[which].clone();
        flip(&mut entries[which], at, bit);
        prop_assume!(entries[which] != before);
        let broken = verify(&entries).unwrap_err();
        prop_assert_eq!(broken.seq, which as u64 + 1, "{}", broken);
    }

    /// Removing any one entry (but the last, which only a checkpoint can show) names it as
    /// removed.
    #[test]
    fn a_deleted_entry_is_named(len in 2u64..40, which in 0usize..40) {
        let mut entries = trail(len);
        let which = which % (entries.len() - 1);
        entries.remove(which);
        let broken = verify(&entries).unwrap_err();
        prop_assert_eq!(broken.seq, which as u64 + 1);
        prop_assert_eq!(broken.problem, Problem::Removed);
    }

    /// Swapping any two entries names the first place that holds the wrong one as reordered.
    #[test]
    fn swapped_entries_are_named(len in 2u64..40, a in 0usize..40, b in 0usize..40) {
        let mut entries = trail(len);
        let (a, b) = (a % entries.len(), b % entries.len());
        prop_assume!(a != b);
        entries.swap(a, b);
        let broken = verify(&entries).unwrap_err();
        prop_assert_eq!(broken.seq, a.min(b) as u64 + 1);
        prop_assert_eq!(broken.problem, Problem::Reordered);
    }

    /// A receipt for any entry proves against any later checkpoint, with only the content
    /// digests of the entries after it.
    #[test]
    fn receipts_prove_against_later_checkpoints(len in 1u64..30, seq in 1u64..30, extra in 0u64..10) {
        let seq = 1 + (seq - 1) % len;
        let entries = trail(len + extra);
        let size = len + extra;
        let secret = [7u8; 32];
        let signed = Checkpoint { size, head: entries[size as usize - 1].hash, at_ms: 5 }.sign(&secret);
        let receipt = Receipt { seq, hash: entries[seq as usize - 1].hash };
        let digests: Vec<[u8; 32]> = entries[seq as usize..].iter().map(Entry::content_digest).collect();
        prop_assert_eq!(prove(&receipt, &signed, &public_key(&secret), &digests), Ok(()));
    }
}

/// The trail ending before a signed checkpoint's size names the first missing entry, and a
/// changed head at that size is named too: truncation is caught only with a checkpoint.
#[test]
fn checkpoint_catches_a_cut_tail() {
    let entries = trail(10);
    let mut check = ChainCheck::new();
    for entry in &entries[..8] {
        check.check(entry, |_| false).unwrap();
    }
    let broken = check.reaches(10, None, &entries[9].hash).unwrap_err();
    assert_eq!((broken.seq, broken.problem), (9, Problem::Removed));
    let broken = check
        .reaches(8, Some(entries[7].hash), &entries[9].hash)
        .unwrap_err();
    assert_eq!((broken.seq, broken.problem), (8, Problem::Changed));
    assert_eq!(
        check.reaches(8, Some(entries[7].hash), &entries[7].hash),
        Ok(())
    );
}

/// A receipt fails against a forged checkpoint: another key, another head, another size, or
/// a signature over other bytes; each with an error naming what failed.
#[test]
fn receipts_fail_against_forged_checkpoints() {
    let entries = trail(6);
    let secret = [9u8; 32];
    let public = public_key(&secret);
    let good = Checkpoint {
        size: 6,
        head: entries[5].hash,
        at_ms: 1,
    };
    let receipt = Receipt {
        seq: 3,
        hash: entries[2].hash,
    };
    let digests: Vec<[u8; 32]> = entries[3..].iter().map(Entry::content_digest).collect();
    assert_eq!(
        prove(&receipt, &good.sign(&secret), &public, &digests),
        Ok(())
    );

    let wrong_key = good.sign(&[1u8; 32]);
    let error = prove(&receipt, &wrong_key, &public, &digests).unwrap_err();
    assert_eq!(error.field(), Some("checkpoint.signature"), "{error}");

    let wrong_head = Checkpoint {
        head: [3; 32],
        ..good
    }
    .sign(&secret);
    let error = prove(&receipt, &wrong_head, &public, &digests).unwrap_err();
    assert_eq!(error.field(), Some("receipt"), "{error}");

    let wrong_size = Checkpoint { size: 7, ..good }.sign(&secret);
    let error = prove(&receipt, &wrong_size, &public, &digests).unwrap_err();
    assert_eq!(error.field(), Some("digests"), "{error}");

    let mut tampered = good.sign(&secret);
    tampered.checkpoint.size = 5;
    let error = prove(&receipt, &tampered, &public, &digests[..2]).unwrap_err();
    assert_eq!(error.field(), Some("checkpoint.signature"), "{error}");

    let forged_receipt = Receipt {
        seq: 3,
        hash: [0; 32],
    };
    assert!(prove(&forged_receipt, &good.sign(&secret), &public, &digests).is_err());
    let beyond = Receipt {
        seq: 9,
        hash: [0; 32],
    };
    let error = prove(&beyond, &good.sign(&secret), &public, &[]).unwrap_err();
    assert_eq!(error.field(), Some("receipt.seq"), "{error}");
}

/// Hex round-trips and bad hex is refused with where it went wrong.
#[test]
fn hex_round_trips() {
    let hash = trail(1)[0].hash;
    assert_eq!(parse_hex32("h", &hex(&hash)), Ok(hash));
    // Lower case, two digits a byte: stored entries hold digests written this way.
    assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    assert!(parse_hex32("h", "abc").is_err());
    assert!(parse_hex32("h", "zz").is_err());
    assert!(parse_hex32("h", "00").is_err());
}

/// An entry and a checkpoint survive the wire unchanged, and a hash of the wrong length is
/// refused naming the field, so a stored entry cut short is reported, not mis-verified.
#[test]
fn wire_round_trips() {
    let entry = trail(2).pop().unwrap();
    assert_eq!(
        Entry::try_from(pb::AuditEntry::from(entry.clone())),
        Ok(entry.clone())
    );
    let mut short = pb::AuditEntry::from(entry);
    short.hash.pop();
    let error = Entry::try_from(short).unwrap_err();
    assert_eq!(error.field(), Some("audit_entry.hash"));
    let signed = Checkpoint {
        size: 2,
        head: [1; 32],
        at_ms: 3,
    }
    .sign(&[2; 32]);
    assert_eq!(
        SignedCheckpoint::try_from(pb::AuditCheckpoint::from(signed)),
        Ok(signed)
    );
}
