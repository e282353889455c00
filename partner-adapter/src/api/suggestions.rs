//! Suggestions: any site proposes an edit of an article it sees, or a new article; only the
//! in-house team accepts (a new published version, then the suggestion marked accepted) or
//! rejects (with a reason the proposing site sees). A partner site lists its tenant's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use hotline_federation::authoring::{self, Proposal, read_article, read_suggestion};
use hotline_federation::model::{EntityKey, EntityKind, SuggestionState};
use hotline_federation::visibility::sees;
use hotline_federation::{EntityState, FieldOp, FieldValue};

use super::articles::{authorize_first, slug_key, write};
#[allow(unused_imports)] // Named by the path parameters' schemas only.
use super::fields::Slug;
use super::requests::{NewSuggestion, Rejection, SuggestionFilter};
use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::sync::now_ms;
use crate::views::knowledge::{self as view, SuggestionAccepted, SuggestionList, SuggestionView};

/// The last number handed out for a suggestion id; seeded from the clock, so numbers stay
/// unique across restarts while the clock does not run back past them.
static LAST_NUMBER: AtomicU64 = AtomicU64::new(0);

/// The next suggestion number: the clock in ms, or one more than the last if that is not
/// greater.
fn next_number() -> u64 {
    let now = now_ms();
    let mut last = LAST_NUMBER.load(Ordering::SeqCst);
    loop {
        let next = now.max(last + 1);
        match LAST_NUMBER.compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

fn not_found(id: &str, site: &str) -> Error {
    Error::NotFound(format!("suggestion {id} is not known at site {site}"))
}

/// The suggestion as this site may see it; 404 alike when missing or hidden.
async fn load(app: &Arc<App>, key: EntityKey) -> Result<EntityState> {
    let replica = app.replica.clone();
    let id = key.id.clone();
    let state = blocking(move || replica.entity(&key)).await?;
    if state.is_empty() || !sees(&app.config.tenant, &state, &Default::default()) {
        return Err(not_found(&id, &app.config.site));
    }
    Ok(state)
}

/// Propose an edit or a new article
///
/// Any site proposes an edit of an article it holds (what it leaves out stays as published;
/// `base_version` defaults to the version the site holds) or a new article under an id the
/// site does not hold (`title`, `body` and `language` required). The id is
/// `<site>-<number>`; the in-house team sees it once synced. A rule that depends on what the
/// site holds answers 422 `invalid` (a new article without its title, body or language, an
/// edit proposing nothing), a `base_version` newer than the site holds 409.
#[utoipa::path(post, path = "/v1/kb/suggestions", tag = "knowledge",
    operation_id = "proposeSuggestion", request_body = NewSuggestion,
    responses((status = 201, description = "The suggestion, open.", body = SuggestionView),
        WriteErrors))]
pub(crate) async fn propose(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<SuggestionView>)> {
    let request: NewSuggestion = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let article_key = EntityKey::new(EntityKind::Article, request.article_id.0.clone());
    let replica = app.replica.clone();
    let tenant = app.config.tenant.clone();
    let article = blocking(move || {
        let state = replica.entity(&article_key)?;
        let seen = !state.is_empty() && sees(&tenant, &state, &replica.directory()?);
        Ok(seen.then_some(state))
    })
    .await?;
    let invalid = |field: &str, problem: &str| {
        Error::Domain(hotline_federation::Error::invalid(field, problem))
    };
    let base_version = match &article {
        Some(article) => {
            let held = read_article(article).version;
            let base = request.base_version.map_or(held, |v| v.0);
            if base > held {
                return Err(Error::Conflict(format!(
                    "base_version {base} is newer than version {held} of article {} held at \
                     this site; propose against {held} or wait for the site to sync",
                    request.article_id
                )));
            }
            if request.title.is_none() && request.body.is_none() && request.tags.is_none() {
                return Err(invalid(
                    "body",
                    "an edit proposes at least one of title, body or tags",
                ));
            }
            base
        }
        None => {
            if request.base_version.is_some_and(|v| v.0 != 0) {
                return Err(Error::Conflict(format!(
                    "article {} is not known at this site, so a proposal for it is a new \
                     article: base_version 0 or none",
                    request.article_id
                )));
            }
            let missing = [
                ("title", request.title.is_none()),
                ("body", request.body.is_none()),
                ("language", request.language.is_none()),
            ];
            if let Some((field, _)) = missing.iter().find(|(_, absent)| *absent) {
                return Err(invalid(
                    field,
                    &format!(
                        "article {} is not known at this site, so this proposes a new article, \
                         which needs title, body and language",
                        request.article_id
                    ),
                ));
            }
            0
        }
    };
    let proposal = Proposal {
        article_id: request.article_id.0,
        base_version,
        title: request.title.map(|t| t.0),
        body: request.body.map(|b| b.0),
        tags: request.tags.map(|t| t.into_iter().map(|t| t.0).collect()),
        rationale: request.rationale.map(|r| r.0),
        language: request.language.map(|l| l.0),
        author_tenant: app.config.tenant.clone(),
    };
    // A number taken meanwhile (another process of this site before a restart with a clock
    // set back) is skipped.
    for _ in 0..8 {
        let key = EntityKey::new(
            EntityKind::Suggestion,
            format!("{}-{}", app.config.site, next_number()),
        );
        let ops = authoring::propose_ops(proposal.clone());
        match write(&app, key, move |before| {
            if before.is_empty() {
                Ok(ops)
            } else {
                Err(Error::Conflict("suggestion id taken".into()))
            }
        })
        .await
        {
            Ok(after) => return Ok((StatusCode::CREATED, Json(view::suggestion(&after)))),
            Err(Error::Conflict(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(
        "no free suggestion id was found; try again".into(),
    ))
}

/// List suggestions
///
/// In-house: every suggestion; a partner site: its tenant's own.
#[utoipa::path(get, path = "/v1/kb/suggestions", tag = "knowledge",
    operation_id = "listSuggestions", params(SuggestionFilter),
    responses((status = 200, description = "The suggestions, by id.", body = SuggestionList),
        ReadErrors))]
pub(crate) async fn list(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<SuggestionFilter>, QueryRejection>,
) -> Result<Json<SuggestionList>> {
    let Query(filter) = query
        .map_err(|e| Error::BadRequest(format!("{}; allowed parameters: state", e.body_text())))?;
    let replica = app.replica.clone();
    let all = blocking(move || replica.entities(EntityKind::Suggestion)).await?;
    let suggestions = all
        .iter()
        .filter(|s| sees(&app.config.tenant, s, &Default::default()))
        .filter(|s| {
            filter.state.is_none_or(|wanted| {
                read_suggestion(s).state.unwrap_or(SuggestionState::Open) == wanted.0
            })
        })
        .map(view::suggestion)
        .collect();
    Ok(Json(SuggestionList { suggestions }))
}

/// Read a suggestion
///
/// With its decision once the in-house team has made it (and the site has synced).
#[utoipa::path(get, path = "/v1/kb/suggestions/{id}", tag = "knowledge",
    operation_id = "getSuggestion",
    params(("id" = Slug, Path, description = "The suggestion's id, `<site>-<number>`.")),
    responses((status = 200, description = "The suggestion.", body = SuggestionView),
        ReadErrors))]
pub(crate) async fn read(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<SuggestionView>> {
    let state = load(&app, slug_key(EntityKind::Suggestion, id)?).await?;
    Ok(Json(view::suggestion(&state)))
}

/// The decision's ops as a probe for the authority (a partner is refused here).
fn decision_probe() -> Vec<FieldOp> {
    vec![FieldOp::Set(FieldValue::Suggestion(
        hotline_federation::model::SuggestionField::State(SuggestionState::Accepted),
    ))]
}

/// Accept a suggestion (in-house)
///
/// The proposal becomes the article's next published version (what it leaves out stays as
/// published), then the suggestion is marked accepted with that version. A suggestion written
/// against an older version is still accepted; `stale_base` says so. 409 when it was decided
/// already.
#[utoipa::path(post, path = "/v1/kb/suggestions/{id}/accept", tag = "knowledge",
    operation_id = "acceptSuggestion",
    params(("id" = Slug, Path, description = "The suggestion's id.")),
    responses((status = 200, description = "The suggestion and the new article version.",
        body = SuggestionAccepted), WriteErrors))]
pub(crate) async fn accept(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
) -> Result<Json<SuggestionAccepted>> {
    let key = slug_key(EntityKind::Suggestion, id)?;
    // One decision at a time: a reject or another accept that got here first is seen below
    // as decided (409), before the article is written.
    let _deciding = app.decisions.lock().await;
    let suggestion = load(&app, key.clone()).await?;
    authorize_first(&app, &key, &suggestion, decision_probe())?;
    let proposal = read_suggestion(&suggestion).proposal;
    let article_key = EntityKey::new(EntityKind::Article, proposal.article_id.clone());
    // Checked here first, so that a refusal writes nothing at all.
    let replica = app.replica.clone();
    let probe_key = article_key.clone();
    let article_before = blocking(move || replica.entity(&probe_key)).await?;
    authoring::accept(&article_before, &suggestion)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let held = suggestion.clone();
    let article = write(&app, article_key, move |before| {
        let acceptance = authoring::accept(before, &held)?;
        let _ = tx.send(acceptance.clone());
        Ok(acceptance.article_ops)
    })
    .await?;
    let acceptance = rx
        .recv()
        .map_err(|_| Error::Storage("the acceptance was lost".into()))?;
    let ops = acceptance.suggestion_ops.clone();
    let decided = write(&app, key, move |before| {
        authoring::check_open(before)?;
        Ok(ops)
    })
    .await
    .map_err(|error| match error {
        // Decided meanwhile at another in-house site (synced between the two writes): the
        // article version stands and the tool must hear of it.
        Error::Conflict(problem) => Error::Conflict(format!(
            "article {} was published as version {} from this suggestion, but then: {problem};              check the article and publish another version if it should not stand",
            proposal.article_id, acceptance.version
        )),
        other => other,
    })?;
    let message = if acceptance.stale_base {
        format!(
            "accepted as version {} of article {}; the suggestion was written against version \
             {}, so what it leaves out comes from version {}",
            acceptance.version,
            proposal.article_id,
            proposal.base_version,
            acceptance.version - 1
        )
    } else {
        format!(
            "accepted as version {} of article {}",
            acceptance.version, proposal.article_id
        )
    };
    Ok(Json(SuggestionAccepted {
        suggestion: view::suggestion(&decided),
        article: view::article(&article, true, Vec::new()),
        stale_base: acceptance.stale_base,
        message,
    }))
}

/// Reject a suggestion (in-house)
///
/// With a reason, which the proposing site sees once synced. 409 when it was decided already.
#[utoipa::path(post, path = "/v1/kb/suggestions/{id}/reject", tag = "knowledge",
    operation_id = "rejectSuggestion", request_body = Rejection,
    params(("id" = Slug, Path, description = "The suggestion's id.")),
    responses((status = 200, description = "The suggestion, rejected.", body = SuggestionView),
        WriteErrors))]
pub(crate) async fn reject(
    State(app): State<Arc<App>>,
    id: std::result::Result<Path<String>, PathRejection>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<SuggestionView>> {
    let key = slug_key(EntityKind::Suggestion, id)?;
    let request: Rejection = parse(body, app.config.api.max_body_bytes)?;
    let _deciding = app.decisions.lock().await;
    let suggestion = load(&app, key.clone()).await?;
    authorize_first(&app, &key, &suggestion, decision_probe())?;
    let after = write(&app, key, move |before| {
        Ok(authoring::reject_ops(before, request.reason.0)?)
    })
    .await?;
    Ok(Json(view::suggestion(&after)))
}
