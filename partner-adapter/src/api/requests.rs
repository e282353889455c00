//! The request bodies and query of the API, as types: serde reads them and utoipa describes
//! them, so the OpenAPI document shows exactly what the handlers accept. Each field's own type
//! (see [`super::fields`]) carries its rule; these types add which fields exist and which are
//! required (unknown fields are refused: `additionalProperties: false`).

use hotline_federation::lifecycle::{TicketEdit, TicketText};
use hotline_federation::model::{Priority, TicketStatus};
use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::fields::{
    CategoryTerm, ChannelName, CommentBody, ElementId, EpochMs, LanguageName, NewStatusTerm,
    OneLine, OutcomeName, PriorityTerm, RequiredLine, Slug, StatusTerm, TicketNumber,
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
}
