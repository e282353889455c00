//! The customer's access code to the status page: minted by the site that opens a ticket,
//! shown once, stored only as a salted SHA-256 hash (`<salt hex>:<hash hex>` in the ticket's
//! `access_code` register). Randomness is handed in; this module reads no entropy itself.

use sha2::{Digest, Sha256};

/// The alphabet of codes: Crockford's base32 (no I, L, O, U), so a code read aloud or typed
/// from paper survives the usual confusions.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in a code (50 bits of entropy), shown as two groups of five.
pub const CODE_CHARS: usize = 10;

/// Random bytes a caller hands in to mint one code and its salt.
pub const RANDOM_BYTES: usize = CODE_CHARS + 16;

/// A freshly minted code: what the customer is told once, and what the ticket stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MintedCode {
    /// The code as shown to the customer, e.g. `7KQ2M-XH4PD`.
    pub code: String,
    /// The stored form, `<salt hex>:<sha-256 hex>`.
    pub stored: String,
}

/// Mints a code from `random` (from the operating system's generator).
pub fn mint(random: &[u8; RANDOM_BYTES]) -> MintedCode {
    let (code_bytes, salt) = random.split_at(CODE_CHARS);
    let mut code = String::with_capacity(CODE_CHARS + 1);
    for (i, byte) in code_bytes.iter().enumerate() {
        if i == CODE_CHARS / 2 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(byte & 31)]));
    }
    let salt = hex(salt);
    let stored = format!("{salt}:{}", digest(&salt, &normalize(&code)));
    MintedCode { code, stored }
}

/// The code as typed, reduced to its characters: case, spaces and hyphens do not matter, and
/// the letters Crockford's alphabet leaves out read as the digits they look like.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect()
}

/// True when `typed` is the code whose stored form is `stored`. Takes the same time whether
/// or not the code matches (the comparison does not stop at the first difference); a caller
/// with no stored form compares against [`DECOY`] so a missing ticket costs the same.
pub fn verify(stored: &str, typed: &str) -> bool {
    let Some((salt, expected)) = stored.split_once(':') else {
        return false;
    };
    let actual = digest(salt, &normalize(typed));
    let same_len = actual.len() == expected.len();
    let diff = actual
        .bytes()
        .zip(expected.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    same_len && diff == 0
}

/// A stored form no typed code matches (no SHA-256 digest is all zeros in practice), checked in
/// place of a missing ticket's so both cost one hash.
pub const DECOY: &str = "00000000000000000000000000000000:0000000000000000000000000000000000000000000000000000000000000000";

fn digest(salt: &str, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b":");
    hasher.update(code.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u8) -> [u8; RANDOM_BYTES] {
        std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
    }

    /// A minted code verifies against its stored form, however the customer types it.
    #[test]
    fn minted_code_verifies_as_typed() {
        let minted = mint(&random(3));
        assert_eq!(minted.code.len(), CODE_CHARS + 1);
        assert!(verify(&minted.stored, &minted.code));
        let sloppy = minted.code.to_lowercase().replace('-', " ");
        assert!(verify(&minted.stored, &sloppy));
        assert!(!minted.stored.contains(&minted.code));
    }

    /// Another code, a truncated one, garbage and the decoy never verify.
    #[test]
    fn wrong_codes_do_not_verify() {
        let minted = mint(&random(5));
        let other = mint(&random(6));
        assert!(!verify(&minted.stored, &other.code));
        assert!(!verify(&minted.stored, &minted.code[..4]));
        assert!(!verify(&minted.stored, ""));
        assert!(!verify("no colon", &minted.code));
        assert!(!verify(DECOY, &minted.code));
    }

    /// The stored form passes the change rules' check (`<salt>:<sha-256>` in lowercase hex).
    #[test]
    fn stored_form_is_well_formed() {
        let minted = mint(&random(9));
        let (salt, hash) = minted.stored.split_once(':').expect("salt:hash");
        assert_eq!(salt.len(), 32);
        assert_eq!(hash.len(), 64);
        assert!(
            minted
                .stored
                .bytes()
                .all(|b| b == b':' || b.is_ascii_hexdigit())
        );
    }

    /// Letters customers confuse with digits read as those digits.
    #[test]
    fn confusable_letters_read_as_digits() {
        assert_eq!(normalize("o1l-Ii 0"), "011110");
    }
}
