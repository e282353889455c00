//! Generators of valid changes for the property tests: few sites, few tickets, a small clock
//! range, so generated histories are full of conflicts, equal timestamps and repeated ids.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;

use hotline_federation::model::{
    Comment, EntityKey, EntityKind, FieldValue, Priority, StatusTransition, TicketField,
    TicketStatus, Visibility,
};
use hotline_federation::status::allowed_after;
use hotline_federation::{Change, FieldOp, Hlc};
use proptest::prelude::*;
use proptest::sample::select;

pub const SITES: &[&str] = &["munich", "dortmund", "erfurt"];
pub const TENANTS: &[&str] = &["inhouse", "twenty4help", "helpbycom"];
pub const TEAMS: &[&str] = &["finance-hr", "plants"];
pub const TICKETS: &[&str] = &["ASZ-2026-000001", "ASZ-2026-000002"];

pub fn hlc() -> impl Strategy<Value = Hlc> {
    (1u64..5, 0u32..3).prop_map(|(wall, logical)| Hlc::new(wall, logical))
}

fn status_transition() -> impl Strategy<Value = StatusTransition> {
    let froms: Vec<Option<TicketStatus>> = std::iter::once(None)
        .chain(TicketStatus::ALL.iter().copied().map(Some))
        .collect();
    select(froms)
        .prop_filter("has a successor", |from| !allowed_after(*from).is_empty())
        .prop_flat_map(|from| {
            select(allowed_after(from).to_vec()).prop_map(move |to| StatusTransition { from, to })
        })
}

pub fn ticket_field(id: &'static str) -> impl Strategy<Value = TicketField> {
    prop_oneof![
        Just(TicketField::PublicNumber(id.to_owned())),
        select(Priority::ALL.to_vec()).prop_map(TicketField::Priority),
        status_transition().prop_map(TicketField::Status),
        select(vec!["VPN down", "password", "printer"])
            .prop_map(|s| TicketField::Subject(s.to_owned())),
        select(TEAMS.to_vec()).prop_map(|t| TicketField::FocusTeam(t.to_owned())),
        select(TENANTS.to_vec()).prop_map(|t| TicketField::OriginTenant(t.to_owned())),
        select(vec!["Erika Muster", "Max Muster"])
            .prop_map(|n| TicketField::CustomerName(n.to_owned())),
        select(vec!["erika@example.com", "max@example.com"])
            .prop_map(|n| TicketField::CustomerEmail(n.to_owned())),
        select(vec!["agent-7", "agent-9"]).prop_map(|a| TicketField::AssigneeAlias(a.to_owned())),
        any::<bool>().prop_map(TicketField::FirstContact),
    ]
}

pub fn comment() -> impl Strategy<Value = Comment> {
    (
        select(vec!["c1", "c2", "c3", "c4"]),
        select(Visibility::ALL.to_vec()),
        select(TENANTS.to_vec()),
        select(vec!["called back", "reset done", "internal: partner slow"]),
    )
        .prop_map(|(id, visibility, tenant, body)| Comment {
            id: id.to_owned(),
            author_alias: "advisor".to_owned(),
            author_tenant: tenant.to_owned(),
            visibility,
            body: body.to_owned(),
            created_at_ms: 1,
            attachments: Vec::new(),
        })
}

/// A comment whose id is derived from its content: one id, one content, as the gateway enforces
/// (it refuses a comment id that is already taken by a different comment).
pub fn unique_comment() -> impl Strategy<Value = Comment> {
    comment().prop_map(|mut c| {
        c.id = format!("{}-{}-{}", c.author_tenant, c.visibility, c.body.len());
        c
    })
}

/// An operation on ticket `id`; with `unique_ids` comment ids never name two contents.
pub fn op(id: &'static str, unique_ids: bool) -> impl Strategy<Value = FieldOp> {
    let comment = if unique_ids {
        unique_comment().boxed()
    } else {
        comment().boxed()
    };
    prop_oneof![
        6 => ticket_field(id).prop_map(|f| FieldOp::Set(FieldValue::Ticket(f))),
        3 => comment.prop_map(FieldOp::AddComment),
        1 => Just(FieldOp::Delete { reason: "duplicate".to_owned() }),
    ]
}

/// Keeps the first op per register / element / delete, as `Change::validate` demands.
fn dedupe(ops: Vec<FieldOp>) -> Vec<FieldOp> {
    let mut seen = BTreeSet::new();
    ops.into_iter()
        .filter(|op| {
            let key = match op {
                FieldOp::Set(v) => format!("r:{}", v.register()),
                FieldOp::AddComment(c) => format!("c:{}", c.id),
                FieldOp::AddCallEvent(e) => format!("e:{}", e.id),
                FieldOp::Delete { .. } => "d".to_owned(),
            };
            seen.insert(key)
        })
        .collect()
}

/// A valid change to one of the given tickets; see [`op`] for `unique_ids`.
pub fn change_for(ids: &'static [&'static str], unique_ids: bool) -> impl Strategy<Value = Change> {
    select(ids.to_vec()).prop_flat_map(move |id| {
        (
            prop::collection::vec(op(id, unique_ids), 1..5),
            select(SITES.to_vec()),
            1u64..1000,
            hlc(),
        )
            .prop_map(move |(ops, site, seq, hlc)| Change {
                key: EntityKey::new(EntityKind::Ticket, id),
                ops: dedupe(ops),
                origin_site: site.to_owned(),
                origin_seq: seq,
                hlc,
            })
    })
}

/// A valid change to one of [`TICKETS`].
pub fn change() -> impl Strategy<Value = Change> {
    change_for(TICKETS, false)
}

/// A history of 1 to 24 changes.
pub fn history() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(change(), 1..24)
}
