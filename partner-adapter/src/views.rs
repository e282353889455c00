//! JSON views of entities for partner tools (API responses and webhook bodies), in the
//! partner's vocabulary.

use hotline_federation::EntityState;
use hotline_federation::model::{FieldValue, TicketField};
use serde::Serialize;
use serde_json::{Value, json};

use crate::mapping::Mapping;

/// A comment as partner tools see it.
#[derive(Debug, Serialize)]
pub struct CommentView {
    /// Comment id.
    pub id: String,
    /// Advisor alias.
    pub author_alias: String,
    /// Advisor's tenant.
    pub author_tenant: String,
    /// `public`, `federation` or `tenant`.
    pub visibility: String,
    /// Text.
    pub body: String,
    /// When written, ms.
    pub created_at_ms: u64,
}

/// A ticket as partner tools see it: every field the site may read, statuses, priorities and
/// categories in the partner's terms.
pub fn ticket(state: &EntityState, mapping: &Mapping) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("number".into(), json!(state.key.id));
    for register in state.registers.values() {
        let FieldValue::Ticket(field) = &register.winner.value else {
            continue;
        };
        let name = hotline_federation::model::ticket_field_name(field);
        out.insert(name.into(), ticket_field(field, mapping));
    }
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
        })
        .collect();
    comments.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    out.insert("comments".into(), json!(comments));
    out.insert("deleted".into(), json!(state.deleted.is_some()));
    Value::Object(out)
}

/// One ticket field's value as JSON, mapped to the partner's terms.
pub fn ticket_field(field: &TicketField, mapping: &Mapping) -> Value {
    match field {
        TicketField::Status(t) => json!(mapping.status.to_theirs(t.to.as_str())),
        TicketField::Priority(p) => json!(mapping.priority.to_theirs(p.as_str())),
        TicketField::Category(c) => json!(mapping.category.to_theirs(c)),
        TicketField::Language(l) => json!(l.as_str()),
        TicketField::Channel(c) => json!(c.as_str()),
        TicketField::OpenedAt(v) | TicketField::FirstAnswerAt(v) | TicketField::ResolvedAt(v) => {
            json!(v)
        }
        TicketField::FirstContact(v) => json!(v),
        TicketField::PublicNumber(s)
        | TicketField::CustomerRef(s)
        | TicketField::FocusTeam(s)
        | TicketField::HandlingSite(s)
        | TicketField::AssigneeAlias(s)
        | TicketField::Subject(s)
        | TicketField::OriginTenant(s)
        | TicketField::CustomerName(s)
        | TicketField::CustomerEmail(s)
        | TicketField::CustomerPhone(s) => json!(s),
    }
}

/// A ticket's history: each field's winning write and the superseded ones, and the comments.
pub fn history(state: &EntityState, mapping: &Mapping) -> Value {
    let write = |stamped: &hotline_federation::state::Stamped<FieldValue>| {
        let value = match &stamped.value {
            FieldValue::Ticket(f) => ticket_field(f, mapping),
            _ => Value::Null,
        };
        json!({
            "value": value,
            "at_ms": stamped.stamp.hlc.wall_ms,
            "logical": stamped.stamp.hlc.logical,
            "site": stamped.stamp.site,
        })
    };
    let fields: Vec<Value> = state
        .registers
        .iter()
        .map(|(name, register)| {
            json!({
                "field": name,
                "current": write(&register.winner),
                "superseded": register.superseded.iter().map(write).collect::<Vec<_>>(),
            })
        })
        .collect();
    let view = ticket(state, mapping);
    json!({ "number": state.key.id, "fields": fields, "comments": view["comments"] })
}
