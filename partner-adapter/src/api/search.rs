//! Knowledge search: the site's own full-text index of the published articles it holds, so an
//! agent finds the answer during the call, also while the gateway is unreachable.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use hotline_federation::model::Language;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::App;
use super::tickets::blocking;
use crate::error::{Error, Result};
use crate::openapi::ReadErrors;

/// Most hits one search answers.
const MAX_LIMIT: usize = 50;

/// The search's parameters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Only its description is used: the handler reads the pairs itself.
pub(crate) struct SearchParams {
    /// What the caller said, in their words (1 to 500 characters, not only white space).
    #[param(min_length = 1, max_length = 500, pattern = "[^\\s\\u0085]")]
    q: String,
    /// Only articles in this language; both when absent.
    #[param(value_type = Option<super::fields::LanguageName>)]
    lang: Option<String>,
    /// How many hits at most: 1 to 50, default 5.
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

/// Search results, best first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchResults {
    /// The query as received.
    query: String,
    /// The language searched; absent when both were.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::fields::LanguageName>)]
    language: Option<String>,
    /// The hits, best first.
    hits: Vec<SearchHit>,
}

/// One article found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SearchHit {
    /// The article's id.
    id: String,
    /// The published version found.
    version: u32,
    /// The article's language.
    #[schema(value_type = super::fields::LanguageName)]
    language: String,
    /// Its title.
    title: String,
    /// Relevance, comparable within one answer only.
    score: f32,
    /// A plain-text excerpt around the words that matched.
    snippet: String,
    /// The query's words, as typed, that this article matched.
    matched_terms: Vec<String>,
}

/// Search the knowledge base
///
/// Ranked hits among the published articles this site holds, with a snippet and the words that
/// matched. German and English stemming; German compounds, umlauts and their ae/oe/ue spellings
/// match; an article's tags count as its synonyms. Works offline: the index is the site's own.
#[utoipa::path(get, path = "/v1/kb/search", tag = "knowledge", operation_id = "searchKnowledge",
    params(SearchParams),
    responses((status = 200, description = "The hits, best first.", body = SearchResults),
        ReadErrors))]
pub(crate) async fn search(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<SearchResults>> {
    let Query(params) = query
        .map_err(|e| Error::BadRequest(format!("{}; allowed: q, lang, limit", e.body_text())))?;
    let (text, language, limit) = parse(params)?;
    let replica = app.replica.clone();
    let knowledge = app.knowledge.clone();
    let query = text.clone();
    // A query with no searchable word (only punctuation or stop words) finds nothing.
    let hits = blocking(
        move || match knowledge.search(&replica, &query, language, limit) {
            Err(Error::BadRequest(_)) => Ok(Vec::new()),
            other => other,
        },
    )
    .await?;
    Ok(Json(SearchResults {
        query: text,
        language: language.map(|l| l.as_str().to_owned()),
        hits: hits
            .into_iter()
            .map(|hit| SearchHit {
                id: hit.id,
                version: hit.version,
                language: hit.language.as_str().to_owned(),
                title: hit.title,
                score: hit.score,
                snippet: hit.snippet,
                matched_terms: hit.matched_terms,
            })
            .collect(),
    }))
}

fn parse(params: Vec<(String, String)>) -> Result<(String, Option<Language>, usize)> {
    let mut text = None;
    let mut language = None;
    let mut limit = 5;
    for (name, value) in params {
        match name.as_str() {
            "q" if text.is_none() => text = Some(value),
            "lang" if language.is_none() => {
                language = Some(Language::parse("lang", &value).map_err(|e| {
                    Error::BadRequest(format!(
                        "lang: {}",
                        e.to_string().trim_start_matches("lang: ")
                    ))
                })?);
            }
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        Error::BadRequest(format!(
                            "limit: {value:?} is not a number from 1 to {MAX_LIMIT}"
                        ))
                    })?;
            }
            "q" | "lang" => {
                return Err(Error::BadRequest(format!(
                    "{name} is given twice; give it once"
                )));
            }
            other => {
                return Err(Error::BadRequest(format!(
                    "unknown parameter {other:?}; allowed: q, lang, limit"
                )));
            }
        }
    }
    let text = text.ok_or_else(|| Error::BadRequest("q: a query is required".into()))?;
    if text.chars().all(char::is_whitespace) {
        return Err(Error::BadRequest(
            "q: a query is required, not only white space".into(),
        ));
    }
    if text.chars().count() > 500 {
        return Err(Error::BadRequest("q: at most 500 characters".into()));
    }
    Ok((text, language, limit))
}
