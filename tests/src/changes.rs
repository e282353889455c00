//! Builders of realistic changes for the end-to-end tests.

use hotline_federation::model::{
    Channel, Comment, EntityKey, EntityKind, FieldValue, Language, Priority, StatusTransition,
    TicketField, TicketStatus, Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;

pub use hotline_runtime::clock::now_ms;

/// A public ticket number from a lease block.
pub fn number(block: &pb::LeaseBlock, offset: u64) -> String {
    format!(
        "{}-{:04}-{:06}",
        block.prefix,
        block.year,
        block.first + offset
    )
}

fn set(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

/// The change that opens ticket `id` at `site` of `tenant` for focus team `team`, with PII.
pub fn open_ticket(id: &str, tenant: &str, site: &str, team: &str, seq: u64) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops: vec![
            set(TicketField::PublicNumber(id.into())),
            set(TicketField::OriginTenant(tenant.into())),
            set(TicketField::FocusTeam(team.into())),
            set(TicketField::CustomerRef("E-104711".into())),
            set(TicketField::Category("vpn".into())),
            set(TicketField::Priority(Priority::Normal)),
            set(TicketField::Status(StatusTransition {
                from: None,
                to: TicketStatus::New,
            })),
            set(TicketField::Language(Language::De)),
            set(TicketField::Channel(Channel::Phone)),
            set(TicketField::OpenedAt(now_ms())),
            set(TicketField::HandlingSite(site.into())),
            set(TicketField::Subject("VPN drops every hour".into())),
            set(TicketField::CustomerName("Erika Mustermann".into())),
            set(TicketField::CustomerEmail(
                "erika.mustermann@example.com".into(),
            )),
        ],
        origin_site: site.into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), 0),
    }
}

/// A change adding one comment to ticket `id`.
pub fn comment(
    id: &str,
    tenant: &str,
    site: &str,
    seq: u64,
    comment_id: &str,
    visibility: Visibility,
    body: &str,
) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops: vec![FieldOp::AddComment(Comment {
            id: comment_id.into(),
            author_alias: "Advisor 7".into(),
            author_tenant: tenant.into(),
            visibility,
            body: body.into(),
            created_at_ms: now_ms(),
            attachments: Vec::new(),
        })],
        origin_site: site.into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), 0),
    }
}

/// A push request of domain changes.
pub fn push(changes: &[Change]) -> pb::PushRequest {
    pb::PushRequest {
        changes: changes.iter().cloned().map(Into::into).collect(),
    }
}

/// The accepted global sequence numbers of a push response; fails on any rejection.
pub fn accepted(response: &pb::PushResponse) -> anyhow::Result<Vec<(u64, bool)>> {
    response
        .results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::change_result::Outcome::Accepted(a)) => Ok((a.global_seq, a.duplicate)),
            other => anyhow::bail!("change {} not accepted: {other:?}", r.origin_seq),
        })
        .collect()
}
