//! Rendering customer-visible text from the central brand (DESIGN.md section 6): greetings per
//! channel and language, and templates with `{name}` placeholders. Rendering never leaves a
//! blank: a placeholder outside [`PLACEHOLDERS`] or without a value is an error, so a template
//! mistake is found when the brand is published ([`check_template`]) or when the text is
//! rendered, never by the customer. What is rendered still passes the [`crate::leak`] guard.
//!
//! Template syntax: `{name}` is a placeholder (`name`: lowercase letters, digits, `_`); `{{` and
//! `}}` are literal braces; any other brace is a syntax error naming its byte offset.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::quote;
use crate::leak::LeakGuard;
use crate::model::{Channel, Language};

/// The placeholders every template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "public_number",
    "status",
    "subject",
    "customer_name",
    "hotline_number",
    "display_name",
    "signature",
    "access_code",
    "status_url",
    "agent_alias",
];

/// The central brand: how the hotline greets, signs and writes to customers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Brand {
    /// Version number.
    pub version: u32,
    /// The hotline's name as customers know it.
    pub display_name: String,
    /// The one number customers call.
    pub hotline_number: String,
    /// Greetings by channel and language.
    pub greetings: BTreeMap<(Channel, Language), String>,
    /// Templates by name and language.
    pub templates: BTreeMap<(String, Language), String>,
    /// How every message to a customer is signed (blank: the display name).
    pub signature: String,
    /// Terms no customer-visible text may contain, besides tenant and site names.
    pub forbidden_terms: Vec<String>,
    /// Agent alias patterns (see [`crate::leak`]).
    pub alias_patterns: Vec<String>,
    /// Accent colour of the status page, e.g. `#0a5fb4`.
    pub accent_color: String,
}

/// Why a greeting or template could not be rendered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BrandError {
    /// No greeting for this channel and language.
    #[error(
        "the brand has no greeting for channel {channel} in language {language}; it has: \
         {available}"
    )]
    MissingGreeting {
        /// The channel asked for.
        channel: Channel,
        /// The language asked for.
        language: Language,
        /// The channel/language pairs that have one, comma separated.
        available: String,
    },
    /// No template of this name in any language.
    #[error("the brand has no template {name}; known templates: {known}")]
    UnknownTemplate {
        /// The name asked for (quoted).
        name: String,
        /// The template names that exist, comma separated.
        known: String,
    },
    /// The template exists, but not in this language.
    #[error("template {name} has no {language} text; it exists in: {available}")]
    MissingLanguage {
        /// The template (quoted).
        name: String,
        /// The language asked for.
        language: Language,
        /// The languages it exists in, comma separated.
        available: String,
    },
    /// A placeholder outside [`PLACEHOLDERS`].
    #[error("placeholder {{{placeholder}}} at byte {at} is not known; allowed: {allowed}")]
    UnknownPlaceholder {
        /// Its name.
        placeholder: String,
        /// Its byte offset in the template.
        at: usize,
        /// The allowed placeholders, comma separated.
        allowed: String,
    },
    /// A placeholder with no value (or a blank one) given.
    #[error(
        "placeholder {{{placeholder}}} of template {name} has no value; a customer never sees a \
         blank, so give one"
    )]
    MissingValue {
        /// The template (quoted).
        name: String,
        /// The placeholder.
        placeholder: String,
    },
    /// Unbalanced or malformed braces.
    #[error(
        "template syntax at byte {at}: {problem}; allowed: {{name}} with lowercase letters, \
             digits and _, and {{{{ or }}}} for a literal brace"
    )]
    Syntax {
        /// Byte offset of the offending brace.
        at: usize,
        /// What was wrong.
        problem: String,
    },
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// Literal text (braces already unescaped).
    Text(String),
    /// A placeholder and the byte offset of its `{`.
    Placeholder(&'a str, usize),
}

/// Splits a template into literal text and placeholders.
fn parse(text: &str) -> Result<Vec<Piece<'_>>, BrandError> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                literal.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                literal.push('}');
                i += 2;
            }
            b'}' => {
                return Err(BrandError::Syntax {
                    at: i,
                    problem: "`}` closes no placeholder".to_owned(),
                });
            }
            b'{' => {
                let Some(len) = text[i + 1..].find(['}', '{']) else {
                    return Err(BrandError::Syntax {
                        at: i,
                        problem: "`{` is never closed".to_owned(),
                    });
                };
                let name = &text[i + 1..i + 1 + len];
                let well_formed = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if bytes[i + 1 + len] == b'{' || !well_formed {
                    return Err(BrandError::Syntax {
                        at: i,
                        problem: format!("{} is not a placeholder name", quote(name)),
                    });
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Placeholder(name, i));
                i += len + 2;
            }
            _ => {
                // Copy the whole character (braces are ASCII, so `i` is on a boundary).
                let c = text[i..].chars().next().unwrap_or_default();
                literal.push(c);
                i += c.len_utf8();
            }
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

fn unknown_placeholder(name: &str, at: usize) -> Option<BrandError> {
    (!PLACEHOLDERS.contains(&name)).then(|| BrandError::UnknownPlaceholder {
        placeholder: name.to_owned(),
        at,
        allowed: PLACEHOLDERS.join(", "),
    })
}

/// Checks a template when the brand is published: well-formed braces, known placeholders only.
pub fn check_template(text: &str) -> Result<(), BrandError> {
    for piece in parse(text)? {
        if let Piece::Placeholder(name, at) = piece {
            if let Some(err) = unknown_placeholder(name, at) {
                return Err(err);
            }
        }
    }
    Ok(())
}

impl Brand {
    /// The greeting for a channel in a language; a missing one is an error listing those that
    /// exist.
    pub fn greeting(&self, channel: Channel, language: Language) -> Result<String, BrandError> {
        self.greetings
            .get(&(channel, language))
            .cloned()
            .ok_or_else(|| BrandError::MissingGreeting {
                channel,
                language,
                available: list(self.greetings.keys().map(|(c, l)| format!("{c}/{l}"))),
            })
    }

    /// Renders template `template` in `language`. `hotline_number`, `display_name` and
    /// `signature` come from the brand; every other placeholder needs a non-blank value in
    /// `values`. Values are inserted as given (never parsed as template text).
    pub fn render(
        &self,
        template: &str,
        language: Language,
        values: &BTreeMap<String, String>,
    ) -> Result<String, BrandError> {
        let text = self.template(template, language)?;
        let mut out = String::with_capacity(text.len());
        for piece in parse(text)? {
            match piece {
                Piece::Text(literal) => out.push_str(&literal),
                Piece::Placeholder(name, at) => {
                    if let Some(err) = unknown_placeholder(name, at) {
                        return Err(err);
                    }
                    let value = match name {
                        "hotline_number" => Some(self.hotline_number.as_str()),
                        "display_name" => Some(self.display_name.as_str()),
                        "signature" => Some(self.signer()),
                        _ => values.get(name).map(String::as_str),
                    };
                    match value {
                        Some(value) if !value.trim().is_empty() => out.push_str(value),
                        _ => {
                            return Err(BrandError::MissingValue {
                                name: quote(template),
                                placeholder: name.to_owned(),
                            });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The placeholders of `text`, each once, in order of first appearance.
    pub fn placeholders(text: &str) -> Result<Vec<String>, BrandError> {
        let mut seen = BTreeSet::new();
        Ok(parse(text)?
            .into_iter()
            .filter_map(|piece| match piece {
                Piece::Placeholder(name, _) if seen.insert(name) => Some(name.to_owned()),
                _ => None,
            })
            .collect())
    }

    /// Who signs messages to customers: the signature, or the display name when it is blank.
    pub fn signer(&self) -> &str {
        if self.signature.trim().is_empty() {
            &self.display_name
        } else {
            &self.signature
        }
    }

    /// The leak guard for this brand: `names` (every tenant's and site's id and display name)
    /// plus the brand's forbidden terms, and its alias patterns.
    pub fn leak_guard(&self, names: impl IntoIterator<Item = String>) -> crate::Result<LeakGuard> {
        LeakGuard::new(
            names
                .into_iter()
                .chain(self.forbidden_terms.iter().cloned()),
            self.alias_patterns.iter().cloned(),
        )
    }

    fn template(&self, name: &str, language: Language) -> Result<&str, BrandError> {
        if let Some(text) = self.templates.get(&(name.to_owned(), language)) {
            return Ok(text);
        }
        let languages: Vec<Language> = self
            .templates
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| *l)
            .collect();
        if languages.is_empty() {
            let names: BTreeSet<&str> = self.templates.keys().map(|(n, _)| n.as_str()).collect();
            return Err(BrandError::UnknownTemplate {
                name: quote(name),
                known: list(names),
            });
        }
        Err(BrandError::MissingLanguage {
            name: quote(name),
            language,
            available: list(languages),
        })
    }
}

/// Items comma separated, or `none`.
fn list<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

mod state;

pub use state::BRAND_ID;
#[cfg(test)]
mod tests;
