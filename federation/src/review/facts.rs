//! What a review report reads from stored entities: per ticket its team, category, status,
//! times, first-contact flag, handling tenant and site and the times it entered `escalated`;
//! per suggestion whether and when it was accepted.

use serde::{Deserialize, Serialize};

use super::sample::ClosedTicket;
use crate::model::{
    FieldValue, SuggestionField, SuggestionState, TicketField, TicketStatus, ticket_field_name,
};
use crate::state::EntityState;

/// The facts of one ticket a report needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFacts {
    /// Public number.
    pub id: String,
    /// Focus team, when set.
    pub team: Option<String>,
    /// Category, when set.
    pub category: Option<String>,
    /// Current status, when set.
    pub status: Option<TicketStatus>,
    /// Opening time (ms).
    pub opened_at_ms: Option<u64>,
    /// Resolution time (ms): the `resolved_at_ms` field, else when the winning status
    /// `resolved` or `closed` was written.
    pub resolved_at_ms: Option<u64>,
    /// Solved in the first contact, when recorded.
    pub first_contact: Option<bool>,
    /// The handling tenant (of the handling site; else the creating tenant).
    pub tenant: String,
    /// The handling site (else the creating site).
    pub site: String,
    /// When the ticket entered `escalated`, as far as the status register remembers (its
    /// winner and newest superseded writes).
    pub escalated_at_ms: Vec<u64>,
}

impl TicketFacts {
    /// Reads the facts of a stored ticket; `site_tenant` names a site's tenant. `None` for a
    /// deleted or empty ticket.
    pub fn read(state: &EntityState, site_tenant: impl Fn(&str) -> Option<String>) -> Option<Self> {
        if state.deleted.is_some() || state.is_empty() {
            return None;
        }
        let field = |name: &str| match state.value(name) {
            Some(FieldValue::Ticket(field)) => Some(field),
            _ => None,
        };
        let text = |name: &str| match field(name) {
            Some(
                TicketField::FocusTeam(v)
                | TicketField::Category(v)
                | TicketField::HandlingSite(v)
                | TicketField::OriginTenant(v),
            ) => Some(v.clone()),
            _ => None,
        };
        let time = |name: &str| match field(name) {
            Some(TicketField::OpenedAt(v) | TicketField::ResolvedAt(v)) => Some(*v),
            _ => None,
        };
        let status_name = ticket_field_name(&TicketField::Status(crate::model::StatusTransition {
            from: None,
            to: TicketStatus::New,
        }));
        let status_register = state.registers.get(status_name);
        let status = status_register.and_then(|r| match &r.winner.value {
            FieldValue::Ticket(TicketField::Status(t)) => Some(t.to),
            _ => None,
        });
        let finished = matches!(status, Some(TicketStatus::Resolved | TicketStatus::Closed));
        let resolved_at_ms = match (time("resolved_at_ms"), status_register) {
            (Some(at), _) => Some(at),
            (None, Some(register)) if finished => Some(register.winner.stamp.hlc.wall_ms),
            _ => None,
        };
        let escalated_at_ms = status_register
            .map(|r| {
                let mut times: Vec<u64> = std::iter::once(&r.winner)
                    .chain(&r.superseded)
                    .filter(|w| {
                        matches!(
                            &w.value,
                            FieldValue::Ticket(TicketField::Status(t)) if t.to == TicketStatus::Escalated
                        )
                    })
                    .map(|w| w.stamp.hlc.wall_ms)
                    .collect();
                times.sort_unstable();
                times
            })
            .unwrap_or_default();
        let creator_site = state
            .registers
            .get("public_number")
            .map(|r| r.winner.stamp.site.clone());
        let site = text("handling_site").or(creator_site).unwrap_or_default();
        let tenant = site_tenant(&site)
            .or_else(|| text("origin_tenant"))
            .unwrap_or_default();
        Some(TicketFacts {
            id: state.key.id.clone(),
            team: text("focus_team"),
            category: text("category"),
            status,
            opened_at_ms: time("opened_at_ms"),
            resolved_at_ms: resolved_at_ms.filter(|_| finished),
            first_contact: match field("first_contact") {
                Some(TicketField::FirstContact(v)) => Some(*v),
                _ => None,
            },
            tenant,
            site,
            escalated_at_ms,
        })
    }

    /// The ticket as a sampling candidate, when it is resolved or closed.
    pub fn closed(&self) -> Option<ClosedTicket> {
        Some(ClosedTicket {
            id: self.id.clone(),
            team: self.team.clone()?,
            tenant: self.tenant.clone(),
            site: self.site.clone(),
            resolved_at_ms: self.resolved_at_ms?,
        })
    }

    /// True while the ticket is neither resolved nor closed.
    pub fn is_open(&self) -> bool {
        !matches!(
            self.status,
            Some(TicketStatus::Resolved | TicketStatus::Closed)
        )
    }
}

/// An accepted suggestion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedSuggestion {
    /// Suggestion id.
    pub id: String,
    /// The article it changed (empty for a proposed new article).
    pub article: String,
    /// The proposing tenant.
    pub author_tenant: String,
    /// When it was accepted (ms): when its winning `accepted` state was written.
    pub accepted_at_ms: u64,
}

impl AcceptedSuggestion {
    /// Reads a stored suggestion; `None` unless it is accepted.
    pub fn read(state: &EntityState) -> Option<Self> {
        if state.deleted.is_some() {
            return None;
        }
        let register = state.registers.get("state")?;
        if register.winner.value
            != FieldValue::Suggestion(SuggestionField::State(SuggestionState::Accepted))
        {
            return None;
        }
        let text = |name: &str| match state.value(name) {
            Some(FieldValue::Suggestion(
                SuggestionField::ArticleId(v) | SuggestionField::AuthorTenant(v),
            )) => v.clone(),
            _ => String::new(),
        };
        Some(AcceptedSuggestion {
            id: state.key.id.clone(),
            article: text("article_id"),
            author_tenant: text("author_tenant"),
            accepted_at_ms: register.winner.stamp.hlc.wall_ms,
        })
    }
}
