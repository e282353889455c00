//! The request bodies and query of the API, as types: serde reads them and utoipa describes
//! them, so the OpenAPI document shows exactly what the handlers accept. Each field's own type
//! (see [`super::fields`]) carries its rule; these types add which fields exist and which are
//! required (unknown fields are refused: `additionalProperties: false`).

use hotline_federation::authoring::ArticleContent;
use hotline_federation::change::MAX_LIST_LEN;
use hotline_federation::lifecycle::{TicketEdit, TicketText};
use hotline_federation::model::{Priority, TicketStatus};
use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::fields::{
    ArticleStateName, CallSeconds, CategoryTerm, ChannelName, Colour, CommentBody, ElementId,
    EpochMs, LanguageName, LongText, NewStatusTerm, OneLine, OutcomeName, PriorityTerm,
    RequiredLine, Slug, StatusTerm, SuggestionStateName, TicketNumber, VersionNumber,
    VisibilityName, WaitSeconds,
};
use crate::error::{Error, Result};

/// A new ticket; optional fields may also be null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTicket {
    /// The customer's reference in the partner's CRM.
    pub(crate) customer_ref: RequiredLine,
    /// The focus team the ticket belongs to: one the site's tenant handles
    /// (`GET /v1/focus-teams`).
    pub(crate) focus_team: Slug,
    /// The category.
    pub(crate) category: CategoryTerm,
    /// Default: `normal` (in the site's terms).
    pub(crate) priority: Option<PriorityTerm>,
    /// Default: `new`.
    pub(crate) status: Option<NewStatusTerm>,
    /// Default: `de`.
    pub(crate) language: Option<LanguageName>,
    /// Default: `phone`.
    pub(crate) channel: Option<ChannelName>,
    /// The subject.
    pub(crate) subject: Option<OneLine>,
    /// The assigned advisor's alias.
    pub(crate) assignee_alias: Option<OneLine>,
    /// Solved at first contact; default: whether the status is `resolved`.
    pub(crate) first_contact: Option<bool>,
    /// The customer's name.
    pub(crate) customer_name: Option<OneLine>,
    /// The customer's email address.
    pub(crate) customer_email: Option<OneLine>,
    /// The customer's phone number.
    pub(crate) customer_phone: Option<OneLine>,
}

/// Changes to a ticket; absent or null fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TicketUpdate {
    /// The new status (see the operation for the transitions allowed).
    pub(crate) status: Option<StatusTerm>,
    /// The new priority.
    pub(crate) priority: Option<PriorityTerm>,
    /// The new category.
    pub(crate) category: Option<CategoryTerm>,
    /// The subject.
    pub(crate) subject: Option<OneLine>,
    /// The assigned advisor's alias.
    pub(crate) assignee_alias: Option<OneLine>,
    /// The focus team; only in-house moves a ticket to another one (partners escalate).
    pub(crate) focus_team: Option<Slug>,
    /// The site handling the ticket.
    pub(crate) handling_site: Option<Slug>,
    /// Solved at first contact.
    pub(crate) first_contact: Option<bool>,
    /// The customer's name.
    pub(crate) customer_name: Option<OneLine>,
    /// The customer's email address.
    pub(crate) customer_email: Option<OneLine>,
    /// The customer's phone number.
    pub(crate) customer_phone: Option<OneLine>,
}

impl TicketUpdate {
    /// The edit in the federation's terms, with the site's vocabulary already mapped.
    pub(crate) fn into_edit(
        self,
        status: Option<TicketStatus>,
        priority: Option<Priority>,
        category: Option<String>,
    ) -> TicketEdit {
        TicketEdit {
            status,
            priority,
            category,
            focus_team: self.focus_team.map(|v| v.0),
            handling_site: self.handling_site.map(|v| v.0),
            first_contact: self.first_contact,
            text: TicketText {
                subject: self.subject.map(|v| v.0),
                assignee_alias: self.assignee_alias.map(|v| v.0),
                customer_name: self.customer_name.map(|v| v.0),
                customer_email: self.customer_email.map(|v| v.0),
                customer_phone: self.customer_phone.map(|v| v.0),
            },
        }
    }
}

/// A new comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewComment {
    /// The advisor's alias.
    pub(crate) author_alias: OneLine,
    /// Who may read it.
    pub(crate) visibility: VisibilityName,
    /// The text.
    pub(crate) body: CommentBody,
    /// Files the comment carries (uploaded first with `POST /v1/files`), at most 8.
    #[serde(default)]
    pub(crate) attachments: Vec<super::files::NewAttachment>,
}

/// How to find tickets: exactly one of a customer's reference or a ticket number.
#[derive(Debug)]
pub(crate) enum Search {
    /// The tickets of a customer.
    Customer(RequiredLine),
    /// One ticket by number.
    Number(TicketNumber),
}

impl Search {
    /// The search of a query string's parameters; anything but exactly one of `customer_ref`
    /// or `number` is refused.
    pub(crate) fn from_query(params: Vec<(String, String)>) -> Result<Self> {
        let mut found = None;
        for (name, value) in params {
            let search = match name.as_str() {
                "customer_ref" => RequiredLine::parse(&value).map(Search::Customer),
                "number" => TicketNumber::parse(&value).map(Search::Number),
                other => {
                    return Err(Error::BadRequest(format!(
                        "unknown parameter {other:?}; allowed: exactly one of customer_ref or number"
                    )));
                }
            }
            .map_err(|problem| Error::BadRequest(format!("{name}: {problem}")))?;
            if found.replace(search).is_some() {
                return Err(Error::BadRequest(
                    "give exactly one of customer_ref or number, once".into(),
                ));
            }
        }
        found.ok_or_else(|| Error::BadRequest("give exactly one of customer_ref or number".into()))
    }
}

impl PartialSchema for Search {
    fn schema() -> RefOr<Schema> {
        let only = |name: &str, schema: RefOr<Schema>| {
            ObjectBuilder::new()
                .property(name, schema)
                .required(name)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .item(only("customer_ref", RequiredLine::schema()))
            .item(only("number", TicketNumber::schema()))
            .description(Some(
                "Exactly one of `customer_ref` (the customer's reference in the partner's CRM) \
                 or `number` (a public ticket number); other parameters are refused.",
            ))
            .into()
    }
}

impl ToSchema for Search {}

/// One ACD fact; optional fields may also be null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCallEvent {
    /// Unique within the call log; default `<site>-<origin_seq>`.
    pub(crate) id: Option<ElementId>,
    /// How the call ended.
    pub(crate) outcome: OutcomeName,
    /// How long the caller waited.
    pub(crate) wait_seconds: WaitSeconds,
    /// When it happened; default: now.
    pub(crate) at_ms: Option<EpochMs>,
    /// The focus team the call was for.
    pub(crate) focus_team: Option<Slug>,
    /// The ticket the call was about.
    pub(crate) ticket_number: Option<TicketNumber>,
    /// How long the advisor talked with the caller; default 0.
    pub(crate) talk_seconds: Option<CallSeconds>,
    /// How long the after-call work (wrap-up) took; default 0.
    pub(crate) wrap_seconds: Option<CallSeconds>,
}

/// At most [`MAX_LIST_LEN`] entries, as the federation allows in an article's lists.
fn bounded<'de, D, T>(d: D) -> std::result::Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let list = Vec::<T>::deserialize(d)?;
    if list.len() > MAX_LIST_LEN {
        return Err(serde::de::Error::custom(format!(
            "{} entries is more than allowed; at most {MAX_LIST_LEN}",
            list.len()
        )));
    }
    Ok(list)
}

/// Like [`bounded`], for a list that may be left out or null.
fn bounded_or_null<'de, D, T>(d: D) -> std::result::Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => bounded(value).map(Some).map_err(serde::de::Error::custom),
    }
}

/// A new article, written in-house; it starts as a draft.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewArticle {
    /// The article's id, e.g. `vpn-connect-en`.
    pub(crate) id: Slug,
    /// The language it is written in.
    pub(crate) language: LanguageName,
    /// The title.
    pub(crate) title: RequiredLine,
    /// The body, Markdown.
    pub(crate) body: LongText,
    /// Search tags (also the article's synonyms); default none.
    #[serde(default, deserialize_with = "bounded")]
    #[schema(max_items = 64)]
    pub(crate) tags: Vec<RequiredLine>,
    /// The focus teams it serves; default none (every team).
    #[serde(default, deserialize_with = "bounded")]
    #[schema(max_items = 64)]
    pub(crate) focus_teams: Vec<Slug>,
}

impl NewArticle {
    /// The article's content in the federation's terms.
    pub(crate) fn content(&self) -> ArticleContent {
        ArticleContent {
            language: Some(self.language.0),
            title: self.title.0.clone(),
            body: self.body.0.clone(),
            tags: self.tags.iter().map(|t| t.0.clone()).collect(),
            focus_teams: self.focus_teams.iter().map(|t| t.0.clone()).collect(),
        }
    }
}

/// The next version's working copy of an article (replaces the draft as a whole).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleDraftText {
    /// The language it is written in.
    pub(crate) language: LanguageName,
    /// The title.
    pub(crate) title: RequiredLine,
    /// The body, Markdown.
    pub(crate) body: LongText,
    /// Search tags; default none.
    #[serde(default, deserialize_with = "bounded")]
    #[schema(max_items = 64)]
    pub(crate) tags: Vec<RequiredLine>,
    /// The focus teams it serves; default none (every team).
    #[serde(default, deserialize_with = "bounded")]
    #[schema(max_items = 64)]
    pub(crate) focus_teams: Vec<Slug>,
}

impl ArticleDraftText {
    /// The draft in the federation's terms.
    pub(crate) fn content(self) -> ArticleContent {
        ArticleContent {
            language: Some(self.language.0),
            title: self.title.0,
            body: self.body.0,
            tags: self.tags.into_iter().map(|t| t.0).collect(),
            focus_teams: self.focus_teams.into_iter().map(|t| t.0).collect(),
        }
    }
}

/// Articles to import, each as a new draft (over the existing one when the id is known).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ArticleImport {
    /// The articles; each id at most once.
    pub(crate) articles: Vec<NewArticle>,
    /// Publish each draft at once as the article's next version; default true.
    pub(crate) publish: Option<bool>,
}

/// Which articles to list; optional fields may be left out.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ArticleFilter {
    /// Only articles in this state.
    pub(crate) state: Option<ArticleStateName>,
    /// Only articles in this language.
    pub(crate) language: Option<LanguageName>,
}

/// A proposed edit of an article the site sees, or a proposed new article; optional fields
/// may also be null.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSuggestion {
    /// The article: one the site holds, or the id proposed for a new one.
    pub(crate) article_id: Slug,
    /// The version the proposal was written against; default: the version the site holds (0
    /// for a new article). It may not be newer than that.
    pub(crate) base_version: Option<VersionNumber>,
    /// A new title (required for a new article).
    pub(crate) title: Option<RequiredLine>,
    /// A new body, Markdown (required for a new article).
    pub(crate) body: Option<LongText>,
    /// New tags.
    #[serde(default, deserialize_with = "bounded_or_null")]
    #[schema(max_items = 64)]
    pub(crate) tags: Option<Vec<RequiredLine>>,
    /// Why, for the in-house reviewer.
    pub(crate) rationale: Option<LongText>,
    /// The language of a new article (required for one).
    pub(crate) language: Option<LanguageName>,
}

/// Which suggestions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuggestionFilter {
    /// Only suggestions in this state.
    pub(crate) state: Option<SuggestionStateName>,
}

/// Why a suggestion is rejected; the proposing site sees it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rejection {
    /// The reason, required.
    pub(crate) reason: LongText,
}

/// One greeting script of a new brand version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GreetingText {
    /// The channel it is spoken or written on.
    pub(crate) channel: ChannelName,
    /// Its language.
    pub(crate) language: LanguageName,
    /// The script.
    pub(crate) text: LongText,
}

/// One message template of a new brand version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateText {
    /// Its name, e.g. `ticket-opened`.
    pub(crate) name: Slug,
    /// Its language.
    pub(crate) language: LanguageName,
    /// The text with `{placeholder}`s (`GET /v1/brand` lists the placeholders).
    pub(crate) text: LongText,
}

/// A new version of the brand, as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewBrand {
    /// The name customers see, e.g. "IT Service Desk".
    pub(crate) display_name: RequiredLine,
    /// The one hotline number.
    pub(crate) hotline_number: RequiredLine,
    /// Greeting scripts, one per channel and language.
    #[serde(default)]
    pub(crate) greetings: Vec<GreetingText>,
    /// Message templates, one per name and language.
    #[serde(default)]
    pub(crate) templates: Vec<TemplateText>,
    /// The signature under every customer-visible text.
    pub(crate) signature: Option<LongText>,
    /// Terms that must never reach a customer (partner names, site names, product names of
    /// partners ...), besides every tenant's and site's own names.
    #[serde(default)]
    pub(crate) forbidden_terms: Vec<RequiredLine>,
    /// Agent alias patterns: `#` one digit, `*` 1 to 8 letters or digits, e.g. `t4h-###`.
    #[serde(default)]
    pub(crate) alias_patterns: Vec<RequiredLine>,
    /// The status page's accent colour.
    pub(crate) accent_color: Option<Colour>,
}
