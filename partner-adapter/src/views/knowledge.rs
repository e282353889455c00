//! What partner tools receive about the knowledge base: articles (with the in-house draft and
//! credits only at an in-house site), suggestions, the answers of an import and an acceptance,
//! and the body of the `suggestion.changed` webhook event.

use hotline_federation::EntityState;
use hotline_federation::authoring::{ArticleRead, SuggestionRead, read_article, read_suggestion};
use hotline_federation::model::{ArticleDraft, Language};
use serde::Serialize;
use utoipa::ToSchema;

#[allow(unused_imports)] // Named by the schema attributes only.
use crate::api::fields::{ArticleStateName, LanguageName, Slug, SuggestionStateName};

/// The in-house working copy of an article's next version.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ArticleDraft)]
pub struct ArticleDraftView {
    /// The language it is written in.
    #[schema(value_type = LanguageName)]
    pub language: String,
    /// The title.
    pub title: String,
    /// The body, Markdown.
    pub body: String,
    /// Search tags.
    pub tags: Vec<String>,
    /// The focus teams it serves (empty: every team).
    #[schema(value_type = Vec<Slug>)]
    pub focus_teams: Vec<String>,
}

/// An article as this site sees it: the published version (absent fields: never published),
/// and at an in-house site also the draft and the credits.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Article)]
pub struct ArticleView {
    /// The article's id.
    #[schema(value_type = Slug)]
    pub id: String,
    /// Its state.
    #[schema(value_type = ArticleStateName)]
    pub state: String,
    /// The published version (0: never published).
    pub version: u32,
    /// The published version's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<LanguageName>)]
    pub language: Option<String>,
    /// The published title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The published body, Markdown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The published tags.
    pub tags: Vec<String>,
    /// The focus teams it serves (empty: every team).
    #[schema(value_type = Vec<Slug>)]
    pub focus_teams: Vec<String>,
    /// In-house only: the working copy of the next version, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft: Option<ArticleDraftView>,
    /// In-house only: the tenants whose accepted suggestions went into the article.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Slug>>)]
    pub credits: Option<Vec<String>>,
}

/// An article in a list: without body and draft.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleSummary {
    /// The article's id.
    #[schema(value_type = Slug)]
    pub id: String,
    /// Its state.
    #[schema(value_type = ArticleStateName)]
    pub state: String,
    /// The published version (0: never published).
    pub version: u32,
    /// The published version's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<LanguageName>)]
    pub language: Option<String>,
    /// The published title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// In-house only: whether a draft waits to be published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_draft: Option<bool>,
}

/// Articles.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleList {
    /// The articles, by id.
    pub articles: Vec<ArticleSummary>,
}

/// What an import did with one article.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedArticle {
    /// The article's id.
    #[schema(value_type = Slug)]
    pub id: String,
    /// `created` (a new article) or `updated` (a new draft or version of a known one).
    #[schema(pattern = "^(created|updated)$")]
    pub outcome: String,
    /// Its state after the import.
    #[schema(value_type = ArticleStateName)]
    pub state: String,
    /// Its published version after the import.
    pub version: u32,
}

/// What an import did, in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// The articles.
    pub articles: Vec<ImportedArticle>,
    /// Whether the drafts were published.
    pub published: bool,
}

/// A suggestion as this site sees it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Suggestion)]
pub struct SuggestionView {
    /// `<site>-<number>` of the proposing site.
    #[schema(value_type = Slug)]
    pub id: String,
    /// The article it is for.
    #[schema(value_type = Slug)]
    pub article_id: String,
    /// The version it was written against (0: a new article).
    pub base_version: u32,
    /// The proposed title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The proposed body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The proposed tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// The language of a proposed new article.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<LanguageName>)]
    pub language: Option<String>,
    /// The proposing tenant.
    #[schema(value_type = Slug)]
    pub author_tenant: String,
    /// Its review state.
    #[schema(value_type = SuggestionStateName)]
    pub state: String,
    /// Why the in-house team rejected it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    /// The article version that took it in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_version: Option<u32>,
}

/// Suggestions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionList {
    /// The suggestions, by id.
    pub suggestions: Vec<SuggestionView>,
}

/// An accepted suggestion and the article version it became.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionAccepted {
    /// The suggestion, accepted.
    pub suggestion: SuggestionView,
    /// The article's new version.
    pub article: ArticleView,
    /// The suggestion was written against an older version than the one it was accepted
    /// over: what it leaves out comes from the newer one.
    pub stale_base: bool,
    /// What happened, for people.
    pub message: String,
}

/// Body of the `suggestion.changed` webhook event.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuggestionChangedEvent {
    /// `suggestion.changed`.
    #[schema(pattern = "^suggestion\\.changed$")]
    pub event: String,
    /// The site sending the event.
    #[schema(value_type = Slug)]
    pub site: String,
    /// The suggestion's id.
    #[schema(value_type = Slug)]
    pub id: String,
    /// When the change was applied here, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The suggestion as the site now sees it.
    pub suggestion: SuggestionView,
}

fn language(language: Option<Language>) -> Option<String> {
    language.map(|l| l.as_str().to_owned())
}

fn state_name(read: &ArticleRead) -> String {
    read.state.map_or("draft", |s| s.as_str()).to_owned()
}

fn draft_view(draft: ArticleDraft) -> ArticleDraftView {
    let ArticleDraft {
        language: lang,
        title,
        body,
        tags,
        focus_teams,
    } = draft;
    ArticleDraftView {
        language: language(lang).unwrap_or_default(),
        title,
        body,
        tags,
        focus_teams,
    }
}

/// An article; `inhouse` adds the draft and `credits` (the tenants of accepted suggestions).
pub fn article(state: &EntityState, inhouse: bool, credits: Vec<String>) -> ArticleView {
    let read = read_article(state);
    let published = read.version > 0 || !read.published.title.is_empty();
    let state_name = state_name(&read);
    let ArticleRead {
        version,
        published: content,
        draft,
        ..
    } = read;
    ArticleView {
        id: state.key.id.clone(),
        state: state_name,
        version,
        language: language(content.language),
        title: published.then_some(content.title),
        body: published.then_some(content.body),
        tags: content.tags,
        focus_teams: content.focus_teams,
        draft: if inhouse { draft.map(draft_view) } else { None },
        credits: inhouse.then_some(credits),
    }
}

/// An article in a list.
pub fn article_summary(state: &EntityState, inhouse: bool) -> ArticleSummary {
    let read = read_article(state);
    let published = read.version > 0 || !read.published.title.is_empty();
    ArticleSummary {
        id: state.key.id.clone(),
        state: state_name(&read),
        version: read.version,
        language: language(read.published.language),
        title: published.then(|| read.published.title.clone()),
        has_draft: inhouse.then_some(read.draft.is_some()),
    }
}

/// A suggestion.
pub fn suggestion(state: &EntityState) -> SuggestionView {
    let SuggestionRead {
        proposal,
        state: review,
        reject_reason,
        accepted_version,
    } = read_suggestion(state);
    SuggestionView {
        id: state.key.id.clone(),
        article_id: proposal.article_id,
        base_version: proposal.base_version,
        title: proposal.title,
        body: proposal.body,
        tags: proposal.tags,
        rationale: proposal.rationale,
        language: language(proposal.language),
        author_tenant: proposal.author_tenant,
        state: review.map_or("open", |s| s.as_str()).to_owned(),
        reject_reason,
        accepted_version,
    }
}

/// One published version of an article.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleVersionView {
    /// Its number.
    pub version: u32,
    /// When it was published, ms since the Unix epoch.
    pub published_at_ms: u64,
    /// Its language.
    #[schema(value_type = Option<LanguageName>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Its title.
    pub title: String,
    /// Its body (Markdown).
    pub body: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its focus teams.
    pub focus_teams: Vec<String>,
}

/// An article's published versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleVersions {
    /// The article's id.
    #[schema(value_type = Slug)]
    pub id: String,
    /// The versions this site holds, newest first.
    pub versions: Vec<ArticleVersionView>,
}

/// The published versions `state` holds.
pub fn versions(state: &EntityState) -> ArticleVersions {
    ArticleVersions {
        id: state.key.id.clone(),
        versions: hotline_federation::authoring::published_versions(state)
            .into_iter()
            .map(|v| ArticleVersionView {
                version: v.version,
                published_at_ms: v.published_at_ms,
                language: v.content.language.map(|l| l.as_str().to_owned()),
                title: v.content.title,
                body: v.content.body,
                tags: v.content.tags,
                focus_teams: v.content.focus_teams,
            })
            .collect(),
    }
}
