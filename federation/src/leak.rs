//! The leak guard (DESIGN.md section 6): the one check the partner adapter's API and the gateway
//! apply to every customer-visible text, so that no tenant name, site name or agent alias ever
//! reaches a customer. A leak is refused with an error that tells the agent what to remove.
//!
//! # How a text is matched
//!
//! Text and terms are both reduced to skeletons (module `skeleton`): lowercase ASCII letters and digits
//! only, in five readings (plain, number words as digits, look-alike digits as letters, umlauts
//! as bare vowels, number words through look-alikes). A term leaks when any reading of the term
//! occurs inside the same reading of the text. The text is read as written, as HTML would
//! render it (character references decoded, tags removed: module `markup`), and backwards
//! when it holds a bidirectional control that can reverse its display. So with the
//! term `twenty4help`, "Twenty 4 Help", "twenty-4-help", "TWENTY FOUR HELP", "twentyfour help"
//! and "Tw3nty4H3lp" all leak; with `goerlitz`, "Görlitz" and "Gorlitz" leak. Agent aliases are
//! matched by alias patterns (`t4h-###`, language below) on the plain and number readings.
//!
//! # Alias patterns
//!
//! Letters and digits match themselves in any case; `#` matches exactly one digit; `*` matches
//! 1 to [`STAR_MAX`] letters or digits; `-`, `_`, `.` and space are ignored, like spacing in the
//! text. So `t4h-###` matches "T4H-017", "t4h 017", "T 4 H 0 1 7" and "t four h zero one
//! seven". A pattern holds at least [`MIN_LITERALS`] letters or digits and [`MIN_FIXED`]
//! letters, digits and `#` in all, at most [`MAX_STARS`] `*`, never two in a row, and does not
//! start or end with `*`; anything else is refused by [`LeakGuard::new`] with this list. A
//! pattern with fewer than [`LONG_TERM`] letters and digits must match from the start of a word.
//!
//! # False positives, and what we chose
//!
//! Ignoring spacing means a term is also found across word boundaries: "we can help by
//! company policy" holds `helpbycom`. For names of six or more letters that is rare in German
//! or English prose, and a refused comment costs an agent one rephrasing while a leak costs the
//! customer's trust, so we accept it. In detail:
//! - a term of at least [`LONG_TERM`] skeleton characters leaks wherever its skeleton appears,
//!   even inside a longer word ("erfurter" leaks `erfurt`);
//! - a shorter term (3 to 5 characters, e.g. a tenant id `t4h`) leaks only as whole words of the
//!   text: its match must begin where a word begins and end where a word ends ("T 4 H" and
//!   "T4H-017" leak `t4h`; "at 4 hours" does not). Gluing such a term to other letters escapes
//!   the guard; configure an alias pattern or a longer term for that;
//! - a term under [`MIN_TERM`] skeleton characters is refused by [`LeakGuard::new`]: it would
//!   match in most sentences;
//! - a reading of a term that falls under [`MIN_TERM`] characters (`twentyone` reads `21`) is not
//!   used, so a room number cannot leak a tenant;
//! - number words are read in both languages except German `ein` (the article), and only the
//!   spellings listed there; a translated place name ("München" for `munich`) is a different
//!   word: configure it as a forbidden term of the brand;
//! - `ae`/`oe`/`ue` in a term also match a bare vowel in the text (`goerlitz` finds "Gorlitz"), so
//!   a term with such a pair matches slightly more;
//! - alias patterns are not read through look-alikes (`#` means a digit, and look-alike reading
//!   turns digits into letters): "t4h-O17" with a letter O does not match `t4h-###`.

mod markup;
mod pattern;
mod skeleton;

use std::fmt;

use crate::error::{Error, Result, quote};
use pattern::AliasPattern;
use skeleton::Skeleton;

pub use pattern::{MAX_STARS, MIN_FIXED, MIN_LITERALS, STAR_MAX};

/// Fewest skeleton characters a term has (shorter ones are refused).
pub const MIN_TERM: usize = 3;
/// Skeleton characters from which a term also matches inside longer words.
pub const LONG_TERM: usize = 6;

/// Which reading of a text a skeleton is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    Plain,
    Numbers,
    Leet,
    /// Umlauts as bare vowels ("Dörtmund" reads `dortmund`).
    Bare,
    /// Number words found through look-alikes, all in look-alike classes ("Tw3nty f0ur").
    LeetNumbers,
}

/// One text in its readings.
struct Readings {
    plain: Skeleton,
    numbers: Skeleton,
    leet: Skeleton,
    bare: Skeleton,
    leet_numbers: Skeleton,
}

impl Readings {
    fn of(text: &str) -> Readings {
        let plain = Skeleton::plain(text);
        Readings {
            numbers: Skeleton::numbers(&plain),
            leet: Skeleton::leet(text),
            bare: Skeleton::bare(text),
            leet_numbers: Skeleton::leet_numbers(&plain),
            plain,
        }
    }

    fn get(&self, reading: Reading) -> &Skeleton {
        match reading {
            Reading::Plain => &self.plain,
            Reading::Numbers => &self.numbers,
            Reading::Leet => &self.leet,
            Reading::Bare => &self.bare,
            Reading::LeetNumbers => &self.leet_numbers,
        }
    }
}

/// The texts a customer may read out of `text`: the text itself; with HTML character
/// references decoded and tags removed (`Twenty&#52;Help`, `Twenty<b></b>4Help`), since a
/// mail or a page may render it as HTML; and, when it holds a bidirectional control that can
/// reverse its display (`\u{202e}pleH4ytnewT`), read backwards.
fn renderings(text: &str) -> Vec<String> {
    let mut out = vec![text.to_owned()];
    if text.contains(['&', '<']) {
        out.push(markup::decoded(text));
    }
    let reverses = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if text.contains(reverses) {
        let backwards: Vec<String> = out.iter().map(|t| t.chars().rev().collect()).collect();
        out.extend(backwards);
    }
    out
}

/// A configured term, compiled.
#[derive(Clone, Debug)]
struct Term {
    configured: String,
    /// Each reading of the term that is long enough to use, with the reading of the text it is
    /// looked for in.
    readings: Vec<(Reading, Vec<u8>)>,
    /// Whether matches must be whole words of the text (short terms).
    whole_words: bool,
}

impl Term {
    fn parse(field: &str, term: &str) -> Result<Term> {
        let text = Readings::of(term);
        let plain = text.plain.bytes.clone();
        if plain.len() < MIN_TERM {
            return Err(Error::invalid(
                field,
                format!(
                    "term {} leaves {} letters or digits ({}) once case, spacing and punctuation \
                     are ignored; a term needs at least {MIN_TERM}, because a shorter one would \
                     match in ordinary sentences",
                    quote(term),
                    plain.len(),
                    quote(&String::from_utf8_lossy(&plain)),
                ),
            ));
        }
        let mut readings = vec![(Reading::Plain, plain.clone())];
        let bare = bare_vowels(&plain);
        let candidates = [
            (Reading::Plain, bare),
            (Reading::Numbers, text.numbers.bytes),
            (Reading::Leet, text.leet.bytes),
            (Reading::Bare, plain.clone()),
            (Reading::LeetNumbers, text.leet_numbers.bytes),
        ];
        for candidate in candidates {
            if candidate.1.len() >= MIN_TERM && !readings.contains(&candidate) {
                readings.push(candidate);
            }
        }
        Ok(Term {
            configured: term.to_owned(),
            readings,
            whole_words: plain.len() < LONG_TERM,
        })
    }

    fn is_in(&self, text: &Readings) -> bool {
        self.readings
            .iter()
            .any(|(reading, term)| occurs(text.get(*reading), term, self.whole_words))
    }
}

/// `ae`, `oe` and `ue` of a term's skeleton as a bare `a`, `o`, `u` (umlauts written without
/// their dots).
fn bare_vowels(skeleton: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(skeleton.len());
    for (i, &b) in skeleton.iter().enumerate() {
        let after_vowel = i > 0 && matches!(skeleton[i - 1], b'a' | b'o' | b'u');
        if b == b'e' && after_vowel {
            continue;
        }
        out.push(b);
    }
    out
}

/// True when `term` occurs in `text` (as whole words of the original text, when asked).
fn occurs(text: &Skeleton, term: &[u8], whole_words: bool) -> bool {
    if term.is_empty() || term.len() > text.len() {
        return false;
    }
    text.bytes
        .windows(term.len())
        .enumerate()
        .any(|(start, window)| {
            window == term
                && (!whole_words
                    || (text.starts_word(start) && text.ends_word(start + term.len() - 1)))
        })
}

/// Refuses customer-visible text that names a tenant, a site or an agent (see the module docs).
#[derive(Clone, Debug)]
pub struct LeakGuard {
    terms: Vec<Term>,
    patterns: Vec<AliasPattern>,
}

impl LeakGuard {
    /// `terms`: every tenant's and site's id and display name plus the brand's forbidden terms;
    /// `alias_patterns`: agent alias patterns (language in the module docs). A term with
    /// fewer than [`MIN_TERM`] letters or digits and a malformed pattern are errors naming
    /// `leak_guard.terms[i]` or `leak_guard.alias_patterns[i]`. Terms that read the same
    /// ("Görlitz", "goerlitz") are kept once, as first given.
    pub fn new(
        terms: impl IntoIterator<Item = String>,
        alias_patterns: impl IntoIterator<Item = String>,
    ) -> Result<LeakGuard> {
        let mut compiled: Vec<Term> = Vec::new();
        for (i, term) in terms.into_iter().enumerate() {
            let term = Term::parse(&format!("leak_guard.terms[{i}]"), &term)?;
            if !compiled.iter().any(|t| t.readings[0] == term.readings[0]) {
                compiled.push(term);
            }
        }
        let patterns = alias_patterns
            .into_iter()
            .enumerate()
            .map(|(i, p)| AliasPattern::parse(&format!("leak_guard.alias_patterns[{i}]"), &p))
            .collect::<Result<Vec<_>>>()?;
        Ok(LeakGuard {
            terms: compiled,
            patterns,
        })
    }

    /// Like [`LeakGuard::new`], but a term or pattern that cannot be used (too short,
    /// malformed) is left out and reported instead of failing the whole guard, so one bad name
    /// never leaves every other name unguarded. The services build their guards this way from
    /// names they did not choose (registered tenants and sites); publishing a brand uses
    /// [`LeakGuard::new`], so its own terms are refused at once.
    pub fn usable(
        terms: impl IntoIterator<Item = String>,
        alias_patterns: impl IntoIterator<Item = String>,
    ) -> (LeakGuard, Vec<Error>) {
        let mut problems = Vec::new();
        let terms: Vec<String> = terms
            .into_iter()
            .filter(|term| !term.trim().is_empty())
            .filter(|term| match Term::parse("leak_guard.terms", term) {
                Ok(_) => true,
                Err(e) => {
                    problems.push(e);
                    false
                }
            })
            .collect();
        let patterns: Vec<String> = alias_patterns
            .into_iter()
            .filter(
                |p| match AliasPattern::parse("leak_guard.alias_patterns", p) {
                    Ok(_) => true,
                    Err(e) => {
                        problems.push(e);
                        false
                    }
                },
            )
            .collect();
        match LeakGuard::new(terms, patterns) {
            Ok(guard) => (guard, problems),
            // Each entry passed on its own, so this cannot happen; an empty guard with the
            // reason is still the safe answer (the caller logs the problems).
            Err(e) => {
                problems.push(e);
                (
                    LeakGuard {
                        terms: Vec::new(),
                        patterns: Vec::new(),
                    },
                    problems,
                )
            }
        }
    }

    /// Ok, or the first leak found: the first configured term (in the order given), then the
    /// first pattern, that `text` names; `field` says where the text is going (e.g.
    /// `comment.body`).
    pub fn check(&self, field: &str, text: &str) -> Result<(), Leak> {
        renderings(text)
            .iter()
            .try_for_each(|text| self.check_one(field, text))
    }

    fn check_one(&self, field: &str, text: &str) -> Result<(), Leak> {
        let readings = Readings::of(text);
        let leak = |term: &str| Leak {
            field: field.to_owned(),
            term: term.to_owned(),
        };
        if let Some(term) = self.terms.iter().find(|t| t.is_in(&readings)) {
            return Err(leak(&term.configured));
        }
        let by_pattern = self.patterns.iter().find(|p| {
            p.is_in(readings.get(Reading::Plain)) || p.is_in(readings.get(Reading::Numbers))
        });
        match by_pattern {
            Some(pattern) => Err(leak(&pattern.configured)),
            None => Ok(()),
        }
    }
}

/// Customer-visible text that names a partner, a site or an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// Where the text was going, e.g. `comment.body`.
    pub field: String,
    /// The configured term or alias pattern it matched.
    pub term: String,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: the text names {} (in some spelling); customer-visible text may not name a \
             partner, site or agent: remove or rephrase it",
            self.field,
            quote(&self.term)
        )
    }
}

impl std::error::Error for Leak {}

/// Checks every customer-visible text a site's change writes: the body of each public
/// comment and the names of its files. A site may not sign a public comment as the customer either (the status page shows
/// those as the customer's own words); only the gateway writes the customer's replies. The
/// adapter applies this to a local write and the gateway again to every push; a refusal names
/// the field and the term, and the change is not stored.
pub fn check_change(
    guard: &LeakGuard,
    change: &crate::change::Change,
) -> std::result::Result<(), crate::authority::Refusal> {
    use crate::authority::{Refusal, Rule};
    use crate::change::FieldOp;
    use crate::model::Visibility;
    for op in &change.ops {
        let FieldOp::AddComment(comment) = op else {
            continue;
        };
        if comment.visibility != Visibility::Public {
            continue;
        }
        if comment.author_alias == crate::customer::CUSTOMER_ALIAS {
            return Err(Refusal::new(
                Rule::CustomerTextClean,
                format!(
                    "author_alias: {} is reserved for the customer's own replies from the status \
                     page; sign with your advisor alias",
                    quote(crate::customer::CUSTOMER_ALIAS)
                ),
            ));
        }
        guard
            .check("body", &comment.body)
            .map_err(|leak| Refusal::new(Rule::CustomerTextClean, leak.to_string()))?;
        // The customer sees the names of a public comment's files too.
        for (i, file) in comment.attachments.iter().enumerate() {
            guard
                .check(&format!("attachments[{i}].filename"), &file.filename)
                .map_err(|leak| Refusal::new(Rule::CustomerTextClean, leak.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

/// [`check_change`], and then the public history as the customer reads it: the ticket's
/// public messages in page order (`before`'s and the change's, by `created_at_ms`), one after
/// the other. A change whose public comments make that history name a term it did not name
/// before is refused, so a name cannot be spelled across messages ("... Twenty" and then
/// "4 Help ..."). A history that already named one (a term added later) does not block
/// further comments; the status page withholds such messages.
pub fn check_change_in(
    guard: &LeakGuard,
    change: &crate::change::Change,
    before: &crate::state::EntityState,
) -> std::result::Result<(), crate::authority::Refusal> {
    use crate::authority::{Refusal, Rule};
    use crate::change::FieldOp;
    use crate::model::Visibility;
    check_change(guard, change)?;
    let added: Vec<&crate::model::Comment> = change
        .ops
        .iter()
        .filter_map(|op| match op {
            FieldOp::AddComment(c)
                if c.visibility == Visibility::Public && !before.comments.contains_key(&c.id) =>
            {
                Some(c)
            }
            _ => None,
        })
        .collect();
    if added.is_empty() {
        return Ok(());
    }
    let history = |with_added: bool| {
        let mut public: Vec<&crate::model::Comment> = before
            .comments
            .values()
            .map(|stamped| &stamped.value)
            .filter(|c| c.visibility == Visibility::Public)
            .collect();
        if with_added {
            public.extend(added.iter().copied());
        }
        public.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        public
            .iter()
            .map(|c| c.body.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    match guard.check("body", &history(true)) {
        Ok(()) => Ok(()),
        Err(_) if guard.check("body", &history(false)).is_err() => Ok(()),
        Err(leak) => Err(Refusal::new(
            Rule::CustomerTextClean,
            format!(
                "body: together with the ticket's earlier public messages, the text names {} \
                 (in some spelling); customer-visible text may not name a partner, site or \
                 agent: remove or rephrase it",
                quote(&leak.term)
            ),
        )),
    }
}
