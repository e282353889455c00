//! The entity model: kinds, keys, the enums of the domain and the elements (comments, call
//! events) that tickets and call logs collect; `fields` holds the field values each kind has.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod fields;

pub use fields::{
    ArticleDraft, ArticleField, BrandField, CustomerRating, FieldValue, PolicyField,
    SuggestionField, TicketField, ticket_field_name,
};

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
    /// The files the comment carries (`crate::attachment`); the body may be empty when there
    /// is at least one. Absent from the canonical bytes when empty, so states written before
    /// attachments existed keep their hashes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachment::AttachmentRef>,
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
    /// Seconds talked (answered calls); events stored before this field read as 0.
    #[serde(default)]
    pub talk_seconds: u32,
    /// Seconds of after-call work (wrap-up); events stored before this field read as 0.
    #[serde(default)]
    pub wrap_seconds: u32,
}
