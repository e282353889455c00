//! Answering a search: the query's words become weighted term queries on the requested
//! languages' fields, the hits get a snippet and the words that matched them.
//!
//! Each word of the query is one optional clause, itself the union of its stemmed terms in
//! title (weight [`TITLE_WEIGHT`]), tags ([`TAGS_WEIGHT`]) and body (1), and of its n-grams in
//! the compound field ([`GRAMS_WEIGHT`]), of which at least half must match so that a shared
//! syllable alone ("wort" in "Passwort" and "Kennwort") does not count.

use hotline_federation::model::Language;
use std::collections::HashSet;

use tantivy::collector::{DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, TantivyDocument, TantivyError, Term};

use super::{Fields, KbError, KbHit, KbIndex, analysis};

/// Most hits one search returns.
const MAX_LIMIT: usize = 50;
/// Weight of a word found in the title.
const TITLE_WEIGHT: f32 = 3.0;
/// Weight of a word found in the tags.
const TAGS_WEIGHT: f32 = 2.5;
/// Weight of a word found (by its n-grams) inside a word of the title or tags.
const GRAMS_WEIGHT: f32 = 0.5;
/// Most characters of a snippet.
const SNIPPET_CHARS: usize = 160;

/// One query word as typed, and what finds it.
struct WordQuery {
    typed: String,
    query: Box<dyn Query>,
}

pub(super) fn run(
    index: &KbIndex,
    text: &str,
    language: Option<Language>,
    limit: usize,
) -> Result<Vec<KbHit>, KbError> {
    if text.trim().is_empty() {
        return Err(KbError::EmptyQuery);
    }
    let limit = limit.clamp(1, MAX_LIMIT);
    let languages: Vec<Language> = match language {
        Some(language) => vec![language],
        None => Language::ALL.to_vec(),
    };
    let words: Vec<WordQuery> = analysis::query_words(text)
        .into_iter()
        .filter_map(|typed| {
            word_query(&index.fields, &languages, &typed).map(|query| WordQuery { typed, query })
        })
        .collect();
    if words.is_empty() {
        // Only stop words or punctuation: nothing can match.
        return Ok(Vec::new());
    }
    let query = BooleanQuery::new(
        words
            .iter()
            .map(|w| (Occur::Should, w.query.box_clone()))
            .collect(),
    );

    let searcher = index.reader.searcher();
    let top = searcher
        .search(&query, &TopDocs::with_limit(limit))
        .map_err(KbError::engine("searching"))?;
    let mut snippets = Vec::new();
    for language in Language::ALL.iter().copied() {
        let mut generator =
            SnippetGenerator::create(&searcher, &query, index.fields.of(language).body)
                .map_err(KbError::engine("preparing snippets"))?;
        generator.set_max_num_chars(SNIPPET_CHARS);
        snippets.push((language, generator));
    }

    // Which documents each word matches (the words' own queries, run alone; a knowledge base
    // is small enough for this to be cheap).
    let matches: Vec<HashSet<DocAddress>> = words
        .iter()
        .map(|w| searcher.search(&w.query, &DocSetCollector))
        .collect::<Result<_, _>>()
        .map_err(KbError::engine("matching words"))?;

    top.into_iter()
        .map(|(score, address)| {
            let doc: TantivyDocument = searcher
                .doc(address)
                .map_err(KbError::engine("reading a hit"))?;
            let matched_terms = words
                .iter()
                .zip(&matches)
                .filter(|(_, docs)| docs.contains(&address))
                .map(|(w, _)| w.typed.clone())
                .collect();
            hit(index.fields, &snippets, matched_terms, score, &doc)
        })
        .collect()
}

/// The clause of one query word, or `None` when the word yields no term (a stop word).
fn word_query(fields: &Fields, languages: &[Language], typed: &str) -> Option<Box<dyn Query>> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for language in languages.iter().copied() {
        let f = fields.of(language);
        for term in analysis::terms(language, typed) {
            for (field, weight) in [
                (f.title, TITLE_WEIGHT),
                (f.tags, TAGS_WEIGHT),
                (f.body, 1.0),
            ] {
                let query = TermQuery::new(
                    Term::from_field_text(field, &term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(query), weight)),
                ));
            }
        }
    }
    let grams = analysis::query_grams(typed);
    if !clauses.is_empty() && !grams.is_empty() {
        let needed = grams.len().div_ceil(2);
        let gram_clauses = grams
            .iter()
            .map(|gram| {
                let query: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(fields.grams, gram),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, query)
            })
            .collect();
        let grams = BooleanQuery::with_minimum_required_clauses(gram_clauses, needed);
        clauses.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(grams), GRAMS_WEIGHT)),
        ));
    }
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}

fn hit(
    fields: Fields,
    snippets: &[(Language, SnippetGenerator)],
    matched_terms: Vec<String>,
    score: f32,
    doc: &TantivyDocument,
) -> Result<KbHit, KbError> {
    let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or("");
    let language =
        Language::parse("language", text(fields.language)).map_err(|e| KbError::Engine {
            action: "reading a hit",
            source: TantivyError::InternalError(e.to_string()),
        })?;
    let version = doc
        .get_first(fields.version)
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let body = text(fields.of(language).body);
    let snippet = snippets
        .iter()
        .find(|(l, _)| *l == language)
        .map(|(_, generator)| generator.snippet_from_doc(doc))
        .map(|s| plain_text(s.fragment()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| lead(body));
    Ok(KbHit {
        id: text(fields.id).to_owned(),
        version,
        language,
        title: text(fields.of(language).title).to_owned(),
        score,
        snippet,
        matched_terms,
    })
}

/// Markdown as plain text on one line: emphasis, heading and code marks dropped, white space
/// collapsed.
fn plain_text(markdown: &str) -> String {
    markdown
        .split_whitespace()
        .map(|w| w.trim_matches(|c| matches!(c, '#' | '*' | '`' | '>' | '|')))
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The start of a body as a snippet, cut at a word boundary.
fn lead(body: &str) -> String {
    let text = plain_text(body);
    if text.chars().count() <= SNIPPET_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SNIPPET_CHARS).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut} …")
}
