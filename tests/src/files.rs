//! Files for attachment tests: content the gateway's type check accepts, and its digest.

use sha2::{Digest, Sha256};

/// A PNG of `size` bytes: the signature, then bytes from a fixed generator (`seed`).
pub fn png(size: usize, seed: u64) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

/// The SHA-256 of `bytes` in lowercase hex, as attachments name their file.
pub fn sha256(bytes: &[u8]) -> String {
    hotline_federation::attachment::hex(&Sha256::digest(bytes))
}
