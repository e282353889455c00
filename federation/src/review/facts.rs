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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{Change, FieldOp};
    use crate::clock::Hlc;
    use crate::model::{EntityKey, EntityKind, StatusTransition};

    fn change(kind: EntityKind, site: &str, at: u64, ops: Vec<FieldValue>) -> Change {
        Change {
            key: EntityKey::new(kind, "x-1"),
            ops: ops.into_iter().map(FieldOp::Set).collect(),
            origin_site: site.into(),
            origin_seq: at,
            hlc: Hlc::new(at, 0),
        }
    }

    fn status(from: Option<TicketStatus>, to: TicketStatus) -> FieldValue {
        FieldValue::Ticket(TicketField::Status(StatusTransition { from, to }))
    }

    /// A ticket escalated and then resolved without a `resolved_at_ms` field reads as
    /// resolved when its status was written, escalated when that was written, and handled by
    /// the creating site's tenant: what the report counts for a real stored ticket.
    #[test]
    fn ticket_facts_follow_the_status_history() {
        let mut state = EntityState::new(EntityKey::new(EntityKind::Ticket, "x-1"));
        state.apply(&change(
            EntityKind::Ticket,
            "dortmund",
            1_000,
            vec![
                FieldValue::Ticket(TicketField::PublicNumber("x-1".into())),
                FieldValue::Ticket(TicketField::FocusTeam("finance".into())),
                status(None, TicketStatus::New),
            ],
        ));
        let tenant = |site: &str| (site == "dortmund").then(|| "twenty4help".to_owned());
        let open = TicketFacts::read(&state, tenant).unwrap();
        assert!(open.is_open() && open.closed().is_none());
        state.apply(&change(
            EntityKind::Ticket,
            "munich",
            2_000,
            vec![status(Some(TicketStatus::New), TicketStatus::Escalated)],
        ));
        state.apply(&change(
            EntityKind::Ticket,
            "munich",
            3_000,
            vec![status(
                Some(TicketStatus::Escalated),
                TicketStatus::Resolved,
            )],
        ));
        let facts = TicketFacts::read(&state, tenant).unwrap();
        assert_eq!(facts.escalated_at_ms, vec![2_000]);
        assert_eq!(facts.resolved_at_ms, Some(3_000));
        assert_eq!(
            (facts.tenant.as_str(), facts.site.as_str()),
            ("twenty4help", "dortmund")
        );
        assert_eq!(facts.closed().unwrap().resolved_at_ms, 3_000);
    }

    /// Only an accepted suggestion counts, dated when it was accepted.
    #[test]
    fn accepted_suggestions_are_read() {
        let mut state = EntityState::new(EntityKey::new(EntityKind::Suggestion, "x-1"));
        let set = |f| FieldValue::Suggestion(f);
        state.apply(&change(
            EntityKind::Suggestion,
            "dortmund",
            1_000,
            vec![
                set(SuggestionField::ArticleId("vpn-reset".into())),
                set(SuggestionField::AuthorTenant("twenty4help".into())),
                set(SuggestionField::State(SuggestionState::Open)),
            ],
        ));
        assert_eq!(AcceptedSuggestion::read(&state), None);
        state.apply(&change(
            EntityKind::Suggestion,
            "gateway",
            5_000,
            vec![set(SuggestionField::State(SuggestionState::Accepted))],
        ));
        let accepted = AcceptedSuggestion::read(&state).unwrap();
        assert_eq!(accepted.accepted_at_ms, 5_000);
        assert_eq!(accepted.article, "vpn-reset");
        assert_eq!(accepted.author_tenant, "twenty4help");
    }
}
