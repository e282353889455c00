//! The field values each entity kind has: the content of one last-writer-wins register each,
//! and the register names they are written to.

use serde::{Deserialize, Serialize};

use super::{
    ArticleState, Channel, EntityKind, Language, Priority, ReviewCadence, StatusTransition,
    SuggestionState,
};

/// A ticket field with its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketField {
    /// The public number; equals the entity id.
    PublicNumber(String),
    /// Customer reference.
    CustomerRef(String),
    /// Focus team id.
    FocusTeam(String),
    /// Category.
    Category(String),
    /// Urgency.
    Priority(Priority),
    /// A status transition.
    Status(StatusTransition),
    /// Customer language.
    Language(Language),
    /// Contact channel.
    Channel(Channel),
    /// Opening time (ms).
    OpenedAt(u64),
    /// First answer time (ms).
    FirstAnswerAt(u64),
    /// Resolution time (ms).
    ResolvedAt(u64),
    /// Solved in the first contact.
    FirstContact(bool),
    /// Handling site.
    HandlingSite(String),
    /// Advisor alias.
    AssigneeAlias(String),
    /// Summary.
    Subject(String),
    /// Creating tenant.
    OriginTenant(String),
    /// Customer name (PII).
    CustomerName(String),
    /// Customer email (PII).
    CustomerEmail(String),
    /// Customer phone (PII).
    CustomerPhone(String),
    /// The salted hash of the customer's access code to the status page, as
    /// `<salt hex>:<sha-256 hex>`; written once, at creation, by the opening site.
    AccessCode(String),
    /// The customer's rating of the resolved ticket; written once, by the gateway on the
    /// customer's behalf, read in-house only.
    Rating(CustomerRating),
    /// When the partners' retention of the closed ticket ended (ms): written once, by the
    /// gateway's retention sweep; from then on only in-house sees the ticket (`retention`).
    ArchivedAt(u64),
    /// When in-house staff erased the customer's personal data (ms): written once, by the
    /// gateway; from then on the ticket holds none (`erasure`).
    ErasedAt(u64),
}

/// A customer's 1-5 rating of a resolved ticket with an optional remark.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomerRating {
    /// 1 (poor) to 5 (very good).
    pub score: u8,
    /// The customer's remark; may be empty.
    pub remark: String,
    /// When given (ms).
    pub at_ms: u64,
}

/// An article field with its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArticleField {
    /// Version number.
    Version(u32),
    /// Language.
    Language(Language),
    /// Title.
    Title(String),
    /// Body.
    Body(String),
    /// Tags.
    Tags(Vec<String>),
    /// Life-cycle state.
    State(ArticleState),
    /// The focus teams the article serves (empty: every team).
    FocusTeams(Vec<String>),
    /// The in-house working copy of the next version; never leaves in-house (partners receive
    /// published versions only). An empty title means no draft.
    Draft(ArticleDraft),
}

/// The in-house working copy of an article's next version.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArticleDraft {
    /// Language; `None` only for the empty draft.
    pub language: Option<Language>,
    /// Title; empty for "no draft".
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// Search tags, synonyms among them.
    pub tags: Vec<String>,
    /// Focus teams.
    pub focus_teams: Vec<String>,
}

impl ArticleDraft {
    /// True when there is no draft.
    pub fn is_empty(&self) -> bool {
        self.title.is_empty()
    }
}

/// A brand field with its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrandField {
    /// Version number.
    Version(u32),
    /// Display name.
    DisplayName(String),
    /// Hotline number.
    HotlineNumber(String),
    /// The greeting script of one channel and language.
    Greeting(Channel, Language, String),
    /// One template (name, language, text).
    Template(String, Language, String),
    /// Signature.
    Signature(String),
    /// Forbidden terms.
    ForbiddenTerms(Vec<String>),
    /// Patterns of agent aliases that must never reach a customer (see `leak`).
    AliasPatterns(Vec<String>),
    /// The page's accent colour, `#rrggbb`.
    AccentColor(String),
}

/// A focus team policy field with its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyField {
    /// Human name.
    DisplayName(String),
    /// Handling tenants.
    Handlers(Vec<String>),
    /// Answer-time target (s).
    SlaAnswerSeconds(u32),
    /// Service-level target (%).
    SlaTargetPercent(u32),
    /// First-contact resolution target (%).
    FcrTargetPercent(u32),
    /// Review cadence.
    ReviewCadence(ReviewCadence),
    /// Tenants granted PII.
    PiiGrants(Vec<String>),
    /// Days partner sites keep a closed ticket of the team before it is purged there (the
    /// gateway keeps it in-house); without this register, `retention::DEFAULT_PARTNER_DAYS`.
    PartnerRetentionDays(u32),
}

/// A suggestion field with its value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionField {
    /// Target article.
    ArticleId(String),
    /// Base version.
    BaseVersion(u32),
    /// Proposed title.
    ProposedTitle(String),
    /// Proposed body.
    ProposedBody(String),
    /// Proposed tags.
    ProposedTags(Vec<String>),
    /// Rationale.
    Rationale(String),
    /// Proposing tenant.
    AuthorTenant(String),
    /// Review state.
    State(SuggestionState),
    /// The language of a proposed new article.
    ProposedLanguage(Language),
    /// Why the in-house team rejected it (shown to the proposing site).
    RejectReason(String),
    /// The article version that took it in, once accepted.
    AcceptedVersion(u32),
}

/// A scalar field value of any kind: the content of one last-writer-wins register.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldValue {
    /// Of a ticket.
    Ticket(TicketField),
    /// Of an article.
    Article(ArticleField),
    /// Of the brand.
    Brand(BrandField),
    /// Of a policy.
    Policy(PolicyField),
    /// Of a suggestion.
    Suggestion(SuggestionField),
}

impl FieldValue {
    /// The entity kind this value belongs to.
    pub fn kind(&self) -> EntityKind {
        match self {
            FieldValue::Ticket(_) => EntityKind::Ticket,
            FieldValue::Article(_) => EntityKind::Article,
            FieldValue::Brand(_) => EntityKind::Brand,
            FieldValue::Policy(_) => EntityKind::Policy,
            FieldValue::Suggestion(_) => EntityKind::Suggestion,
        }
    }

    /// The name of the register this value is written to. Greetings and templates have one
    /// register per language (and name).
    pub fn register(&self) -> String {
        let name = match self {
            FieldValue::Ticket(f) => ticket_field_name(f),
            FieldValue::Article(f) => match f {
                ArticleField::Version(_) => "version",
                ArticleField::Language(_) => "language",
                ArticleField::Title(_) => "title",
                ArticleField::Body(_) => "body",
                ArticleField::Tags(_) => "tags",
                ArticleField::State(_) => "state",
                ArticleField::FocusTeams(_) => "focus_teams",
                ArticleField::Draft(_) => "draft",
            },
            FieldValue::Brand(f) => match f {
                BrandField::Version(_) => "version",
                BrandField::DisplayName(_) => "display_name",
                BrandField::HotlineNumber(_) => "hotline_number",
                BrandField::Greeting(channel, language, _) => {
                    return format!("greeting.{channel}.{language}");
                }
                BrandField::Template(name, language, _) => {
                    return format!("template.{name}.{language}");
                }
                BrandField::Signature(_) => "signature",
                BrandField::ForbiddenTerms(_) => "forbidden_terms",
                BrandField::AliasPatterns(_) => "alias_patterns",
                BrandField::AccentColor(_) => "accent_color",
            },
            FieldValue::Policy(f) => match f {
                PolicyField::DisplayName(_) => "display_name",
                PolicyField::Handlers(_) => "handlers",
                PolicyField::SlaAnswerSeconds(_) => "sla_answer_seconds",
                PolicyField::SlaTargetPercent(_) => "sla_target_percent",
                PolicyField::FcrTargetPercent(_) => "fcr_target_percent",
                PolicyField::ReviewCadence(_) => "review_cadence",
                PolicyField::PiiGrants(_) => "pii_grants",
                PolicyField::PartnerRetentionDays(_) => "partner_retention_days",
            },
            FieldValue::Suggestion(f) => match f {
                SuggestionField::ArticleId(_) => "article_id",
                SuggestionField::BaseVersion(_) => "base_version",
                SuggestionField::ProposedTitle(_) => "proposed_title",
                SuggestionField::ProposedBody(_) => "proposed_body",
                SuggestionField::ProposedTags(_) => "proposed_tags",
                SuggestionField::Rationale(_) => "rationale",
                SuggestionField::AuthorTenant(_) => "author_tenant",
                SuggestionField::State(_) => "state",
                SuggestionField::ProposedLanguage(_) => "proposed_language",
                SuggestionField::RejectReason(_) => "reject_reason",
                SuggestionField::AcceptedVersion(_) => "accepted_version",
            },
        };
        name.to_owned()
    }

    /// True for fields only in-house ever reads: an article's draft, a customer's rating, the
    /// end of the partners' retention.
    pub fn is_inhouse_only(&self) -> bool {
        matches!(
            self,
            FieldValue::Article(ArticleField::Draft(_))
                | FieldValue::Ticket(TicketField::Rating(_) | TicketField::ArchivedAt(_))
        )
    }

    /// True for fields that hold personal data of the customer.
    pub fn is_pii(&self) -> bool {
        matches!(
            self,
            FieldValue::Ticket(
                TicketField::CustomerName(_)
                    | TicketField::CustomerEmail(_)
                    | TicketField::CustomerPhone(_)
            )
        )
    }
}

/// The register name of a ticket field.
pub fn ticket_field_name(field: &TicketField) -> &'static str {
    match field {
        TicketField::PublicNumber(_) => "public_number",
        TicketField::CustomerRef(_) => "customer_ref",
        TicketField::FocusTeam(_) => "focus_team",
        TicketField::Category(_) => "category",
        TicketField::Priority(_) => "priority",
        TicketField::Status(_) => "status",
        TicketField::Language(_) => "language",
        TicketField::Channel(_) => "channel",
        TicketField::OpenedAt(_) => "opened_at_ms",
        TicketField::FirstAnswerAt(_) => "first_answer_at_ms",
        TicketField::ResolvedAt(_) => "resolved_at_ms",
        TicketField::FirstContact(_) => "first_contact",
        TicketField::HandlingSite(_) => "handling_site",
        TicketField::AssigneeAlias(_) => "assignee_alias",
        TicketField::Subject(_) => "subject",
        TicketField::OriginTenant(_) => "origin_tenant",
        TicketField::CustomerName(_) => "customer_name",
        TicketField::CustomerEmail(_) => "customer_email",
        TicketField::CustomerPhone(_) => "customer_phone",
        TicketField::AccessCode(_) => "access_code",
        TicketField::Rating(_) => "rating",
        TicketField::ArchivedAt(_) => "archived_at_ms",
        TicketField::ErasedAt(_) => "erased_at_ms",
    }
}
