//! Knowledge-base articles: written and published in-house (a partner's write is refused by the
//! federation's authority before anything is looked at), read by every site as its replica
//! holds them, and imported in batches by `hotline kb import`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hotline_federation::authoring::{
    self, AuthoringConflict, SuggestionRead, read_article, read_suggestion,
};
use hotline_federation::authority::{Caller, Refusal, authorize};
use hotline_federation::ids::{INHOUSE, check_slug};
use hotline_federation::model::{EntityKey, EntityKind, SuggestionState};
use hotline_federation::visibility::sees;
use hotline_federation::{Change, EntityState, FieldOp, Hlc};

#[allow(unused_imports)] // Named by the path parameters' schemas only.
use super::fields::Slug;
use super::fields::problem;
use super::requests::{ArticleDraftText, ArticleFilter, ArticleImport, NewArticle};
use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::sync::now_ms;
use crate::views::knowledge::{
    self as view, ArticleList, ArticleVersions, ArticleView, ImportResult, ImportedArticle,
};

impl App {
    /// Whether this is an in-house site.
    pub(crate) fn inhouse(&self) -> bool {
        self.config.tenant == INHOUSE
    }
}

/// The entity a path's id names: a slug, or 400 as a malformed ticket number is.
pub(crate) fn slug_key(
    kind: EntityKind,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<EntityKey> {
    let Path(id) = id.map_err(|e| Error::BadRequest(format!("id: {}", e.body_text())))?;
    check_slug("id", &id).map_err(|e| Error::BadRequest(format!("id: {}", problem(e))))?;
    Ok(EntityKey::new(kind, id))
}

/// Asks the federation's authority whether this site may write `ops` to `key` as it stands
/// (`before`), before anything else is looked at: a partner's write to an article is refused
/// alike whether the article exists, is hidden from it, or has no draft.
pub(crate) fn authorize_first(
    app: &App,
    key: &EntityKey,
    before: &EntityState,
    ops: Vec<FieldOp>,
) -> Result<()> {
    let probe = Change {
        key: key.clone(),
        ops,
        origin_site: app.config.site.clone(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    };
    let caller = Caller::Site {
        tenant: app.config.tenant.clone(),
        site: app.config.site.clone(),
    };
    let directory = hotline_federation::visibility::Directory::default();
    authorize(&caller, &probe, before, &directory, "", |_| true).map_err(Error::Refused)
}

fn not_found(id: &str, site: &str) -> Error {
    Error::NotFound(format!("article {id} is not known at site {site}"))
}

/// The article as this site may see it; 404 alike when missing or hidden.
async fn load(app: &Arc<App>, key: EntityKey) -> Result<(EntityState, Vec<String>)> {
    let replica = app.replica.clone();
    let tenant = app.config.tenant.clone();
    let inhouse = app.inhouse();
    let id = key.id.clone();
    let (state, credits) = blocking(move || {
        let state = replica.entity(&key)?;
        if state.is_empty() || !sees(&tenant, &state, &replica.directory()?) {
            return Ok((None, Vec::new()));
        }
        let credits = if inhouse {
            credits(&replica.entities(EntityKind::Suggestion)?, &key.id)
        } else {
            Vec::new()
        };
        Ok((Some(state), credits))
    })
    .await?;
    let state = state.ok_or_else(|| not_found(&id, &app.config.site))?;
    Ok((state, credits))
}

/// The tenants whose suggestions for `article` were accepted, each once, sorted.
fn credits(suggestions: &[EntityState], article: &str) -> Vec<String> {
    let mut tenants: Vec<String> = suggestions
        .iter()
        .map(read_suggestion)
        .filter(|s: &SuggestionRead| {
            s.state == Some(SuggestionState::Accepted) && s.proposal.article_id == article
        })
        .map(|s| s.proposal.author_tenant)
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    tenants
}

/// One local write of an article through the authority; `build` gets what is stored.
pub(crate) async fn write(
    app: &Arc<App>,
    key: EntityKey,
    build: impl FnOnce(&EntityState) -> Result<Vec<FieldOp>> + Send + 'static,
) -> Result<EntityState> {
    app.check_clock()?;
    let site = app.config.site.clone();
    let (_, after) = app
        .writer
        .checked_change(
            key.clone(),
            now_ms(),
            app.events.clone(),
            move |seq, hlc, before, _| {
                Ok(Change {
                    key,
                    ops: build(before)?,
                    origin_site: site,
                    origin_seq: seq,
                    hlc,
                })
            },
        )
        .await?;
    app.outbox.notify_one();
    app.events.notify.notify_one();
    Ok(after)
}

/// Write an article (in-house)
///
/// Creates an article as a draft: state `draft`, version 0, the content as its draft. Nothing
/// reaches partner sites until it is published. 409 when the id exists.
#[utoipa::path(post, path = "/v1/kb/articles", tag = "knowledge", operation_id = "createArticle",
    request_body = NewArticle,
    responses((status = 201, description = "The new article.", body = ArticleView),
        WriteErrors))]
pub(crate) async fn create(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ArticleView>)> {
    let request: NewArticle = parse(body, app.config.api.max_body_bytes)?;
    let key = EntityKey::new(EntityKind::Article, request.id.0.clone());
    authorize_first(&app, &key, &EntityState::new(key.clone()), Vec::new())?;
    let content = request.content();
    let after = write(&app, key, move |before| {
        if !before.is_empty() {
            return Err(AuthoringConflict::Exists(before.key.id.clone()).into());
        }
        Ok(authoring::create_ops(content))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(view::article(&after, true, Vec::new())),
    ))
}

/// Replace an article's draft (in-house)
///
/// The working copy of the article's next version, replaced as a whole. Partners never
/// receive it.
#[utoipa::path(put, path = "/v1/kb/articles/{id}/draft", tag = "knowledge",
    operation_id = "putArticleDraft", request_body = ArticleDraftText,
    params(("id" = Slug, Path, description = "The article's id.")),
    responses((status = 200, description = "The article with its new draft.",
        body = ArticleView), WriteErrors))]
pub(crate) async fn draft(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<ArticleView>> {
    let key = slug_key(EntityKind::Article, id)?;
    let request: ArticleDraftText = parse(body, app.config.api.max_body_bytes)?;
    authorize_first(&app, &key, &EntityState::new(key.clone()), Vec::new())?;
    let site = app.config.site.clone();
    let after = write(&app, key.clone(), move |before| {
        if before.is_empty() {
            return Err(not_found(&key.id, &site));
        }
        Ok(authoring::draft_ops(request.content()))
    })
    .await?;
    article_answer(&app, after).await
}

/// Publish an article's draft (in-house)
///
/// The draft becomes the next version (version, language, title, body, tags, focus teams),
/// the state `published`, and the draft is emptied; every site receives the new version. 409
/// when there is no draft.
#[utoipa::path(post, path = "/v1/kb/articles/{id}/publish", tag = "knowledge",
    operation_id = "publishArticle",
    params(("id" = Slug, Path, description = "The article's id.")),
    responses((status = 200, description = "The article as published.", body = ArticleView),
        WriteErrors))]
pub(crate) async fn publish(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<ArticleView>> {
    let key = slug_key(EntityKind::Article, id)?;
    authorize_first(&app, &key, &EntityState::new(key.clone()), Vec::new())?;
    let site = app.config.site.clone();
    let after = write(&app, key.clone(), move |before| {
        if before.is_empty() {
            return Err(not_found(&key.id, &site));
        }
        Ok(authoring::publish_ops(before)?)
    })
    .await?;
    article_answer(&app, after).await
}

/// Retire an article (in-house)
///
/// Takes the article out of use; sites keep it as history (state `retired`).
#[utoipa::path(post, path = "/v1/kb/articles/{id}/retire", tag = "knowledge",
    operation_id = "retireArticle",
    params(("id" = Slug, Path, description = "The article's id.")),
    responses((status = 200, description = "The article, retired.", body = ArticleView),
        WriteErrors))]
pub(crate) async fn retire(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<ArticleView>> {
    let key = slug_key(EntityKind::Article, id)?;
    authorize_first(&app, &key, &EntityState::new(key.clone()), Vec::new())?;
    let site = app.config.site.clone();
    let after = write(&app, key.clone(), move |before| {
        if before.is_empty() {
            return Err(not_found(&key.id, &site));
        }
        Ok(authoring::retire_ops())
    })
    .await?;
    article_answer(&app, after).await
}

/// The article after a write, with its credits.
async fn article_answer(app: &Arc<App>, after: EntityState) -> Result<Json<ArticleView>> {
    let (state, credits) = load(app, after.key.clone()).await?;
    Ok(Json(view::article(&state, app.inhouse(), credits)))
}

/// List articles
///
/// The articles this site holds: at a partner site the published and retired ones; in-house
/// also the drafts.
#[utoipa::path(get, path = "/v1/kb/articles", tag = "knowledge", operation_id = "listArticles",
    params(ArticleFilter),
    responses((status = 200, description = "The articles, by id.", body = ArticleList),
        ReadErrors))]
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<ArticleFilter>, QueryRejection>,
) -> Result<Json<ArticleList>> {
    let Query(filter) = query.map_err(|e| {
        Error::BadRequest(format!(
            "{}; allowed parameters: state, language",
            e.body_text()
        ))
    })?;
    let replica = app.replica.clone();
    let tenant = app.config.tenant.clone();
    let articles = blocking(move || {
        let directory = replica.directory()?;
        Ok(replica
            .entities(EntityKind::Article)?
            .into_iter()
            .filter(|a| sees(&tenant, a, &directory))
            .collect::<Vec<_>>())
    })
    .await?;
    let inhouse = app.inhouse();
    let articles = articles
        .iter()
        .filter(|a| {
            let read = read_article(a);
            filter.state.is_none_or(|s| read.state == Some(s.0))
                && filter
                    .language
                    .is_none_or(|l| read.published.language == Some(l.0))
        })
        .map(|a| view::article_summary(a, inhouse))
        .collect();
    Ok(Json(ArticleList { articles }))
}

/// Read an article
///
/// The article as this site holds it; in-house with its draft and credits.
#[utoipa::path(get, path = "/v1/kb/articles/{id}", tag = "knowledge",
    operation_id = "getArticle",
    params(("id" = Slug, Path, description = "The article's id.")),
    responses((status = 200, description = "The article.", body = ArticleView), ReadErrors))]
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<ArticleView>> {
    let key = slug_key(EntityKind::Article, id)?;
    let (state, credits) = load(&app, key).await?;
    Ok(Json(view::article(&state, app.inhouse(), credits)))
}

/// An article's published versions
///
/// The versions this site holds, newest first, each with the content published with it: an
/// in-house site keeps the last nine publications; a partner site holds the current version
/// only (superseded writes stay in-house). Drafts are never versions.
#[utoipa::path(get, path = "/v1/kb/articles/{id}/versions", tag = "knowledge",
    operation_id = "getArticleVersions",
    params(("id" = Slug, Path, description = "The article's id.")),
    responses((status = 200, description = "The versions, newest first.",
        body = ArticleVersions), ReadErrors))]
pub(crate) async fn versions(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<ArticleVersions>> {
    let key = slug_key(EntityKind::Article, id)?;
    let (state, _) = load(&app, key).await?;
    Ok(Json(view::versions(&state)))
}

/// The same error, saying which article of an import it is about.
fn at_index(index: usize, id: &str, error: Error) -> Error {
    let place = |message: String| format!("articles[{index}] ({id}): {message}");
    match error {
        Error::Refused(r) => Error::Refused(Refusal::new(r.rule, place(r.message))),
        Error::Domain(_) => {
            let (status, _) = error.status();
            let message = place(error.for_api().to_string());
            if status == 400 {
                Error::BadRequest(message)
            } else {
                Error::Domain(hotline_federation::Error::invalid(
                    format!("articles[{index}]"),
                    message,
                ))
            }
        }
        Error::Conflict(m) => Error::Conflict(place(m)),
        Error::NotFound(m) => Error::NotFound(place(m)),
        other => other,
    }
}

/// Import articles (in-house)
///
/// Each article becomes a new draft (a new article, or a new draft over a known one),
/// published at once as its next version unless `publish` is false. Every article is checked
/// first (fields, sizes, ids given twice, the federation's rules); one that fails answers
/// naming its index (`articles[3]`) and nothing is written.
#[utoipa::path(post, path = "/v1/kb/import", tag = "knowledge", operation_id = "importArticles",
    request_body = ArticleImport,
    responses((status = 200, description = "What happened to each article, in order.",
        body = ImportResult), WriteErrors))]
pub(crate) async fn import(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<ImportResult>> {
    let request: ArticleImport = parse(body, app.config.api.max_body_bytes)?;
    let publish = request.publish.unwrap_or(true);
    let mut seen = BTreeMap::new();
    for (i, article) in request.articles.iter().enumerate() {
        if let Some(first) = seen.insert(article.id.0.clone(), i) {
            return Err(Error::BadRequest(format!(
                "articles[{i}].id: {:?} is also articles[{first}].id; each article at most once \
                 per import",
                article.id.0
            )));
        }
    }
    app.check_clock()?;
    let articles: Vec<(EntityKey, authoring::ArticleContent)> = request
        .articles
        .iter()
        .map(|a| {
            (
                EntityKey::new(EntityKind::Article, a.id.0.clone()),
                a.content(),
            )
        })
        .collect();
    for (i, (key, _)) in articles.iter().enumerate() {
        authorize_first(&app, key, &EntityState::new(key.clone()), Vec::new())
            .map_err(|e| at_index(i, &key.id, e))?;
    }
    // Every change is built and checked against what is stored before the first is written.
    let checking = app.clone();
    let planned = articles.clone();
    let existed = blocking(move || {
        let mut existed = Vec::with_capacity(planned.len());
        for (i, (key, content)) in planned.into_iter().enumerate() {
            let before = checking.replica.entity(&key)?;
            let change = Change {
                key: key.clone(),
                ops: authoring::import_ops(&before, content, publish),
                origin_site: checking.config.site.clone(),
                origin_seq: 1,
                hlc: Hlc::new(now_ms(), 0),
            };
            let checked = change.validate().map_err(Error::Domain).and_then(|()| {
                hotline_federation::limits::check_change(&before, &change).map_err(|e| {
                    Error::Refused(Refusal::new(
                        hotline_federation::authority::Rule::EntityBounds,
                        Error::Domain(e).for_api().to_string(),
                    ))
                })
            });
            checked.map_err(|e| at_index(i, &key.id, e))?;
            existed.push(!before.is_empty());
        }
        Ok(existed)
    })
    .await?;
    let mut done = Vec::with_capacity(articles.len());
    for (i, ((key, content), existed)) in articles.into_iter().zip(existed).enumerate() {
        let id = key.id.clone();
        let after = write(&app, key, move |before| {
            Ok(authoring::import_ops(before, content, publish))
        })
        .await
        .map_err(|e| at_index(i, &id, e))?;
        let read = read_article(&after);
        done.push(ImportedArticle {
            id,
            outcome: if existed { "updated" } else { "created" }.into(),
            state: read.state.map_or("draft", |s| s.as_str()).into(),
            version: read.version,
        });
    }
    Ok(Json(ImportResult {
        articles: done,
        published: publish,
    }))
}
