//! What text fields may hold: a size limit, and no control characters.
//!
//! Text never carries control characters (C0 U+0000 to U+001F, DEL U+007F, C1 U+0080 to
//! U+009F): a NUL or an escape sequence would otherwise be stored and copied to every site, its
//! tools and its customers. Multi-line text (comment and article bodies, greetings, templates,
//! the signature, a suggestion's body and rationale) may hold line breaks (LF or CRLF) and tabs;
//! a lone CR may not, since it overwrites a line on a terminal.

use crate::error::{Error, Result};

/// Whether a text field may span lines (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lines {
    /// One line: no control characters at all.
    One,
    /// Several lines: line breaks (LF or CRLF) and tabs, no other control characters.
    Many,
}

impl Lines {
    /// What text of this kind may hold, for error messages.
    fn allowed(self) -> &'static str {
        match self {
            Lines::One => {
                "printable text on one line; no control characters (U+0000 to U+001F, U+007F to \
                 U+009F)"
            }
            Lines::Many => {
                "printable text, line breaks (LF or CRLF) and tabs; no other control characters \
                 (U+0000 to U+001F, U+007F to U+009F)"
            }
        }
    }
}

/// Checks a text's size (`limit` is in bytes) and its characters (see [`check_chars`]).
pub fn check_text(field: &str, text: &str, limit: usize, lines: Lines) -> Result<()> {
    if text.len() > limit {
        return Err(Error::TooLarge {
            field: field.to_owned(),
            size: text.len(),
            limit,
        });
    }
    check_chars(field, text, lines)
}

/// Refuses control characters (C0, DEL, C1); multi-line text may hold LF, CRLF and tabs.
pub fn check_chars(field: &str, text: &str, lines: Lines) -> Result<()> {
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        // `is_control` is exactly the Cc category: U+0000 to U+001F and U+007F to U+009F.
        if !c.is_control() {
            continue;
        }
        let line_break_or_tab = match c {
            '\n' | '\t' => true,
            '\r' => chars.peek().map(|&(_, next)| next) == Some('\n'),
            _ => false,
        };
        if lines == Lines::Many && line_break_or_tab {
            continue;
        }
        return Err(Error::Character {
            field: field.to_owned(),
            found: format!("U+{:04X} (a control character)", u32::from(c)),
            at,
            allowed: lines.allowed().to_owned(),
        });
    }
    Ok(())
}

/// Like [`check_text`], and the text must hold more than white space.
pub(crate) fn check_required(field: &str, text: &str, limit: usize, lines: Lines) -> Result<()> {
    if text.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    check_text(field, text, limit, lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{MAX_LONG_TEXT, MAX_SHORT_TEXT};

    /// Every C0 control, DEL and every C1 control is refused in one-line text; printable text,
    /// including umlauts and U+00A0, passes.
    #[test]
    fn one_line_text_refuses_every_control_character() {
        let controls = (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32);
        for c in controls {
            let text = format!("a{c}b");
            let err = check_text("subject", &text, MAX_SHORT_TEXT, Lines::One)
                .expect_err("a control character must be refused");
            assert!(
                matches!(err, Error::Character { at: 1, .. }),
                "{c:?}: {err}"
            );
        }
        for fine in ["Drucker im 3. OG", "Grüße\u{a0}aus Köln", "€ 5", ""] {
            check_text("subject", fine, MAX_SHORT_TEXT, Lines::One).expect(fine);
        }
    }

    /// Multi-line text keeps line breaks (LF, CRLF) and tabs but refuses a lone CR, an escape
    /// and a C1 control.
    #[test]
    fn multi_line_text_allows_line_breaks_and_tabs_only() {
        for fine in ["line 1\nline 2", "line 1\r\nline 2\r\n", "a\tb"] {
            check_text("body", fine, MAX_LONG_TEXT, Lines::Many).expect(fine);
        }
        for bad in [
            "over\rwrite",
            "\u{1b}[31mred",
            "next\u{85}line",
            "trailing\r",
        ] {
            let err =
                check_text("body", bad, MAX_LONG_TEXT, Lines::Many).expect_err("must be refused");
            assert!(
                err.to_string().contains("line breaks (LF or CRLF)"),
                "{err}"
            );
        }
        let err = check_text("subject", "a\nb", MAX_SHORT_TEXT, Lines::One).unwrap_err();
        assert!(matches!(err, Error::Character { .. }), "{err}");
    }
}
