//! The one error type of the federation crate. Every variant says what was wrong, where (a field
//! path such as `change.ops[2].set.ticket.status`) and what is allowed.
//!
//! Client text in a message goes through [`quote`], so a hostile 4 MiB id comes back as a short
//! message a default client can still read, never as a 4 MiB echo.

use std::fmt::Write as _;

/// Most characters of client text [`quote`] repeats (after escaping).
pub const QUOTE_CHARS: usize = 64;

/// Client text as an error message shows it: in double quotes with control and other unusual
/// characters escaped (`\0`, `\u{85}`), at most [`QUOTE_CHARS`] escaped characters of it, and
/// when cut, `…` and the text's whole length in bytes. The result is at most 64 characters of
/// up to 4 bytes plus about 30 bytes, whatever the input.
pub fn quote(text: &str) -> String {
    let mut shown = String::with_capacity(QUOTE_CHARS + 2);
    let mut used = 0;
    let mut cut = false;
    for c in text.chars() {
        let escaped = c.escape_debug();
        let width = escaped.len();
        if used + width > QUOTE_CHARS {
            cut = true;
            break;
        }
        used += width;
        shown.extend(escaped);
    }
    let mut out = format!("\"{shown}\"");
    if cut {
        // Writing into a String cannot fail.
        let _ = write!(out, "… ({} bytes)", text.len());
    }
    out
}

/// Why a change, a wire message or a clock reading was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field is missing, malformed or not allowed here.
    #[error("{field}: {problem}")]
    Invalid {
        /// Path of the offending field, e.g. `change.key.id`.
        field: String,
        /// What was wrong and what is allowed.
        problem: String,
    },
    /// A field is larger than its limit.
    #[error("{field}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// Path of the offending field.
        field: String,
        /// Its size in bytes (or entries, for lists).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Text holds a character its field does not allow (a control character).
    #[error("{field}: {found} at byte {at} is not allowed; allowed: {allowed}")]
    Character {
        /// Path of the offending field.
        field: String,
        /// The character, e.g. `U+0000 (a control character)`.
        found: String,
        /// Its byte offset in the text.
        at: usize,
        /// What the field allows.
        allowed: String,
    },
    /// A status change the ticket state machine does not allow.
    #[error(
        "{field}: status {from} -> {to} is not allowed; from {from} a ticket may go to: {allowed}"
    )]
    Transition {
        /// Path of the offending field.
        field: String,
        /// The status the writer saw (`none` while creating).
        from: String,
        /// The status it asked for.
        to: String,
        /// The statuses allowed from `from`, comma separated.
        allowed: String,
    },
    /// A remote clock reading further ahead than the allowed skew.
    #[error(
        "clock of site {site} is {ahead_ms} ms ahead of ours; at most {max_skew_ms} ms are allowed \
         (fix the site's clock, then replay its parked changes)"
    )]
    ClockSkew {
        /// The site whose clock is ahead.
        site: String,
        /// How far ahead it is, in milliseconds.
        ahead_ms: u64,
        /// The allowed skew, in milliseconds.
        max_skew_ms: u64,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The path of the field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. }
            | Error::TooLarge { field, .. }
            | Error::Character { field, .. }
            | Error::Transition { field, .. } => Some(field),
            Error::ClockSkew { .. } => None,
        }
    }

    /// The same error with `prefix.` put in front of its field path.
    pub fn within(self, prefix: &str) -> Self {
        let join = |field: String| format!("{prefix}.{field}");
        match self {
            Error::Invalid { field, problem } => Error::Invalid {
                field: join(field),
                problem,
            },
            Error::TooLarge { field, size, limit } => Error::TooLarge {
                field: join(field),
                size,
                limit,
            },
            Error::Character {
                field,
                found,
                at,
                allowed,
            } => Error::Character {
                field: join(field),
                found,
                at,
                allowed,
            },
            Error::Transition {
                field,
                from,
                to,
                allowed,
            } => Error::Transition {
                field: join(field),
                from,
                to,
                allowed,
            },
            skew @ Error::ClockSkew { .. } => skew,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Short text is shown whole and escaped, so a NUL in an id is visible in the message.
    #[test]
    fn quote_shows_short_text_whole_and_escaped() {
        assert_eq!(quote("munich"), "\"munich\"");
        assert_eq!(quote("a\0b"), "\"a\\0b\"");
        assert_eq!(quote("\u{85}"), "\"\\u{85}\"");
    }

    /// A 1 MiB input gives a short quote that says how long the text was.
    #[test]
    fn quote_cuts_long_text_and_says_its_length() {
        let quoted = quote(&"x".repeat(1024 * 1024));
        assert!(quoted.len() < 100, "{quoted}");
        assert!(quoted.ends_with("… (1048576 bytes)"), "{quoted}");
        // Escaped characters count with their escaped width, so the bound holds for any input.
        let quoted = quote(&"\0".repeat(1024 * 1024));
        assert!(quoted.len() < 100, "{quoted}");
    }

    /// Text exactly at the bound is not cut; one character more is.
    #[test]
    fn quote_cuts_only_beyond_the_bound() {
        assert!(!quote(&"y".repeat(QUOTE_CHARS)).contains('…'));
        assert!(quote(&"y".repeat(QUOTE_CHARS + 1)).contains('…'));
    }
}
