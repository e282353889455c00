//! What partner tools receive (API responses and webhook bodies), as types: each is serialised
//! as sent and describes itself to the OpenAPI document, in the partner's vocabulary.
//!
//! Response texts carry no request limits: a ticket holds what any site wrote within the
//! federation's limits, which are wider than what this API accepts per character.

use hotline_federation::EntityState;
use hotline_federation::model::{FieldValue, TicketField};
use hotline_federation::state::Stamped;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::fields::{
    ChannelName, LanguageName, PriorityTerm, Slug, StatusTerm, TicketNumber, VisibilityName,
};
use crate::mapping::Mapping;

pub mod brand;
pub mod knowledge;
mod sync;
mod webhooks;

pub use self::sync::*;
pub use self::webhooks::*;

/// A comment as partner tools see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Comment)]
pub struct CommentView {
    /// Unique within the ticket: `<site>-<origin_seq>`.
    pub id: String,
    /// The advisor's alias.
    pub author_alias: String,
    /// The advisor's tenant.
    #[schema(value_type = Slug)]
    pub author_tenant: String,
    /// Who may read it.
    #[schema(value_type = VisibilityName)]
    pub visibility: String,
    /// The text.
    pub body: String,
    /// When written, in ms since the Unix epoch.
    pub created_at_ms: u64,
    /// The files the comment carries (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
}

/// One file a comment carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// The file's name.
    pub filename: String,
    /// Its content type.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Where the site's API serves the bytes (`GET`, fetched from the gateway on first read).
    pub url: String,
}

/// A ticket as this site sees it. Besides `number`, `comments` and `deleted`, each field is
/// present only once set and if the site may read it. Statuses and priorities are in the
/// site's terms; a category in the site's terms when it maps that category.
#[derive(Debug, Default, Serialize, ToSchema)]
#[schema(as = Ticket)]
pub struct TicketView {
    /// The ticket's public number.
    #[schema(value_type = TicketNumber)]
    pub number: String,
    /// The same number, as a field of the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<TicketNumber>)]
    pub public_number: Option<String>,
    /// The customer's reference in the partner's CRM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    /// The focus team.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Slug>)]
    pub focus_team: Option<String>,
    /// The category.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PriorityTerm>)]
    pub priority: Option<String>,
    /// The status.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<StatusTerm>)]
    pub status: Option<String>,
    /// The customer's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<LanguageName>)]
    pub language: Option<String>,
    /// How the customer reached the hotline.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ChannelName>)]
    pub channel: Option<String>,
    /// When opened, in ms since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opened_at_ms: Option<u64>,
    /// When first worked on or resolved, in ms since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_answer_at_ms: Option<u64>,
    /// When last resolved, in ms since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at_ms: Option<u64>,
    /// Solved at first contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_contact: Option<bool>,
    /// When partners' retention of the closed ticket ended, in ms since the Unix epoch
    /// (in-house sites only: a partner site has purged the ticket by then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_retention_ended_at_ms: Option<u64>,
    /// When in-house staff erased the customer's personal data, in ms since the Unix epoch:
    /// the ticket then holds no customer name, email or phone, and comment bodies read
    /// `[erased]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at_ms: Option<u64>,
    /// The site handling the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Slug>)]
    pub handling_site: Option<String>,
    /// The assigned advisor's alias.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee_alias: Option<String>,
    /// The subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The tenant that opened the ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Slug>)]
    pub origin_tenant: Option<String>,
    /// The customer's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// The customer's email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_email: Option<String>,
    /// The customer's phone number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_phone: Option<String>,
    /// The comments this site may read, oldest first.
    pub comments: Vec<CommentView>,
    /// The ticket was deleted.
    pub deleted: bool,
    /// Only in the answer that created the ticket: the customer's access code to the status
    /// page. It is shown this once; the federation stores only its salted hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
    /// Only in the answer that created the ticket: the first message to the customer, the
    /// brand's `ticket-opened` template in the ticket's language with the access code, when the
    /// brand has that template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_message: Option<String>,
}

/// One value of a ticket field, in the partner's terms.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
#[schema(as = FieldValue)]
pub enum FieldValueView {
    /// A text, id, number, status, priority, category, language or channel.
    Text(String),
    /// A time in ms since the Unix epoch.
    Number(u64),
    /// A flag.
    Flag(bool),
}

/// One ticket field's value, mapped to the partner's terms.
pub fn ticket_field(field: &TicketField, mapping: &Mapping) -> FieldValueView {
    use FieldValueView::{Flag, Number, Text};
    match field {
        TicketField::Status(t) => Text(mapping.status.to_theirs(t.to.as_str())),
        TicketField::Priority(p) => Text(mapping.priority.to_theirs(p.as_str())),
        TicketField::Category(c) => Text(mapping.category.to_theirs(c)),
        TicketField::Language(l) => Text(l.as_str().to_owned()),
        TicketField::Channel(c) => Text(c.as_str().to_owned()),
        TicketField::OpenedAt(v)
        | TicketField::FirstAnswerAt(v)
        | TicketField::ResolvedAt(v)
        | TicketField::ArchivedAt(v)
        | TicketField::ErasedAt(v) => Number(*v),
        TicketField::FirstContact(v) => Flag(*v),
        // Only that a code was set: its salted hash is of no use to a partner's tools.
        TicketField::AccessCode(_) => Flag(true),
        // Reaches in-house sites only; their tools learn the score, the remark stays here.
        TicketField::Rating(r) => Number(u64::from(r.score)),
        TicketField::PublicNumber(s)
        | TicketField::CustomerRef(s)
        | TicketField::FocusTeam(s)
        | TicketField::HandlingSite(s)
        | TicketField::AssigneeAlias(s)
        | TicketField::Subject(s)
        | TicketField::OriginTenant(s)
        | TicketField::CustomerName(s)
        | TicketField::CustomerEmail(s)
        | TicketField::CustomerPhone(s) => Text(s.clone()),
    }
}

/// A ticket as partner tools see it: every field the site may read, statuses, priorities and
/// categories in the partner's terms.
pub fn ticket(state: &EntityState, mapping: &Mapping) -> TicketView {
    let mut view = TicketView {
        number: state.key.id.clone(),
        comments: comments(state),
        deleted: state.deleted.is_some(),
        ..TicketView::default()
    };
    for register in state.registers.values() {
        let FieldValue::Ticket(field) = &register.winner.value else {
            continue;
        };
        let text = |s: &String| Some(s.clone());
        match field {
            TicketField::Status(t) => view.status = Some(mapping.status.to_theirs(t.to.as_str())),
            TicketField::Priority(p) => {
                view.priority = Some(mapping.priority.to_theirs(p.as_str()));
            }
            TicketField::Category(c) => view.category = Some(mapping.category.to_theirs(c)),
            TicketField::Language(l) => view.language = Some(l.as_str().to_owned()),
            TicketField::Channel(c) => view.channel = Some(c.as_str().to_owned()),
            TicketField::OpenedAt(v) => view.opened_at_ms = Some(*v),
            TicketField::FirstAnswerAt(v) => view.first_answer_at_ms = Some(*v),
            TicketField::ResolvedAt(v) => view.resolved_at_ms = Some(*v),
            TicketField::FirstContact(v) => view.first_contact = Some(*v),
            TicketField::ArchivedAt(v) => view.partner_retention_ended_at_ms = Some(*v),
            TicketField::ErasedAt(v) => view.erased_at_ms = Some(*v),
            TicketField::PublicNumber(s) => view.public_number = text(s),
            TicketField::CustomerRef(s) => view.customer_ref = text(s),
            TicketField::FocusTeam(s) => view.focus_team = text(s),
            TicketField::HandlingSite(s) => view.handling_site = text(s),
            TicketField::AssigneeAlias(s) => view.assignee_alias = text(s),
            TicketField::Subject(s) => view.subject = text(s),
            TicketField::OriginTenant(s) => view.origin_tenant = text(s),
            TicketField::CustomerName(s) => view.customer_name = text(s),
            TicketField::CustomerEmail(s) => view.customer_email = text(s),
            TicketField::CustomerPhone(s) => view.customer_phone = text(s),
            // In-house only (never at a partner site); not part of the ticket view.
            TicketField::AccessCode(_) | TicketField::Rating(_) => {}
        }
    }
    view
}

/// The comments of a ticket, oldest first.
fn comments(state: &EntityState) -> Vec<CommentView> {
    let mut comments: Vec<CommentView> = state
        .comments
        .values()
        .map(|c| CommentView {
            id: c.value.id.clone(),
            author_alias: c.value.author_alias.clone(),
            author_tenant: c.value.author_tenant.clone(),
            visibility: c.value.visibility.as_str().into(),
            body: c.value.body.clone(),
            created_at_ms: c.value.created_at_ms,
            attachments: c
                .value
                .attachments
                .iter()
                .map(|f| AttachmentView {
                    sha256: f.sha256.clone(),
                    filename: f.filename.clone(),
                    content_type: f.content_type.clone(),
                    size: f.size,
                    url: format!("/v1/tickets/{}/files/{}", state.key.id, f.sha256),
                })
                .collect(),
        })
        .collect();
    comments.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    comments
}

/// One write of a ticket field.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldWrite)]
pub struct FieldWriteView {
    /// The value, as in `Ticket` (the partner's terms); null for a value that is no ticket
    /// field.
    pub value: Option<FieldValueView>,
    /// The write's hybrid clock: wall time in ms since the Unix epoch.
    pub at_ms: u64,
    /// The hybrid clock's logical counter.
    pub logical: u32,
    /// The site that wrote it.
    pub site: String,
}

/// A field's winning write and the writes it superseded.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = FieldHistory)]
pub struct FieldHistoryView {
    /// The field's name, as in `Ticket`.
    pub field: String,
    /// The winning write.
    pub current: FieldWriteView,
    /// The writes it superseded.
    pub superseded: Vec<FieldWriteView>,
}

/// A ticket's history: each field's winning write and the superseded ones, and the comments.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TicketHistory)]
pub struct HistoryView {
    /// The ticket's public number.
    #[schema(value_type = TicketNumber)]
    pub number: String,
    /// Every field ever written.
    pub fields: Vec<FieldHistoryView>,
    /// The comments this site may read, oldest first.
    pub comments: Vec<CommentView>,
}

/// A ticket's history: each field's winning write and the superseded ones, and the comments.
pub fn history(state: &EntityState, mapping: &Mapping) -> HistoryView {
    let write = |stamped: &Stamped<FieldValue>| FieldWriteView {
        value: match &stamped.value {
            FieldValue::Ticket(f) => Some(ticket_field(f, mapping)),
            _ => None,
        },
        at_ms: stamped.stamp.hlc.wall_ms,
        logical: stamped.stamp.hlc.logical,
        site: stamped.stamp.site.clone(),
    };
    HistoryView {
        number: state.key.id.clone(),
        fields: state
            .registers
            .iter()
            .map(|(name, register)| FieldHistoryView {
                field: name.clone(),
                current: write(&register.winner),
                superseded: register.superseded.iter().map(write).collect(),
            })
            .collect(),
        comments: comments(state),
    }
}

/// A list of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketList {
    /// The tickets found.
    pub tickets: Vec<TicketView>,
}

/// A written comment.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommentCreated {
    /// The comment's id.
    pub id: String,
    /// The ticket with the comment.
    pub ticket: TicketView,
}

/// One focus team a site may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct FocusTeam {
    /// The team's id, as tickets name it.
    #[schema(value_type = Slug)]
    pub id: String,
    /// Its human name.
    pub display_name: String,
    /// Whether the tenant is granted the customer data (name, email, phone) of the team's
    /// tickets.
    pub customer_data: bool,
}

/// The focus teams a site may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct FocusTeamList {
    /// The teams.
    pub teams: Vec<FocusTeam>,
}

/// A recorded call event.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallEventRecorded {
    /// The event's id.
    pub id: String,
    /// The call log: `<site>.<yyyy-mm-dd>`.
    pub call_log: String,
}
