//! Agent alias patterns: the small pattern language of [`super::LeakGuard`].
//!
//! A pattern is read like a term, through the plain skeleton, with two wildcards:
//!
//! | in the pattern            | matches                                         |
//! |---------------------------|-------------------------------------------------|
//! | a letter or digit         | itself, in any case                             |
//! | `#`                       | exactly one digit                               |
//! | `*`                       | 1 to [`STAR_MAX`] letters or digits              |
//! | `-`, `_`, `.`, space      | nothing (separators, as in the text)            |
//!
//! So `t4h-###` matches "T4H-017", "t4h 017" and "T 4 H 0 1 7"; `agent-*-##` matches
//! "Agent Kim 07". A pattern needs at least [`MIN_LITERALS`] letters or digits and at least
//! [`MIN_FIXED`] letters, digits and `#` together; it may not start or end with `*` (matches are
//! found anywhere anyway), nor hold two `*` in a row or more than [`MAX_STARS`] of them (which
//! keeps matching cheap). Any other character is refused.

use super::skeleton::Skeleton;
use crate::error::{Error, Result, quote};

/// Most letters or digits one `*` stands for.
pub const STAR_MAX: usize = 8;
/// Fewest letters or digits a pattern holds.
pub const MIN_LITERALS: usize = 2;
/// Fewest fixed characters (letters, digits, `#`) a pattern holds.
pub const MIN_FIXED: usize = 3;
/// Most `*` in one pattern.
pub const MAX_STARS: usize = 2;

/// What a pattern may hold, for error messages.
pub(super) const ALLOWED: &str = "letters and digits (matched in any case), `#` for one digit, \
    `*` for 1 to 8 letters or digits (not first, not last, not twice in a row, at most 2), and \
    the separators `-`, `_`, `.` and space (ignored); at least 2 letters or digits and at least \
    3 letters, digits and `#` in all";

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Element {
    Literal(u8),
    Digit,
    Star,
}

/// A compiled alias pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AliasPattern {
    /// As configured.
    pub(super) configured: String,
    elements: Vec<Element>,
    /// Whether a match must begin a word (patterns with few letters and digits).
    whole_word_start: bool,
}

impl AliasPattern {
    /// Compiles a pattern; `field` names it in the error.
    pub(super) fn parse(field: &str, pattern: &str) -> Result<AliasPattern> {
        let bad = |problem: String| {
            Error::invalid(
                field,
                format!(
                    "alias pattern {}: {problem}; allowed: {ALLOWED}",
                    quote(pattern)
                ),
            )
        };
        let mut elements = Vec::new();
        for (at, c) in pattern.char_indices() {
            let element = match c {
                '#' => Element::Digit,
                '*' => Element::Star,
                '-' | '_' | '.' | ' ' => continue,
                c if c.is_ascii_alphanumeric() => Element::Literal(c.to_ascii_lowercase() as u8),
                other => {
                    return Err(bad(format!(
                        "{} at byte {at} is not allowed",
                        quote(&other.to_string())
                    )));
                }
            };
            if element == Element::Star && elements.last() == Some(&Element::Star) {
                return Err(bad(format!("two `*` in a row at byte {at}")));
            }
            elements.push(element);
        }
        let literals = elements
            .iter()
            .filter(|e| matches!(e, Element::Literal(_)))
            .count();
        let stars = elements.iter().filter(|e| **e == Element::Star).count();
        let fixed = elements.len() - stars;
        if elements.first() == Some(&Element::Star) || elements.last() == Some(&Element::Star) {
            return Err(bad("it starts or ends with `*`".to_owned()));
        }
        if stars > MAX_STARS {
            return Err(bad(format!("it holds {stars} `*`")));
        }
        if literals < MIN_LITERALS || fixed < MIN_FIXED {
            return Err(bad(format!(
                "it holds {literals} letters or digits and {fixed} fixed characters, so it \
                 would match in ordinary text"
            )));
        }
        Ok(AliasPattern {
            configured: pattern.to_owned(),
            elements,
            whole_word_start: literals < super::LONG_TERM,
        })
    }

    /// True when the pattern matches somewhere in `text`.
    pub(super) fn is_in(&self, text: &Skeleton) -> bool {
        (0..text.len()).any(|start| {
            (!self.whole_word_start || text.starts_word(start))
                && matches_at(&self.elements, &text.bytes, start)
        })
    }
}

/// True when `elements` match `text` from byte `at` on (the rest of `text` may follow).
fn matches_at(elements: &[Element], text: &[u8], at: usize) -> bool {
    let Some((first, rest)) = elements.split_first() else {
        return true;
    };
    match first {
        Element::Literal(b) => text.get(at) == Some(b) && matches_at(rest, text, at + 1),
        Element::Digit => {
            text.get(at).is_some_and(u8::is_ascii_digit) && matches_at(rest, text, at + 1)
        }
        Element::Star => (1..=STAR_MAX)
            .take_while(|n| at + n <= text.len())
            .any(|n| matches_at(rest, text, at + n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> AliasPattern {
        AliasPattern::parse("p", text).expect(text)
    }

    fn matches(pattern_text: &str, text: &str) -> bool {
        pattern(pattern_text).is_in(&Skeleton::plain(text))
    }

    /// An alias matches however it is spaced or cased, so "T4H 017" is caught by `t4h-###`.
    #[test]
    fn alias_matches_through_spacing_and_case() {
        for text in [
            "t4h-017",
            "T4H 017",
            "Ihr Berater T 4 H_0.1.7 meldet sich",
            "t4h017",
        ] {
            assert!(matches("t4h-###", text), "{text}");
        }
        assert!(matches("agent-*-##", "Agent Kim 07"));
        assert!(matches("agent-*-##", "agent-maxi-12"));
    }

    /// Digits stay digits: `#` never matches a letter, too few digits do not match, and a short
    /// pattern must begin a word ("at 4 h 2026" is not the alias t4h-202).
    #[test]
    fn alias_does_not_match_near_misses() {
        assert!(!matches("t4h-###", "t4h-01"));
        assert!(!matches("t4h-###", "t4h-abc"));
        assert!(!matches("t4h-###", "Rückruf at 4 h 2026"));
        assert!(!matches("agent-*-##", "agent-12"));
        assert!(!matches("agent-*-##", "agent-averyveryverylongname-12"));
    }

    /// Malformed patterns are refused with a message that says what is allowed.
    #[test]
    fn malformed_patterns_are_refused() {
        for bad in [
            "t4h/###", "*t4h", "t4h*", "t4h**1", "##", "a###", "a*b*c*d", "t4ü-#",
        ] {
            let err = AliasPattern::parse("leak_guard.alias_patterns[0]", bad)
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("leak_guard.alias_patterns[0]"), "{err}");
            assert!(err.contains("`#` for one digit"), "{err}");
        }
    }
}
