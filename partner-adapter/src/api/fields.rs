//! What each request field may hold, as types. Each type refuses on deserialisation what the
//! server refuses, and describes itself to the OpenAPI document with the same rule: one rule,
//! read twice, so the document and the server cannot disagree.
//!
//! A text is limited by the federation's limit in bytes of UTF-8, stated as JSON Schema can
//! state it (`maxLength` counts characters): at most `limit / w` characters, where `w` is the
//! number of bytes its widest character takes (1 for ASCII, 2 up to U+07FF, 3 for the rest of
//! the Basic Multilingual Plane, 4 beyond). The schema says exactly that with one branch per
//! width, so the document and the server accept the same texts, and every accepted text fits
//! the federation's limit. A violation is a 400 `bad_request` naming the field.

use std::borrow::Cow;
use std::fmt;

use hotline_federation::change::{
    MAX_COMMENT_BODY, MAX_LONG_TEXT, MAX_SHORT_TEXT, check_element_id,
};
use hotline_federation::ids::{PublicNumber, check_slug};
use hotline_federation::model::{
    ArticleState, CallOutcome, Channel, Language, SuggestionState, Visibility,
};
use hotline_federation::text::{Lines, check_chars};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, AnyOfBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema, to be described further.
pub(crate) fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Character classes by the most bytes their characters take in UTF-8, as regular expression
/// class bodies (surrogates excluded, so that an engine reading UTF-16 agrees).
const WIDTHS: [(usize, Option<&str>); 4] = [
    (1, Some(r"\u0000-\u007F")),
    (2, Some(r"\u0000-\u07FF")),
    (3, Some(r"\u0000-\uD7FF\uE000-\uFFFF")),
    (4, None),
];

/// A federation error's problem without its field path (the API names the field itself).
pub(crate) fn problem(error: hotline_federation::Error) -> String {
    use hotline_federation::Error as E;
    match error {
        E::Invalid { problem, .. } => problem,
        E::TooLarge { size, limit, .. } => {
            format!("{size} bytes is more than the limit of {limit} bytes")
        }
        E::Character {
            found, at, allowed, ..
        } => format!("{found} at byte {at} is not allowed; allowed: {allowed}"),
        E::Transition {
            from, to, allowed, ..
        } => format!(
            "status {from} -> {to} is not allowed; from {from} a ticket may go to: {allowed}"
        ),
        skew @ E::ClockSkew { .. } => skew.to_string(),
    }
}

/// What a text field may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TextRule {
    /// Most bytes of UTF-8 (the federation's limit).
    max_bytes: usize,
    /// Whether it must hold a character other than white space.
    required: bool,
    /// One line or several.
    lines: Lines,
}

/// Characters that are neither control characters nor white space (Rust's `char::is_whitespace`,
/// the Unicode White_Space property), as a regular expression class body.
const VISIBLE: &str =
    r"\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

impl TextRule {
    /// Refuses `text` unless it meets the rule; the message says what is allowed.
    fn check(self, text: &str) -> Result<(), String> {
        let chars = text.chars().count();
        let widest = text.chars().map(char::len_utf8).max().unwrap_or(1);
        let most = self.max_bytes / widest;
        if chars > most {
            return Err(format!(
                "{chars} characters is more than allowed: at most {most} characters when the \
                 widest character takes {widest} bytes of UTF-8, as here (the limit is {} \
                 bytes; ASCII text may have {} characters)",
                self.max_bytes, self.max_bytes
            ));
        }
        if self.required && text.chars().all(char::is_whitespace) {
            return Err("must hold a character other than white space".into());
        }
        check_chars("", text, self.lines).map_err(problem)
    }

    /// The ECMA-262 pattern of the text: its allowed characters, and one visible one if
    /// required.
    fn pattern(self) -> String {
        let unit = match self.lines {
            Lines::One => r"[^\u0000-\u001F\u007F-\u009F]",
            Lines::Many => r"(?:[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]|\r\n)",
        };
        if self.required {
            format!("^{unit}*[^{VISIBLE}]{unit}*$")
        } else {
            format!("^{unit}*$")
        }
    }

    fn schema(self, description: &str) -> RefOr<Schema> {
        let lines = match self.lines {
            Lines::One => "one line, no control characters",
            Lines::Many => "line breaks (LF or CRLF) and tabs allowed, no other control characters",
        };
        let required = if self.required {
            "; must hold a character other than white space"
        } else {
            ""
        };
        let characters = string()
            .description(Some(format!(
                "{description} At most {} bytes of UTF-8, stated in characters: at most {} \
                 characters of ASCII, {} when the widest character takes 2 bytes, {} when 3, {} \
                 when 4; {lines}{required}.",
                self.max_bytes,
                self.max_bytes,
                self.max_bytes / 2,
                self.max_bytes / 3,
                self.max_bytes / 4
            )))
            .min_length(self.required.then_some(1))
            .pattern(Some(self.pattern()));
        let mut widths = AnyOfBuilder::new();
        for (width, class) in WIDTHS {
            let branch = string()
                .max_length(Some(self.max_bytes / width))
                .pattern(class.map(|c| format!("^[{c}]*$")));
            widths = widths.item(branch);
        }
        AllOfBuilder::new().item(characters).item(widths).into()
    }
}

/// Declares a text type that holds only what `rule` allows.
macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $rule:expr, $description:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub(crate) struct $name(pub(crate) String);

        impl $name {
            /// The rule this text meets.
            pub(crate) const RULE: TextRule = $rule;

            /// Checks `text`; the message says what is allowed.
            pub(crate) fn parse(text: &str) -> Result<Self, String> {
                Self::RULE.check(text)?;
                Ok(Self(text.to_owned()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(D::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                Self::RULE.schema($description)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

text_type!(
    /// Optional one-line text: subject, aliases, the customer's contact data.
    OneLine,
    TextRule { max_bytes: MAX_SHORT_TEXT, required: false, lines: Lines::One },
    "Text on one line."
);
text_type!(
    /// Required one-line text: the customer's reference, a free category.
    RequiredLine,
    TextRule { max_bytes: MAX_SHORT_TEXT, required: true, lines: Lines::One },
    "Text on one line."
);
text_type!(
    /// A comment's body.
    CommentBody,
    TextRule { max_bytes: MAX_COMMENT_BODY, required: true, lines: Lines::Many },
    "A comment's text."
);

text_type!(
    /// An article's body, a proposal's body, a rationale or a reason: Markdown on many lines.
    LongText,
    TextRule { max_bytes: MAX_LONG_TEXT, required: true, lines: Lines::Many },
    "Markdown text."
);

/// Declares a string type checked by a federation function, with its pattern.
macro_rules! pattern_type {
    ($(#[$doc:meta])* $name:ident, $check:expr, $pattern:expr, $description:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub(crate) struct $name(pub(crate) String);

        impl $name {
            /// The ECMA-262 pattern of a valid value.
            pub(crate) const PATTERN: &'static str = $pattern;

            /// Checks `text`; the message says what is allowed.
            pub(crate) fn parse(text: &str) -> Result<Self, String> {
                let check: fn(&str) -> hotline_federation::Result<()> = $check;
                check(text).map_err(problem)?;
                Ok(Self(text.to_owned()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                Self::parse(&text).map_err(D::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string()
                    .description(Some($description))
                    .pattern(Some(Self::PATTERN))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pattern_type!(
    /// An id: a focus team, a site, a tenant.
    Slug,
    |text| check_slug("", text),
    "^[a-z][a-z0-9-]{0,63}$",
    "An id: 1 to 64 of a-z, 0-9 and '-', starting with a letter."
);
pattern_type!(
    /// A public ticket number.
    TicketNumber,
    |text| PublicNumber::parse("", text).map(|_| ()),
    "^[A-Z]{2,5}-2[0-9]{3}-(?:[1-9][0-9]{5}|0[1-9][0-9]{4}|00[1-9][0-9]{3}|000[1-9][0-9]{2}|0000[1-9][0-9]|00000[1-9])$",
    "A public ticket number, PREFIX-YYYY-NNNNNN: 2 to 5 letters A-Z, a year 2000 to 2999, \
     six digits not all zero, e.g. ASZ-2026-004711. A malformed number is refused with 400 \
     `bad_request` wherever it appears (path, query or body)."
);
pattern_type!(
    /// A colour, `#rrggbb`.
    Colour,
    |text| {
        let ok = text.len() == 7
            && text.starts_with('#')
            && text[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(())
        } else {
            Err(hotline_federation::Error::invalid("", "is not a colour; allowed: #rrggbb"))
        }
    },
    "^#[0-9A-Fa-f]{6}$",
    "A colour as #rrggbb, e.g. #0b5394."
);
pattern_type!(
    /// A SHA-256 in lowercase hex: a file's name in the federation.
    Sha256Hex,
    |text| {
        if hotline_federation::attachment::is_sha256_hex(text) {
            Ok(())
        } else {
            Err(hotline_federation::Error::invalid(
                "",
                "is not a SHA-256; allowed: 64 lowercase hex digits",
            ))
        }
    },
    "^[0-9a-f]{64}$",
    "A SHA-256 in lowercase hex (64 digits)."
);
pattern_type!(
    /// A file's name as readers see it.
    FileName,
    |text| hotline_federation::attachment::check_filename("", text),
    r"^[^ /\\\u0000-\u001F\u007F-\u009F](?:[^/\\\u0000-\u001F\u007F-\u009F]{0,118}[^ /\\\u0000-\u001F\u007F-\u009F])?$",
    "A file name: 1 to 120 characters of printable text on one line without / or \\, not \
     starting or ending with a space."
);
pattern_type!(
    /// The id of a call event within its call log.
    ElementId,
    |text| check_element_id("", text),
    "^[A-Za-z0-9._-]{1,64}$",
    "1 to 64 of A-Z, a-z, 0-9, '-', '_' and '.'."
);

mod kinds;
pub(crate) use kinds::*;

#[cfg(test)]
mod tests;
