//! The brand at a site: read it, render its greetings and templates for a ticket, and (in-house)
//! publish a new version. Every rendered text passes the leak guard before a tool sees it.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use hotline_federation::authority::{Refusal, Rule};
use hotline_federation::brand::{Brand, BrandError, check_template};
use hotline_federation::customer::status_text;
use hotline_federation::model::{
    Channel, EntityKey, EntityKind, FieldValue, Language, TicketField,
};
use hotline_federation::{Change, EntityState};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::fields::{ChannelName, LanguageName, RequiredLine, Slug, TicketNumber};
use super::requests::NewBrand;
use super::tickets::blocking;
use super::{App, parse};
use crate::error::{Error, Result};
use crate::openapi::{ReadErrors, WriteErrors};
use crate::replica::{OPENING_TEMPLATE, OpeningFace};
use crate::sync::now_ms;
use crate::views::brand::{BrandView, Greeting, Rendered, view};

/// The brand's entity key: there is one brand.
fn brand_key() -> EntityKey {
    EntityKey::new(EntityKind::Brand, "brand")
}

async fn current(app: &Arc<App>) -> Result<Brand> {
    let replica = app.replica.clone();
    let state = blocking(move || replica.entity(&brand_key())).await?;
    let brand = Brand::from_state(&state);
    if brand.version == 0 {
        return Err(Error::NotFound(
            "no brand has been published yet; the in-house team publishes it with PUT /v1/brand"
                .into(),
        ));
    }
    Ok(brand)
}

/// Read the brand
///
/// The brand as this site holds it: what every customer-visible text is rendered from.
#[utoipa::path(get, path = "/v1/brand", tag = "brand", operation_id = "getBrand",
    responses((status = 200, description = "The brand.", body = BrandView), ReadErrors))]
pub(crate) async fn read(State(app): State<Arc<App>>) -> Result<Json<BrandView>> {
    Ok(Json(view(&current(&app).await?)))
}

/// Publish a new brand version (in-house)
///
/// Replaces the whole brand and raises its version by one; every site renders from it once
/// synced. Templates may use only the listed placeholders; greetings, templates and the
/// signature must pass the leak guard themselves. Partners get 422 `inhouse_owns_shared_kinds`.
#[utoipa::path(put, path = "/v1/brand", tag = "brand", operation_id = "publishBrand",
    request_body = NewBrand,
    responses((status = 200, description = "The brand as published.", body = BrandView),
        WriteErrors))]
pub(crate) async fn publish(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<BrandView>> {
    let request: NewBrand = parse(body, app.config.api.max_body_bytes)?;
    app.check_clock()?;
    let mut next = brand_of(request)?;
    let app2 = app.clone();
    let (_, after) = blocking(move || {
        let app = app2;
        let replica = app.replica.clone();
        let site = app.config.site.clone();
        let guard_names = replica.guard_terms()?;
        let inhouse = app.config.tenant == hotline_federation::ids::INHOUSE;
        replica.checked_change(
            &brand_key(),
            now_ms(),
            &app.events,
            |seq, hlc, before, _| {
                let published = Brand::from_state(before);
                next.version = published.version + 1;
                // A partner's publication is refused by the authority, whatever it says.
                if inhouse {
                    check_customer_texts(&next, guard_names)?;
                }
                Ok(Change {
                    key: brand_key(),
                    ops: next.publish_ops(&published),
                    origin_site: site.clone(),
                    origin_seq: seq,
                    hlc,
                })
            },
        )
    })
    .await?;
    app.outbox.notify_one();
    Ok(Json(view(&Brand::from_state(&after))))
}

/// The brand a request describes, with its templates checked.
fn brand_of(request: NewBrand) -> Result<Brand> {
    let invalid = |field: String, problem: String| {
        Error::Domain(hotline_federation::Error::invalid(field, problem))
    };
    let texts = |list: Vec<RequiredLine>| list.into_iter().map(|t| t.0).collect();
    let mut brand = Brand {
        display_name: request.display_name.0,
        hotline_number: request.hotline_number.0,
        signature: request.signature.map(|s| s.0).unwrap_or_default(),
        forbidden_terms: texts(request.forbidden_terms),
        alias_patterns: texts(request.alias_patterns),
        accent_color: request.accent_color.map(|c| c.0).unwrap_or_default(),
        ..Brand::default()
    };
    for (i, g) in request.greetings.into_iter().enumerate() {
        if brand
            .greetings
            .insert((g.channel.0, g.language.0), g.text.0)
            .is_some()
        {
            return Err(invalid(
                format!("greetings[{i}]"),
                format!(
                    "a second greeting for {}/{}; give one per channel and language",
                    g.channel.0, g.language.0
                ),
            ));
        }
    }
    for (i, t) in request.templates.into_iter().enumerate() {
        // The field is named without its `.text`: the API's messages keep the last segment.
        check_template(&t.text.0)
            .map_err(|e| invalid(format!("templates[{i}]"), format!("text: {e}")))?;
        let key = (t.name.0.clone(), t.language.0);
        if brand.templates.insert(key, t.text.0).is_some() {
            return Err(invalid(
                format!("templates[{i}]"),
                format!(
                    "a second template {} in {}; give one per name and language",
                    t.name.0, t.language.0
                ),
            ));
        }
    }
    Ok(brand)
}

/// Refuses a brand whose own customer-visible texts name a tenant, site or agent, or whose
/// terms make no guard.
fn check_customer_texts(brand: &Brand, names: Vec<String>) -> Result<()> {
    let guard = brand.leak_guard(names).map_err(Error::Domain)?;
    let refuse = |leak: hotline_federation::leak::Leak| {
        Error::Refused(Refusal::new(Rule::CustomerTextClean, leak.to_string()))
    };
    for ((channel, language), text) in &brand.greetings {
        guard
            .check(&format!("greetings[{channel}/{language}]"), text)
            .map_err(refuse)?;
    }
    for ((name, language), text) in &brand.templates {
        guard
            .check(&format!("templates[{name}/{language}]"), text)
            .map_err(refuse)?;
    }
    guard.check("signature", &brand.signature).map_err(refuse)?;
    guard
        .check("display_name", &brand.display_name)
        .map_err(refuse)
}

/// Which greeting.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Only its description is used: the handler reads the pairs itself.
pub(crate) struct GreetingParams {
    /// The channel.
    #[param(value_type = ChannelName)]
    channel: String,
    /// The language.
    #[param(value_type = LanguageName)]
    lang: String,
}

/// The greeting for a channel and language
///
/// The brand's greeting script; a channel or language the brand has none for is 404 naming the
/// pairs that exist, never a blank.
#[utoipa::path(get, path = "/v1/brand/greeting", tag = "brand", operation_id = "getGreeting",
    params(GreetingParams),
    responses((status = 200, description = "The greeting.", body = Greeting), ReadErrors))]
pub(crate) async fn greeting(
    State(app): State<Arc<App>>,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Greeting>> {
    let Query(params) = query
        .map_err(|e| Error::BadRequest(format!("{}; allowed: channel, lang", e.body_text())))?;
    let mut channel = None;
    let mut language = None;
    for (name, value) in params {
        let bad = |e: hotline_federation::Error| Error::BadRequest(e.to_string());
        match name.as_str() {
            "channel" if channel.is_none() => {
                channel = Some(Channel::parse("channel", &value).map_err(bad)?);
            }
            "lang" if language.is_none() => {
                language = Some(Language::parse("lang", &value).map_err(bad)?);
            }
            other => {
                return Err(Error::BadRequest(format!(
                    "parameter {other:?} is unknown or repeated; allowed: channel and lang, once each"
                )));
            }
        }
    }
    let (Some(channel), Some(language)) = (channel, language) else {
        return Err(Error::BadRequest(
            "give both channel (phone, email, portal, chat) and lang (de, en)".into(),
        ));
    };
    let brand = current(&app).await?;
    let text = brand.greeting(channel, language).map_err(brand_error)?;
    Ok(Json(Greeting {
        channel: ChannelName(channel),
        language: LanguageName(language),
        text,
        brand_version: brand.version,
    }))
}

/// What to render.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenderRequest {
    /// The template's name.
    template: Slug,
    /// The ticket it is for; its fields fill the placeholders.
    ticket: TicketNumber,
    /// The language; default: the ticket's.
    language: Option<LanguageName>,
    /// The advisor's alias for `{agent_alias}` (never a partner's agent id: the leak guard
    /// checks the result).
    agent_alias: Option<String>,
}

/// Render a template for a ticket
///
/// Fills the brand's template with the ticket's fields (`public_number`, `status` in the
/// customer's words, `subject`, `customer_name` where the site may read it) and the brand's
/// (`display_name`, `hotline_number`, `signature`), plus `status_url` from the site's config.
/// An unknown template is 404; a missing language, an unknown placeholder or a placeholder
/// without a value is 422 `invalid` naming it, never a blank; a result that names a tenant, site
/// or agent is 422 `refused` (`customer_text_clean`).
#[utoipa::path(post, path = "/v1/brand/render", tag = "brand", operation_id = "renderTemplate",
    request_body = RenderRequest,
    responses((status = 200, description = "The rendered text.", body = Rendered), WriteErrors))]
pub(crate) async fn render(
    State(app): State<Arc<App>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<Rendered>> {
    let request: RenderRequest = parse(body, app.config.api.max_body_bytes)?;
    let brand = current(&app).await?;
    let replica = app.replica.clone();
    let key = EntityKey::new(EntityKind::Ticket, request.ticket.0.clone());
    let ticket = blocking(move || replica.entity(&key)).await?;
    if ticket.is_empty() {
        return Err(Error::NotFound(format!(
            "ticket {} is not known at site {}",
            request.ticket.0, app.config.site
        )));
    }
    let language = request
        .language
        .map(|l| l.0)
        .or_else(|| ticket_language(&ticket))
        .unwrap_or(Language::De);
    let mut values = ticket_values(&ticket, language);
    if !app.config.status_page_url.is_empty() {
        values.insert("status_url".into(), app.config.status_page_url.clone());
    }
    if let Some(alias) = request.agent_alias {
        values.insert("agent_alias".into(), alias);
    }
    let text = brand
        .render(&request.template.0, language, &values)
        .map_err(brand_error)?;
    let replica = app.replica.clone();
    let guard = blocking(move || replica.leak_guard()).await?;
    guard
        .check("text", &text)
        .map_err(|leak| Error::Refused(Refusal::new(Rule::CustomerTextClean, leak.to_string())))?;
    Ok(Json(Rendered {
        template: request.template.0,
        language: LanguageName(language),
        text,
        brand_version: brand.version,
    }))
}

/// The first customer message of a new ticket: the brand's [`OPENING_TEMPLATE`] in the
/// ticket's language, with the access code shown this once, as `face` (read by the writer with
/// the create) gives it. `None` when the site's brand has no such template; a template that
/// cannot be rendered or would leak is left out and logged (the ticket is stored either way;
/// the code is still in the answer).
pub(crate) fn opening_message(
    face: Option<&OpeningFace>,
    status_url: &str,
    ticket: &EntityState,
    code: &str,
) -> Option<String> {
    let face = face?;
    let language = ticket_language(ticket).unwrap_or(Language::De);
    let mut values = ticket_values(ticket, language);
    values.insert("access_code".into(), code.to_owned());
    if !status_url.is_empty() {
        values.insert("status_url".into(), status_url.to_owned());
    }
    let rendered = face
        .brand
        .render(OPENING_TEMPLATE, language, &values)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            face.guard
                .check("customer_message", &text)
                .map_err(|l| l.to_string())?;
            Ok(text)
        });
    match rendered {
        Ok(text) => Some(text),
        Err(problem) => {
            tracing::warn!(ticket = %ticket.key.id, %problem, "no first customer message");
            None
        }
    }
}

fn ticket_language(ticket: &EntityState) -> Option<Language> {
    match ticket.value("language") {
        Some(FieldValue::Ticket(TicketField::Language(l))) => Some(*l),
        _ => None,
    }
}

/// The placeholder values a ticket gives (the brand adds its own when rendering).
pub(crate) fn ticket_values(ticket: &EntityState, language: Language) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    values.insert("public_number".to_owned(), ticket.key.id.clone());
    for register in ticket.registers.values() {
        let FieldValue::Ticket(field) = &register.winner.value else {
            continue;
        };
        match field {
            TicketField::Status(t) => {
                values.insert("status".into(), status_text(t.to, language).to_owned());
            }
            TicketField::Subject(s) => {
                values.insert("subject".into(), s.clone());
            }
            TicketField::CustomerName(s) => {
                values.insert("customer_name".into(), s.clone());
            }
            _ => {}
        }
    }
    values
}

/// A brand error as the API answers it: a missing greeting or template is 404, the rest 422.
pub(crate) fn brand_error(e: BrandError) -> Error {
    match e {
        BrandError::MissingGreeting { .. } | BrandError::UnknownTemplate { .. } => {
            Error::NotFound(e.to_string())
        }
        BrandError::MissingLanguage { .. }
        | BrandError::UnknownPlaceholder { .. }
        | BrandError::MissingValue { .. }
        | BrandError::Syntax { .. } => Error::Domain(hotline_federation::Error::invalid(
            "template",
            e.to_string(),
        )),
    }
}
