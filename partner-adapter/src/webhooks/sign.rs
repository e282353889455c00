//! Signatures over webhook bodies: HMAC-SHA256 with the target's shared secret, sent in
//! [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) as `sha256=<lowercase hex>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SIGNATURE_PREFIX: &str = "sha256=";
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

type HmacSha256 = Hmac<Sha256>;

/// Signs `body` with `secret`: the full [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) value,
/// `sha256=<lowercase hex>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let tag = keyed_mac(secret, body).finalize().into_bytes();
    let mut value = String::with_capacity(SIGNATURE_PREFIX.len() + 2 * tag.len());
    value.push_str(SIGNATURE_PREFIX);
    for byte in tag {
        value.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        value.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    value
}

/// Whether `header`, a [`SIGNATURE_HEADER`](super::SIGNATURE_HEADER) value, signs exactly
/// `body` under `secret`; the tag is compared in constant time. For partner tools checking what
/// they receive.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix(SIGNATURE_PREFIX) else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    keyed_mac(secret, body).verify_slice(&tag).is_ok()
}

fn keyed_mac(secret: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let pairs = hex.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| Some((hex_value(pair[0])? << 4) | hex_value(pair[1])?))
        .collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Signatures are lowercase hex that verify, and malformed headers are refused.
    #[test]
    fn signature_format() {
        let header = sign("0123456789abcdef", b"{}");
        let hex = header.strip_prefix("sha256=").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(verify(
            "0123456789abcdef",
            b"{}",
            &header.to_uppercase().replace("SHA256", "sha256")
        ));
        assert!(!verify(
            "0123456789abcdef",
            b"{}",
            &header[..header.len() - 1]
        ));
        assert!(!verify("0123456789abcdef", b"{}", hex));
        assert!(!verify("0123456789abcdef", b"{}", "sha256=zz"));
    }
}
