//! Files attached to comments (DESIGN.md section 8b).
//!
//! A file hangs on a comment: the comment carries an [`AttachmentRef`] per file (its SHA-256,
//! size, content type and name), never the bytes. Attaching a file to a ticket writes a comment
//! that carries the file (its body may then be empty). So a file is visible exactly where its
//! comment is, is stripped, revoked, purged and erased with it, and the merge needs nothing
//! new: comments are immutable elements of the ticket.
//!
//! The bytes travel apart, content-addressed: each store keeps one copy per SHA-256 however
//! often it is attached. This module holds the rules both sides share: what a reference may
//! hold, which content types are allowed, and whether a file's first bytes match its declared
//! type.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::text::{Lines, check_chars};

/// At most this many files hang on one comment.
pub const MAX_PER_COMMENT: usize = 8;

/// No file is larger than this anywhere in the federation (the configured limits of gateway and
/// sites are at most this; 10 MiB by default).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The default size limit of one file.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

/// How long a file name may be, in characters.
pub const MAX_FILENAME: usize = 120;

/// How many of a file's first bytes [`check_content`] reads.
pub const SNIFF_BYTES: usize = 4096;

/// The content types a file may declare, each checked against the file's first bytes.
pub const ALLOWED_TYPES: &[&str] = &[
    "application/pdf",
    "application/zip",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
    "text/plain",
];

/// One file a comment carries: what identifies and describes the bytes, not the bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// SHA-256 of the bytes, 64 lowercase hex digits.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The declared content type, one of [`ALLOWED_TYPES`].
    pub content_type: String,
    /// The file's name as the writer gave it (no path).
    pub filename: String,
}

/// True when `text` is a SHA-256 in lowercase hex.
pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks one reference on its own; errors name the field.
pub fn check_ref(file: &AttachmentRef) -> Result<()> {
    if !is_sha256_hex(&file.sha256) {
        return Err(Error::invalid(
            "sha256",
            "is not a SHA-256; allowed: 64 lowercase hex digits",
        ));
    }
    if file.size == 0 || file.size > MAX_FILE_BYTES {
        return Err(Error::invalid(
            "size",
            format!(
                "{} bytes is not allowed; allowed: 1 to {MAX_FILE_BYTES} bytes",
                file.size
            ),
        ));
    }
    check_type(&file.content_type).map_err(|e| e.within("content_type"))?;
    check_filename("filename", &file.filename)
}

/// Checks a declared content type against the allow-list.
pub fn check_type(content_type: &str) -> Result<()> {
    if ALLOWED_TYPES.contains(&content_type) {
        Ok(())
    } else {
        Err(Error::invalid(
            "",
            format!(
                "{content_type:?} is not an allowed content type; allowed: {}",
                ALLOWED_TYPES.join(", ")
            ),
        ))
    }
}

/// Checks a file name: 1 to [`MAX_FILENAME`] characters on one line, without `/` or `\`, not
/// starting or ending with a space. A name only labels the file (files are stored by digest,
/// never by name), so nothing else is refused.
pub fn check_filename(field: &str, name: &str) -> Result<()> {
    check_chars(field, name, Lines::One)?;
    let chars = name.chars().count();
    let bad = chars == 0
        || chars > MAX_FILENAME
        || name.contains(['/', '\\'])
        || name.starts_with(' ')
        || name.ends_with(' ');
    if bad {
        return Err(Error::invalid(
            field,
            format!(
                "{name:?} is not a file name; allowed: 1 to {MAX_FILENAME} characters of \
                 printable text on one line, without / or \\, not starting or ending with a space"
            ),
        ));
    }
    Ok(())
}

/// Checks the first bytes of a file (up to [`SNIFF_BYTES`], all of them when the file is
/// shorter) against its declared, allowed content type. The error says what the bytes look
/// like.
pub fn check_content(content_type: &str, head: &[u8]) -> Result<()> {
    check_type(content_type).map_err(|e| e.within("content_type"))?;
    if matches(content_type, head) {
        return Ok(());
    }
    Err(Error::invalid(
        "content_type",
        format!(
            "the file's bytes are not {content_type} (they look like {}); declare the type \
             the bytes have, one of: {}",
            sniff(head),
            ALLOWED_TYPES.join(", ")
        ),
    ))
}

/// True when `head` (a file's first bytes) is of `content_type`.
fn matches(content_type: &str, head: &[u8]) -> bool {
    match content_type {
        "application/pdf" => head.starts_with(b"%PDF-"),
        "application/zip" => head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06"),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/jpeg" => head.starts_with(&[0xff, 0xd8, 0xff]),
        "image/png" => head.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP",
        "text/plain" => is_text(head),
        _ => false,
    }
}

/// The allowed type `head` looks like, or a description when none.
pub fn sniff(head: &[u8]) -> &'static str {
    ALLOWED_TYPES
        .iter()
        .copied()
        .filter(|t| *t != "text/plain")
        .find(|t| matches(t, head))
        .unwrap_or(if is_text(head) {
            "text/plain"
        } else {
            "binary data of no allowed type"
        })
}

/// Text: UTF-8 (a character cut at the end of `head` counts) without NUL bytes.
fn is_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut by the sniff window is fine; a wrong byte is not.
        Err(e) => e.error_len().is_none(),
    }
}

/// A file name for `Content-Disposition: attachment; filename*=UTF-8''<here>` (RFC 5987):
/// every byte but letters, digits and a few safe marks percent-encoded, so no name can break
/// the header.
pub fn header_name(name: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The lowercase hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// The digest a lowercase hex SHA-256 names, or `None` when it names none.
pub fn digest_of(hex: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(hex) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content_type: &str) -> AttachmentRef {
        AttachmentRef {
            sha256: "ab".repeat(32),
            size: 10,
            content_type: content_type.into(),
            filename: "screen.png".into(),
        }
    }

    #[test]
    fn declared_types_are_checked_against_the_bytes() {
        assert!(check_content("image/png", b"\x89PNG\r\n\x1a\nrest").is_ok());
        assert!(check_content("application/pdf", b"%PDF-1.7").is_ok());
        assert!(check_content("text/plain", "log line \u{e4}\n".as_bytes()).is_ok());
        let err = check_content("image/png", b"%PDF-1.7")
            .unwrap_err()
            .to_string();
        assert!(err.contains("application/pdf"), "{err}");
        let err = check_content("text/plain", b"a\0b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("binary data"), "{err}");
        let err = check_content("application/x-msdownload", b"MZ")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowed: application/pdf"), "{err}");
        // A UTF-8 character cut by the sniff window still reads as text; a wrong byte does not.
        let mut head = vec![b'a'; SNIFF_BYTES - 1];
        head.push(0xc3);
        assert!(check_content("text/plain", &head).is_ok());
        assert!(check_content("text/plain", &[b'a', 0xff, b'b']).is_err());
    }

    #[test]
    fn references_are_checked() {
        assert!(check_ref(&file("image/png")).is_ok());
        let mut bad = file("image/png");
        bad.sha256 = "AB".repeat(32);
        assert!(check_ref(&bad).unwrap_err().to_string().contains("sha256"));
        let mut bad = file("image/png");
        bad.size = 0;
        assert!(check_ref(&bad).unwrap_err().to_string().contains("size"));
        bad.size = MAX_FILE_BYTES + 1;
        assert!(check_ref(&bad).is_err());
        assert!(check_ref(&file("text/html")).is_err());
        for name in ["../etc/passwd", "a\\b", " ", " a", "a ", "a\nb", ""] {
            let mut bad = file("image/png");
            bad.filename = name.into();
            assert!(check_ref(&bad).is_err(), "{name:?} passed");
        }
    }

    #[test]
    fn file_names_are_encoded_for_the_header() {
        assert_eq!(header_name("log file.txt"), "log%20file.txt");
        assert_eq!(
            header_name("\u{dc}bersicht;\".pdf"),
            "%C3%9Cbersicht%3B%22.pdf"
        );
    }

    #[test]
    fn hex_round_trips() {
        let digest = [7u8; 32];
        assert_eq!(digest_of(&hex(&digest)), Some(digest));
        assert_eq!(digest_of("xy"), None);
    }
}
