//! Knowledge-base articles as their authors write them: a Markdown file that opens with a small
//! front matter block.
//!
//! ```text
//! ---
//! id: vpn-connect-en
//! language: en
//! title: Connecting to the VPN
//! tags: [VPN, remote access, home office]
//! focus_teams: [finance-hr, plants]
//! ---
//! The Markdown body.
//! ```
//!
//! The front matter is one `key: value` per line (blank lines are allowed); values are taken as
//! written, without quoting. Lists are written `[a, b, c]`. Every field obeys the same rules as
//! the article fields of a change ([`check_slug`], [`check_text`] with [`MAX_SHORT_TEXT`] and
//! [`MAX_LONG_TEXT`]), so a file that parses here is an article the gateway accepts.

use std::fmt;

use crate::change::{MAX_LONG_TEXT, MAX_SHORT_TEXT, check_list, check_slug_list};
use crate::error::{Error, quote};
use crate::ids::check_slug;
use crate::model::Language;
use crate::text::{Lines, check_required, check_text};

/// The line that opens and closes the front matter.
const FENCE: &str = "---";

/// The keys a front matter may hold, in the order the error messages list them.
const KEYS: [&str; 5] = ["id", "language", "title", "tags", "focus_teams"];

/// One article as written in a Markdown file with front matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArticleFile {
    /// The article's id, a slug such as `vpn-connect-en`.
    pub id: String,
    /// The language the article is written in.
    pub language: Language,
    /// The title, one line.
    pub title: String,
    /// Free-form tags; they also serve as the article's synonyms in search.
    pub tags: Vec<String>,
    /// The focus teams (slugs) the article is meant for.
    pub focus_teams: Vec<String>,
    /// The Markdown body, without surrounding blank lines.
    pub body: String,
}

/// What is wrong with a file: 1-based line and a message saying what was wrong and what is
/// allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileProblem {
    /// The 1-based line the problem is on.
    pub line: usize,
    /// What was wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for FileProblem {}

impl FileProblem {
    fn new(line: usize, message: impl Into<String>) -> FileProblem {
        FileProblem {
            line,
            message: message.into(),
        }
    }

    /// A field rule's refusal, placed on the line the field was written on.
    fn field(line: usize, error: Error) -> FileProblem {
        FileProblem::new(line, error.to_string())
    }
}

/// The front matter's values as read, each with the line it was on.
#[derive(Default)]
struct FrontMatter<'a> {
    values: [Option<(usize, &'a str)>; KEYS.len()],
}

impl<'a> FrontMatter<'a> {
    fn get(&self, key: &str) -> Option<(usize, &'a str)> {
        KEYS.iter()
            .position(|k| *k == key)
            .and_then(|i| self.values[i])
    }
}

/// Parses one article file; the first problem found is returned with its line.
pub fn parse_article_file(text: &str) -> Result<ArticleFile, FileProblem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l));

    let opening = lines.next().map(|(_, l)| trim_line_end(l));
    if opening != Some(FENCE) {
        return Err(FileProblem::new(
            1,
            format!(
                "an article file starts with a front matter opened by {FENCE:?} on the first \
                 line; found {}",
                quote(opening.unwrap_or(""))
            ),
        ));
    }

    let mut front = FrontMatter::default();
    let mut closing_line = None;
    for (number, raw) in lines.by_ref() {
        let line = trim_line_end(raw);
        if line == FENCE {
            closing_line = Some(number);
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(FileProblem::new(
                number,
                format!(
                    "expected `key: value`, found {}; allowed keys: {}",
                    quote(line),
                    KEYS.join(", ")
                ),
            ));
        };
        let key = key.trim();
        let Some(slot) = KEYS.iter().position(|k| *k == key) else {
            return Err(FileProblem::new(
                number,
                format!(
                    "key {} is not known; allowed keys: {}",
                    quote(key),
                    KEYS.join(", ")
                ),
            ));
        };
        if let Some((first, _)) = front.values[slot] {
            return Err(FileProblem::new(
                number,
                format!(
                    "key {key:?} appears a second time (first on line {first}); each key may appear once"
                ),
            ));
        }
        front.values[slot] = Some((number, value.trim()));
    }
    let Some(closing_line) = closing_line else {
        return Err(FileProblem::new(
            1,
            format!(
                "the front matter opened on line 1 is never closed; close it with a line {FENCE:?}"
            ),
        ));
    };

    let required = |key: &str| {
        front.get(key).ok_or_else(|| {
            FileProblem::new(
                closing_line,
                format!(
                    "the front matter lacks {key:?}; required keys: id, language, title; \
                     optional: tags, focus_teams"
                ),
            )
        })
    };
    let (id_line, id) = required("id")?;
    let (language_line, language) = required("language")?;
    let (title_line, title) = required("title")?;

    check_slug("id", id).map_err(|e| FileProblem::field(id_line, e))?;
    let language =
        Language::parse("language", language).map_err(|e| FileProblem::field(language_line, e))?;
    check_required("title", title, MAX_SHORT_TEXT, Lines::One)
        .map_err(|e| FileProblem::field(title_line, e))?;

    let tags = match front.get("tags") {
        Some((line, value)) => {
            let tags = parse_list("tags", line, value)?;
            check_list("tags", &tags).map_err(|e| FileProblem::field(line, e))?;
            tags
        }
        None => Vec::new(),
    };
    let focus_teams = match front.get("focus_teams") {
        Some((line, value)) => {
            let teams = parse_list("focus_teams", line, value)?;
            check_slug_list("focus_teams", &teams).map_err(|e| FileProblem::field(line, e))?;
            teams
        }
        None => Vec::new(),
    };

    let body = parse_body(text, closing_line)?;
    Ok(ArticleFile {
        id: id.to_owned(),
        language,
        title: title.to_owned(),
        tags,
        focus_teams,
        body,
    })
}

/// The body after the closing fence (line `closing_line`), without surrounding blank lines.
fn parse_body(text: &str, closing_line: usize) -> Result<String, FileProblem> {
    let after_fence = text
        .split_inclusive('\n')
        .skip(closing_line)
        .collect::<String>();
    // The first line of the body as written, after any blank lines.
    let leading_blank = after_fence
        .split_inclusive('\n')
        .take_while(|l| l.trim().is_empty())
        .count();
    let first_line = closing_line + 1 + leading_blank;
    let body = after_fence.trim();
    if body.is_empty() {
        return Err(FileProblem::new(
            closing_line + 1,
            "the article has no body; write its Markdown text after the closing \"---\"",
        ));
    }
    check_text("body", body, MAX_LONG_TEXT, Lines::Many).map_err(|e| {
        let line = match &e {
            Error::Character { at, .. } => first_line + body[..*at].matches('\n').count(),
            _ => first_line,
        };
        FileProblem::field(line, e)
    })?;
    Ok(body.to_owned())
}

/// A list written `[a, b, c]`; items are trimmed, and `[]` is the empty list.
fn parse_list(key: &str, line: usize, value: &str) -> Result<Vec<String>, FileProblem> {
    let inner = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| {
            FileProblem::new(
                line,
                format!(
                    "{key} is written as a list in brackets, e.g. `{key}: [a, b]`; found {}",
                    quote(value)
                ),
            )
        })?;
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .enumerate()
        .map(|(i, item)| {
            let item = item.trim();
            if item.is_empty() {
                Err(FileProblem::new(
                    line,
                    format!("{key}[{i}] is empty; separate non-empty items with single commas"),
                ))
            } else {
                Ok(item.to_owned())
            }
        })
        .collect()
}

/// A line without its line break (LF or CRLF) and trailing spaces.
fn trim_line_end(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
        .trim_end_matches([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "---\n\
        id: kennwort-zuruecksetzen-de\n\
        language: de\n\
        title: Kennwort zurücksetzen\n\
        tags: [Passwort, Kennwort, Konto gesperrt]\n\
        focus_teams: [finance-hr, plants]\n\
        ---\n\
        \n\
        1. Öffnen Sie das Self-Service-Portal.\n\
        2. Folgen Sie den Schritten.\n";

    fn problem(text: &str) -> FileProblem {
        parse_article_file(text).expect_err("the file must be refused")
    }

    /// A well-formed file yields every field, tags with spaces and umlauts kept as written, and
    /// the body without its surrounding blank lines.
    #[test]
    fn a_good_file_parses_into_every_field() {
        let article = parse_article_file(GOOD).expect("a good file");
        assert_eq!(article.id, "kennwort-zuruecksetzen-de");
        assert_eq!(article.language, Language::De);
        assert_eq!(article.title, "Kennwort zurücksetzen");
        assert_eq!(article.tags, ["Passwort", "Kennwort", "Konto gesperrt"]);
        assert_eq!(article.focus_teams, ["finance-hr", "plants"]);
        assert_eq!(
            article.body,
            "1. Öffnen Sie das Self-Service-Portal.\n2. Folgen Sie den Schritten."
        );
    }

    /// Files saved on Windows (CRLF, a byte order mark) parse the same as Unix files, so an
    /// author's editor does not decide whether an article loads.
    #[test]
    fn crlf_and_a_byte_order_mark_are_accepted() {
        let windows = format!("\u{feff}{}", GOOD.replace('\n', "\r\n"));
        let article = parse_article_file(&windows).expect("a Windows file");
        assert_eq!(article.title, "Kennwort zurücksetzen");
        assert!(article.body.starts_with("1. Öffnen"));
    }

    /// Tags and focus teams are optional, and `[]` is an empty list.
    #[test]
    fn lists_are_optional_and_may_be_empty() {
        let text = "---\nid: a\nlanguage: en\ntitle: T\ntags: []\n---\nBody\n";
        let article = parse_article_file(text).expect("valid");
        assert!(article.tags.is_empty() && article.focus_teams.is_empty());
    }

    /// A file without the opening fence is refused on line 1, saying what must come first.
    #[test]
    fn a_missing_opening_fence_is_refused_on_line_one() {
        let p = problem("id: a\nlanguage: de\n");
        assert_eq!(p.line, 1);
        assert!(p.message.contains("\"---\""), "{p}");
    }

    /// A front matter that is never closed is refused on the line that opened it.
    #[test]
    fn a_missing_closing_fence_is_refused() {
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\nBody\n");
        assert_eq!(p.line, 5, "{p}");
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\n");
        assert_eq!(p.line, 1, "{p}");
        assert!(p.message.contains("never closed"), "{p}");
    }

    /// An unknown key is refused on its line with the list of allowed keys, so a typo such as
    /// `titel` does not silently drop the title.
    #[test]
    fn an_unknown_key_is_refused_with_the_allowed_keys() {
        let p = problem("---\nid: a\nlanguage: de\ntitel: T\n---\nBody\n");
        assert_eq!(p.line, 4);
        assert!(p.message.contains("\"titel\""), "{p}");
        assert!(
            p.message.contains("id, language, title, tags, focus_teams"),
            "{p}"
        );
    }

    /// A key written twice is refused on the second line, naming the first.
    #[test]
    fn a_duplicate_key_is_refused_on_its_second_line() {
        let p = problem("---\nid: a\ntitle: T\nlanguage: de\ntitle: U\n---\nBody\n");
        assert_eq!(p.line, 5);
        assert!(p.message.contains("first on line 3"), "{p}");
    }

    /// A line without a colon is refused on its line.
    #[test]
    fn a_line_without_a_colon_is_refused() {
        let p = problem("---\nid: a\nlanguage de\n---\nBody\n");
        assert_eq!(p.line, 3);
        assert!(p.message.contains("key: value"), "{p}");
    }

    /// A missing required key is refused on the closing fence, naming the key and the
    /// required ones.
    #[test]
    fn a_missing_required_key_is_refused_on_the_closing_fence() {
        let p = problem("---\nid: a\nlanguage: de\n\n---\nBody\n");
        assert_eq!(p.line, 5);
        assert!(p.message.contains("\"title\""), "{p}");
        assert!(
            p.message.contains("required keys: id, language, title"),
            "{p}"
        );
    }

    /// An id that is not a slug is refused on its line with the slug rule of every other id.
    #[test]
    fn a_bad_id_is_refused_with_the_slug_rule() {
        let p = problem("---\nid: VPN_Connect\nlanguage: de\ntitle: T\n---\nBody\n");
        assert_eq!(p.line, 2);
        assert!(p.message.contains("a-z, 0-9 and '-'"), "{p}");
    }

    /// An unknown language is refused on its line listing the known languages.
    #[test]
    fn a_bad_language_is_refused_with_the_known_ones() {
        let p = problem("---\nid: a\nlanguage: fr\ntitle: T\n---\nBody\n");
        assert_eq!(p.line, 3);
        assert!(p.message.contains("known: de, en"), "{p}");
    }

    /// A focus team that is not a slug is refused on its line, naming the entry.
    #[test]
    fn a_bad_focus_team_is_refused_naming_the_entry() {
        let p = problem(
            "---\nid: a\nlanguage: de\ntitle: T\nfocus_teams: [plants, Finance HR]\n---\nB\n",
        );
        assert_eq!(p.line, 5);
        assert!(p.message.contains("focus_teams[1]"), "{p}");
    }

    /// A list without brackets and a list with an empty item are refused on their line.
    #[test]
    fn malformed_lists_are_refused() {
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\ntags: VPN, Netz\n---\nB\n");
        assert_eq!(p.line, 5);
        assert!(p.message.contains("[a, b]"), "{p}");
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\ntags: [VPN,, Netz]\n---\nB\n");
        assert_eq!(p.line, 5);
        assert!(p.message.contains("tags[1] is empty"), "{p}");
    }

    /// A title longer than the short-text limit is refused on its line with the limit that
    /// changes enforce.
    #[test]
    fn a_title_over_the_short_text_limit_is_refused() {
        let title = "x".repeat(MAX_SHORT_TEXT + 1);
        let p = problem(&format!(
            "---\nid: a\nlanguage: de\ntitle: {title}\n---\nB\n"
        ));
        assert_eq!(p.line, 4);
        assert!(
            p.message
                .contains(&format!("limit of {MAX_SHORT_TEXT} bytes")),
            "{p}"
        );
    }

    /// An empty body is refused on the line after the closing fence.
    #[test]
    fn an_empty_body_is_refused() {
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\n---\n\n  \n");
        assert_eq!(p.line, 6);
        assert!(p.message.contains("no body"), "{p}");
    }

    /// A control character in the body is refused on the body line that holds it, counted
    /// from the top of the file.
    #[test]
    fn a_control_character_in_the_body_names_its_line() {
        let p = problem("---\nid: a\nlanguage: de\ntitle: T\n---\n\nfine\nbad \u{1b}[31m\n");
        assert_eq!(p.line, 8, "{p}");
        assert!(p.message.contains("U+001B"), "{p}");
    }
}
