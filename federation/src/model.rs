//! The entity model: kinds, keys, the enums of the domain, the field values each kind has, and
//! the elements (comments, call events) that tickets and call logs collect.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Declares a domain enum with its stable lowercase names, used in JSON, mappings and errors.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable lowercase name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses a stable name; the error lists the known ones.
            pub fn parse(field: &str, text: &str) -> Result<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| {
                    Error::invalid(
                        field,
                        format!(
                            "{} {} is not known; known: {}",
                            $what,
                            crate::error::quote(text),
                            Self::known()
                        ),
                    )
                })
            }

            /// The known names, comma separated.
            pub fn known() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// The kind of a synchronised entity.
    EntityKind, "entity kind" {
        /// A customer ticket.
        Ticket = "ticket",
        /// A knowledge-base article.
        Article = "article",
        /// The brand.
        Brand = "brand",
        /// A focus team policy.
        Policy = "policy",
        /// A partner's article suggestion.
        Suggestion = "suggestion",
        /// One site's call events of one day.
        CallLog = "call_log",
    }
);

named_enum!(
    /// A customer's language.
    Language, "language" {
        /// German.
        De = "de",
        /// English.
        En = "en",
    }
);

named_enum!(
    /// Who may read a comment.
    Visibility, "visibility" {
        /// The customer too.
        Public = "public",
        /// Every site that sees the ticket.
        Federation = "federation",
        /// The authoring tenant and in-house only.
        Tenant = "tenant",
    }
);

named_enum!(
    /// Where a ticket stands.
    TicketStatus, "status" {
        /// Recorded, not yet worked on.
        New = "new",
        /// Being worked on.
        InProgress = "in_progress",
        /// Waiting for the customer.
        WaitingOnCustomer = "waiting_on_customer",
        /// With the in-house second level.
        Escalated = "escalated",
        /// Solved; may be reopened.
        Resolved = "resolved",
        /// Finished for good.
        Closed = "closed",
    }
);

named_enum!(
    /// Urgency.
    Priority, "priority" {
        /// Can wait.
        Low = "low",
        /// The usual case.
        Normal = "normal",
        /// Someone cannot work.
        High = "high",
        /// Many cannot work.
        Critical = "critical",
    }
);

named_enum!(
    /// How the customer reached the hotline.
    Channel, "channel" {
        /// Phone call.
        Phone = "phone",
        /// Email.
        Email = "email",
        /// Self-service portal.
        Portal = "portal",
        /// Chat.
        Chat = "chat",
    }
);

named_enum!(
    /// An article's life-cycle state.
    ArticleState, "article state" {
        /// In-house only.
        Draft = "draft",
        /// Visible to all sites.
        Published = "published",
        /// History only.
        Retired = "retired",
    }
);

named_enum!(
    /// What happened to a call.
    CallOutcome, "call outcome" {
        /// Reached the queue.
        Offered = "offered",
        /// Answered by an advisor.
        Answered = "answered",
        /// Caller hung up while waiting.
        Abandoned = "abandoned",
        /// Passed on.
        Transferred = "transferred",
    }
);

named_enum!(
    /// How often a focus team is reviewed.
    ReviewCadence, "review cadence" {
        /// Weekly.
        Weekly = "weekly",
        /// Every second week.
        Biweekly = "biweekly",
        /// Monthly.
        Monthly = "monthly",
    }
);

named_enum!(
    /// Review state of a suggestion.
    SuggestionState, "suggestion state" {
        /// Waiting for review.
        Open = "open",
        /// Taken.
        Accepted = "accepted",
        /// Declined.
        Rejected = "rejected",
    }
);

/// Names one entity across the federation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityKey {
    /// Its kind.
    pub kind: EntityKind,
    /// Its id within the kind (validated by [`crate::change::check_entity_id`]).
    pub id: String,
}

impl EntityKey {
    /// A key.
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        EntityKey {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.id)
    }
}

/// A status change as a change carries it: `from` is what the writer saw (`None` while
/// creating), so the state machine can check each change on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatusTransition {
    /// The status the writer saw; `None` when the ticket is being created.
    pub from: Option<TicketStatus>,
    /// The new status.
    pub to: TicketStatus,
}

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
    /// The greeting of one language.
    Greeting(Language, String),
    /// One template (name, language, text).
    Template(String, Language, String),
    /// Signature.
    Signature(String),
    /// Forbidden terms.
    ForbiddenTerms(Vec<String>),
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
            },
            FieldValue::Brand(f) => match f {
                BrandField::Version(_) => "version",
                BrandField::DisplayName(_) => "display_name",
                BrandField::HotlineNumber(_) => "hotline_number",
                BrandField::Greeting(language, _) => return format!("greeting.{language}"),
                BrandField::Template(name, language, _) => {
                    return format!("template.{name}.{language}");
                }
                BrandField::Signature(_) => "signature",
                BrandField::ForbiddenTerms(_) => "forbidden_terms",
            },
            FieldValue::Policy(f) => match f {
                PolicyField::DisplayName(_) => "display_name",
                PolicyField::Handlers(_) => "handlers",
                PolicyField::SlaAnswerSeconds(_) => "sla_answer_seconds",
                PolicyField::SlaTargetPercent(_) => "sla_target_percent",
                PolicyField::FcrTargetPercent(_) => "fcr_target_percent",
                PolicyField::ReviewCadence(_) => "review_cadence",
                PolicyField::PiiGrants(_) => "pii_grants",
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
            },
        };
        name.to_owned()
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
    }
}

/// One remark on a ticket; immutable once written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Comment {
    /// Unique id within the ticket.
    pub id: String,
    /// Advisor alias.
    pub author_alias: String,
    /// Advisor's tenant.
    pub author_tenant: String,
    /// Who may read it.
    pub visibility: Visibility,
    /// Text.
    pub body: String,
    /// When written (ms).
    pub created_at_ms: u64,
}

/// One ACD fact about one call.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CallEvent {
    /// Unique id within the call log.
    pub id: String,
    /// Reporting site.
    pub site: String,
    /// What happened.
    pub outcome: CallOutcome,
    /// Seconds waited.
    pub wait_seconds: u32,
    /// When (ms).
    pub at_ms: u64,
    /// Focus team, when known.
    pub focus_team: Option<String>,
    /// Ticket number, when any.
    pub ticket_number: Option<String>,
}
