//! Knowledge authoring as a site writes it: what a new article, a draft, a publication, a
//! retirement, a partner's suggestion and its acceptance or rejection hold as operations, and
//! how an article's or a suggestion's registers read back. [`crate::authority`] decides who
//! may write them (articles in-house only; suggestions by their proposing site until the
//! in-house team decides); [`crate::visibility`] keeps drafts in-house. The adapter's API
//! parses requests, then calls these.

use crate::change::FieldOp;
use crate::model::{
    ArticleDraft, ArticleField, ArticleState, FieldValue, Language, SuggestionField,
    SuggestionState,
};
use crate::state::EntityState;

/// One version's content of an article: what a draft, an import or a publication holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArticleContent {
    /// The language it is written in.
    pub language: Option<Language>,
    /// Title, one line.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// Search tags.
    pub tags: Vec<String>,
    /// The focus teams it serves (empty: every team).
    pub focus_teams: Vec<String>,
}

impl ArticleContent {
    /// The content as the in-house working copy.
    pub fn into_draft(self) -> ArticleDraft {
        let ArticleContent {
            language,
            title,
            body,
            tags,
            focus_teams,
        } = self;
        ArticleDraft {
            language,
            title,
            body,
            tags,
            focus_teams,
        }
    }

    fn from_draft(draft: ArticleDraft) -> ArticleContent {
        let ArticleDraft {
            language,
            title,
            body,
            tags,
            focus_teams,
        } = draft;
        ArticleContent {
            language,
            title,
            body,
            tags,
            focus_teams,
        }
    }
}

/// An article as its registers hold it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArticleRead {
    /// The published version (0: never published).
    pub version: u32,
    /// The life-cycle state; `None` when nothing is stored.
    pub state: Option<ArticleState>,
    /// The published content (empty title: never published).
    pub published: ArticleContent,
    /// The in-house working copy, when there is one (never at a partner's site).
    pub draft: Option<ArticleDraft>,
}

/// Reads an article's registers.
pub fn read_article(state: &EntityState) -> ArticleRead {
    let mut read = ArticleRead::default();
    for register in state.registers.values() {
        let FieldValue::Article(field) = &register.winner.value else {
            continue;
        };
        match field {
            ArticleField::Version(v) => read.version = *v,
            ArticleField::Language(l) => read.published.language = Some(*l),
            ArticleField::Title(t) => read.published.title = t.clone(),
            ArticleField::Body(b) => read.published.body = b.clone(),
            ArticleField::Tags(t) => read.published.tags = t.clone(),
            ArticleField::State(s) => read.state = Some(*s),
            ArticleField::FocusTeams(t) => read.published.focus_teams = t.clone(),
            ArticleField::Draft(d) => read.draft = (!d.is_empty()).then(|| d.clone()),
        }
    }
    read
}

/// One published version of an article, as its registers' histories hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedVersion {
    /// Its number.
    pub version: u32,
    /// When it was published (the publishing change's clock, ms).
    pub published_at_ms: u64,
    /// The site that published it.
    pub site: String,
    /// Its content.
    pub content: ArticleContent,
}

/// The published versions `state` still holds, newest first: every write of the `version`
/// register (the winner and the superseded ones a register keeps, at most
/// [`crate::state::SUPERSEDED_KEPT`] of them) with the content written in the same change. An
/// in-house site and the gateway keep superseded writes; a partner site holds the current
/// version only (see [`crate::visibility::strip`]).
pub fn published_versions(state: &EntityState) -> Vec<PublishedVersion> {
    let history = |name: &str| -> Vec<&crate::state::Stamped<FieldValue>> {
        state
            .registers
            .get(name)
            .map(|r| std::iter::once(&r.winner).chain(&r.superseded).collect())
            .unwrap_or_default()
    };
    let at = |name: &str, stamp: &crate::change::Stamp| {
        history(name)
            .into_iter()
            .find(|w| &w.stamp == stamp)
            .map(|w| w.value.clone())
    };
    let mut versions = Vec::new();
    for write in history("version") {
        let FieldValue::Article(ArticleField::Version(version)) = write.value else {
            continue;
        };
        if version == 0 {
            continue;
        }
        let stamp = &write.stamp;
        let mut content = ArticleContent::default();
        for name in ["language", "title", "body", "tags", "focus_teams"] {
            match at(name, stamp) {
                Some(FieldValue::Article(ArticleField::Language(l))) => content.language = Some(l),
                Some(FieldValue::Article(ArticleField::Title(t))) => content.title = t,
                Some(FieldValue::Article(ArticleField::Body(b))) => content.body = b,
                Some(FieldValue::Article(ArticleField::Tags(t))) => content.tags = t,
                Some(FieldValue::Article(ArticleField::FocusTeams(t))) => content.focus_teams = t,
                _ => {}
            }
        }
        versions.push(PublishedVersion {
            version,
            published_at_ms: stamp.hlc.wall_ms,
            site: stamp.site.clone(),
            content,
        });
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.version));
    versions
}

/// Why an authoring step cannot be taken on what is stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthoringConflict {
    /// Publishing needs a draft.
    #[error("article {0} has no draft to publish; write one with PUT /v1/kb/articles/{0}/draft")]
    NoDraft(String),
    /// A new article's id is taken.
    #[error("article {0} exists already; change it through its draft")]
    Exists(String),
    /// A suggestion was decided already.
    #[error("suggestion {id} has been {state} already; a decision is final")]
    Decided {
        /// The suggestion.
        id: String,
        /// Its state.
        state: &'static str,
    },
    /// Accepting would leave the article without a title, body or language.
    #[error(
        "suggestion {id} proposes a new article {article} but lacks its {missing}; reject it \
         and ask for a complete proposal"
    )]
    Incomplete {
        /// The suggestion.
        id: String,
        /// The article.
        article: String,
        /// What is missing.
        missing: &'static str,
    },
}

/// A new article: version 0, state draft, the content as its draft.
pub fn create_ops(content: ArticleContent) -> Vec<FieldOp> {
    vec![
        FieldOp::Set(FieldValue::Article(ArticleField::Version(0))),
        FieldOp::Set(FieldValue::Article(ArticleField::State(
            ArticleState::Draft,
        ))),
        FieldOp::Set(FieldValue::Article(ArticleField::Draft(
            content.into_draft(),
        ))),
    ]
}

/// Replaces the draft of an article.
pub fn draft_ops(content: ArticleContent) -> Vec<FieldOp> {
    vec![FieldOp::Set(FieldValue::Article(ArticleField::Draft(
        content.into_draft(),
    )))]
}

/// `content` published as `version`, and the draft emptied.
fn publication(version: u32, content: ArticleContent) -> Vec<FieldOp> {
    let ArticleContent {
        language,
        title,
        body,
        tags,
        focus_teams,
    } = content;
    let mut ops = vec![FieldOp::Set(FieldValue::Article(ArticleField::Version(
        version,
    )))];
    if let Some(language) = language {
        ops.push(FieldOp::Set(FieldValue::Article(ArticleField::Language(
            language,
        ))));
    }
    ops.extend([
        FieldOp::Set(FieldValue::Article(ArticleField::Title(title))),
        FieldOp::Set(FieldValue::Article(ArticleField::Body(body))),
        FieldOp::Set(FieldValue::Article(ArticleField::Tags(tags))),
        FieldOp::Set(FieldValue::Article(ArticleField::FocusTeams(focus_teams))),
        FieldOp::Set(FieldValue::Article(ArticleField::State(
            ArticleState::Published,
        ))),
        FieldOp::Set(FieldValue::Article(ArticleField::Draft(
            ArticleDraft::default(),
        ))),
    ]);
    ops
}

/// The draft becomes the next published version; refused when there is no draft.
pub fn publish_ops(before: &EntityState) -> Result<Vec<FieldOp>, AuthoringConflict> {
    let read = read_article(before);
    let draft = read
        .draft
        .ok_or_else(|| AuthoringConflict::NoDraft(before.key.id.clone()))?;
    Ok(publication(
        read.version + 1,
        ArticleContent::from_draft(draft),
    ))
}

/// Takes the article out of use; partners keep it as history.
pub fn retire_ops() -> Vec<FieldOp> {
    vec![FieldOp::Set(FieldValue::Article(ArticleField::State(
        ArticleState::Retired,
    )))]
}

/// An imported article: a new draft (over the existing one, or a new article), published at
/// once as the next version when `publish`.
pub fn import_ops(before: &EntityState, content: ArticleContent, publish: bool) -> Vec<FieldOp> {
    let read = read_article(before);
    match (publish, read.state.is_some()) {
        (true, _) => publication(read.version + 1, content),
        (false, true) => draft_ops(content),
        (false, false) => create_ops(content),
    }
}

/// A partner's (or in-house's) proposal for an article.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Proposal {
    /// The article it is for (possibly one that does not exist yet).
    pub article_id: String,
    /// The version the proposer saw (0: a new article).
    pub base_version: u32,
    /// A new title, if proposed.
    pub title: Option<String>,
    /// A new body, if proposed.
    pub body: Option<String>,
    /// New tags, if proposed.
    pub tags: Option<Vec<String>>,
    /// Why.
    pub rationale: Option<String>,
    /// The language of a new article.
    pub language: Option<Language>,
    /// The proposing tenant.
    pub author_tenant: String,
}

/// The ops of a new, open suggestion.
pub fn propose_ops(proposal: Proposal) -> Vec<FieldOp> {
    let Proposal {
        article_id,
        base_version,
        title,
        body,
        tags,
        rationale,
        language,
        author_tenant,
    } = proposal;
    let set = |f| FieldOp::Set(FieldValue::Suggestion(f));
    let mut ops = vec![
        set(SuggestionField::ArticleId(article_id)),
        set(SuggestionField::BaseVersion(base_version)),
        set(SuggestionField::AuthorTenant(author_tenant)),
        set(SuggestionField::State(SuggestionState::Open)),
    ];
    ops.extend(title.map(|t| set(SuggestionField::ProposedTitle(t))));
    ops.extend(body.map(|b| set(SuggestionField::ProposedBody(b))));
    ops.extend(tags.map(|t| set(SuggestionField::ProposedTags(t))));
    ops.extend(rationale.map(|r| set(SuggestionField::Rationale(r))));
    ops.extend(language.map(|l| set(SuggestionField::ProposedLanguage(l))));
    ops
}

/// A suggestion as its registers hold it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuggestionRead {
    /// What was proposed.
    pub proposal: Proposal,
    /// Its review state (`None`: nothing stored).
    pub state: Option<SuggestionState>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// The article version that took it in.
    pub accepted_version: Option<u32>,
}

/// Reads a suggestion's registers.
pub fn read_suggestion(state: &EntityState) -> SuggestionRead {
    let mut read = SuggestionRead::default();
    for register in state.registers.values() {
        let FieldValue::Suggestion(field) = &register.winner.value else {
            continue;
        };
        let p = &mut read.proposal;
        match field {
            SuggestionField::ArticleId(id) => p.article_id = id.clone(),
            SuggestionField::BaseVersion(v) => p.base_version = *v,
            SuggestionField::ProposedTitle(t) => p.title = Some(t.clone()),
            SuggestionField::ProposedBody(b) => p.body = Some(b.clone()),
            SuggestionField::ProposedTags(t) => p.tags = Some(t.clone()),
            SuggestionField::Rationale(r) => p.rationale = Some(r.clone()),
            SuggestionField::AuthorTenant(t) => p.author_tenant = t.clone(),
            SuggestionField::State(s) => read.state = Some(*s),
            SuggestionField::ProposedLanguage(l) => p.language = Some(*l),
            SuggestionField::RejectReason(r) => read.reject_reason = Some(r.clone()),
            SuggestionField::AcceptedVersion(v) => read.accepted_version = Some(*v),
        }
    }
    read
}

/// Refuses a decision on a suggestion that is not open; otherwise reads it.
pub fn check_open(suggestion: &EntityState) -> Result<SuggestionRead, AuthoringConflict> {
    let read = read_suggestion(suggestion);
    match read.state {
        None | Some(SuggestionState::Open) => Ok(read),
        Some(state) => Err(AuthoringConflict::Decided {
            id: suggestion.key.id.clone(),
            state: state.as_str(),
        }),
    }
}

/// What accepting a suggestion writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The article's ops: the proposal over the current published content, as the next
    /// version.
    pub article_ops: Vec<FieldOp>,
    /// The suggestion's ops: accepted, with that version.
    pub suggestion_ops: Vec<FieldOp>,
    /// The new version.
    pub version: u32,
    /// The version the proposer saw was older than the current one.
    pub stale_base: bool,
}

/// Accepts an open suggestion over the article as stored: what the proposal leaves out stays
/// as published. Nothing is taken from the in-house draft, which stays as it is: the proposer
/// never saw it, and accepting must not publish what in-house has not (a proposal for an
/// article never published must bring its own title, body and language).
pub fn accept(
    article: &EntityState,
    suggestion: &EntityState,
) -> Result<Acceptance, AuthoringConflict> {
    let read = check_open(suggestion)?;
    let current = read_article(article);
    let fallback = current.published.clone();
    let p = read.proposal;
    let incomplete = |missing| AuthoringConflict::Incomplete {
        id: suggestion.key.id.clone(),
        article: p.article_id.clone(),
        missing,
    };
    let content = ArticleContent {
        language: p.language.or(fallback.language),
        title: p.title.clone().unwrap_or(fallback.title),
        body: p.body.clone().unwrap_or(fallback.body),
        tags: p.tags.clone().unwrap_or(fallback.tags),
        focus_teams: fallback.focus_teams,
    };
    if content.language.is_none() {
        return Err(incomplete("language"));
    }
    if content.title.trim().is_empty() {
        return Err(incomplete("title"));
    }
    if content.body.trim().is_empty() {
        return Err(incomplete("body"));
    }
    let version = current.version + 1;
    let mut article_ops = publication(version, content);
    // An accepted proposal leaves the in-house working copy alone.
    article_ops.retain(|op| {
        !matches!(
            op,
            FieldOp::Set(FieldValue::Article(ArticleField::Draft(_)))
        )
    });
    Ok(Acceptance {
        article_ops,
        suggestion_ops: vec![
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::State(
                SuggestionState::Accepted,
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AcceptedVersion(
                version,
            ))),
        ],
        version,
        stale_base: p.base_version < current.version,
    })
}

/// Rejects an open suggestion with a reason the proposing site sees.
pub fn reject_ops(
    suggestion: &EntityState,
    reason: String,
) -> Result<Vec<FieldOp>, AuthoringConflict> {
    check_open(suggestion)?;
    Ok(vec![
        FieldOp::Set(FieldValue::Suggestion(SuggestionField::State(
            SuggestionState::Rejected,
        ))),
        FieldOp::Set(FieldValue::Suggestion(SuggestionField::RejectReason(
            reason,
        ))),
    ])
}

#[cfg(test)]
mod tests;
