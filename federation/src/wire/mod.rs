//! Conversions between the wire contract (`hotline_proto::v1`) and the domain.
//!
//! Wire to domain is `TryFrom`, destructuring each message whole so that a new proto field is a
//! compile error until someone decides what it means. Every error names the offending field by
//! its path, e.g. `change.ops[3].set.ticket.priority`. Domain to wire is `From` and cannot fail.

mod enums;
mod fields;
mod reports;
mod state;

use hotline_proto::v1 as pb;

use crate::attachment::AttachmentRef;
use crate::change::{Change, FieldOp, Stamp};
use crate::clock::Hlc;
use crate::error::{Error, Result};
use crate::model::{CallEvent, Comment, EntityKey, EntityKind, Visibility};

pub use enums::WireEnum;
pub use reports::query_from_wire;
pub(crate) use state::register_to_wire;

/// Takes a required sub-message or says which field is missing.
pub(crate) fn required<T>(field: &str, value: Option<T>) -> Result<T> {
    value.ok_or_else(|| Error::invalid(field, "is required but missing"))
}

/// Maps an empty string to `None`.
pub(crate) fn non_empty(text: String) -> Option<String> {
    if text.is_empty() { None } else { Some(text) }
}

impl From<pb::Hlc> for Hlc {
    fn from(hlc: pb::Hlc) -> Self {
        let pb::Hlc { wall_ms, logical } = hlc;
        Hlc { wall_ms, logical }
    }
}

impl From<Hlc> for pb::Hlc {
    fn from(hlc: Hlc) -> Self {
        pb::Hlc {
            wall_ms: hlc.wall_ms,
            logical: hlc.logical,
        }
    }
}

/// Converts a stamp, naming `field` in errors.
pub(crate) fn stamp_from_wire(field: &str, stamp: Option<pb::Stamp>) -> Result<Stamp> {
    let pb::Stamp { hlc, site } = required(field, stamp)?;
    // Paths are built only for an error: decoding a stored store runs this per register.
    let hlc = required("hlc", hlc).map_err(|e| e.within(field))?.into();
    crate::ids::check_slug("site", &site).map_err(|e| e.within(field))?;
    Ok(Stamp { hlc, site })
}

impl From<Stamp> for pb::Stamp {
    fn from(stamp: Stamp) -> Self {
        pb::Stamp {
            hlc: Some(stamp.hlc.into()),
            site: stamp.site,
        }
    }
}

impl TryFrom<pb::EntityKey> for EntityKey {
    type Error = Error;

    fn try_from(key: pb::EntityKey) -> Result<Self> {
        let pb::EntityKey { kind, id } = key;
        let kind = EntityKind::from_wire("kind", kind)?;
        let key = EntityKey { kind, id };
        crate::change::check_entity_id(&key)?;
        Ok(key)
    }
}

impl From<EntityKey> for pb::EntityKey {
    fn from(key: EntityKey) -> Self {
        pb::EntityKey {
            kind: key.kind.to_wire(),
            id: key.id,
        }
    }
}

impl TryFrom<pb::Comment> for Comment {
    type Error = Error;

    fn try_from(comment: pb::Comment) -> Result<Self> {
        let pb::Comment {
            id,
            author_alias,
            author_tenant,
            visibility,
            body,
            created_at_ms,
            attachments,
        } = comment;
        Ok(Comment {
            id,
            author_alias,
            author_tenant,
            visibility: Visibility::from_wire("visibility", visibility)?,
            body,
            created_at_ms,
            attachments: attachments.into_iter().map(AttachmentRef::from).collect(),
        })
    }
}

impl From<pb::Attachment> for AttachmentRef {
    fn from(file: pb::Attachment) -> Self {
        AttachmentRef {
            sha256: file.sha256,
            size: file.size,
            content_type: file.content_type,
            filename: file.filename,
        }
    }
}

impl From<AttachmentRef> for pb::Attachment {
    fn from(file: AttachmentRef) -> Self {
        pb::Attachment {
            sha256: file.sha256,
            size: file.size,
            content_type: file.content_type,
            filename: file.filename,
        }
    }
}

impl From<Comment> for pb::Comment {
    fn from(c: Comment) -> Self {
        pb::Comment {
            id: c.id,
            author_alias: c.author_alias,
            author_tenant: c.author_tenant,
            visibility: c.visibility.to_wire(),
            body: c.body,
            created_at_ms: c.created_at_ms,
            attachments: c
                .attachments
                .into_iter()
                .map(pb::Attachment::from)
                .collect(),
        }
    }
}

impl TryFrom<pb::CallEvent> for CallEvent {
    type Error = Error;

    fn try_from(event: pb::CallEvent) -> Result<Self> {
        let pb::CallEvent {
            id,
            site,
            outcome,
            wait_seconds,
            at_ms,
            focus_team,
            ticket_number,
            talk_seconds,
            wrap_seconds,
        } = event;
        Ok(CallEvent {
            id,
            site,
            outcome: crate::model::CallOutcome::from_wire("outcome", outcome)?,
            wait_seconds,
            at_ms,
            focus_team: non_empty(focus_team),
            ticket_number: non_empty(ticket_number),
            talk_seconds,
            wrap_seconds,
        })
    }
}

impl From<CallEvent> for pb::CallEvent {
    fn from(e: CallEvent) -> Self {
        pb::CallEvent {
            id: e.id,
            site: e.site,
            outcome: e.outcome.to_wire(),
            wait_seconds: e.wait_seconds,
            at_ms: e.at_ms,
            focus_team: e.focus_team.unwrap_or_default(),
            ticket_number: e.ticket_number.unwrap_or_default(),
            talk_seconds: e.talk_seconds,
            wrap_seconds: e.wrap_seconds,
        }
    }
}

fn op_from_wire(op: pb::FieldOp) -> Result<FieldOp> {
    let pb::FieldOp { op } = op;
    match required("op", op)? {
        pb::field_op::Op::Set(value) => Ok(FieldOp::Set(
            fields::value_from_wire(value).map_err(|e| e.within("set"))?,
        )),
        pb::field_op::Op::AddComment(c) => Ok(FieldOp::AddComment(
            c.try_into().map_err(|e: Error| e.within("add_comment"))?,
        )),
        pb::field_op::Op::AddCallEvent(e) => Ok(FieldOp::AddCallEvent(
            e.try_into()
                .map_err(|e: Error| e.within("add_call_event"))?,
        )),
        pb::field_op::Op::Delete(pb::DeleteEntity { reason }) => Ok(FieldOp::Delete { reason }),
    }
}

impl From<FieldOp> for pb::FieldOp {
    fn from(op: FieldOp) -> Self {
        let op = match op {
            FieldOp::Set(value) => pb::field_op::Op::Set(fields::value_to_wire(value)),
            FieldOp::AddComment(c) => pb::field_op::Op::AddComment(c.into()),
            FieldOp::AddCallEvent(e) => pb::field_op::Op::AddCallEvent(e.into()),
            FieldOp::Delete { reason } => pb::field_op::Op::Delete(pb::DeleteEntity { reason }),
        };
        pb::FieldOp { op: Some(op) }
    }
}

impl TryFrom<pb::Change> for Change {
    type Error = Error;

    /// Converts and validates a whole change (see [`Change::validate`]); errors name the field
    /// under `change.`.
    fn try_from(change: pb::Change) -> Result<Self> {
        let pb::Change {
            key,
            ops,
            origin_site,
            origin_seq,
            hlc,
        } = change;
        let key = required("change.key", key)?;
        let key = EntityKey::try_from(key).map_err(|e| e.within("change.key"))?;
        let hlc = required("change.hlc", hlc)?.into();
        if ops.len() > crate::change::MAX_OPS {
            return Err(Error::TooLarge {
                field: "change.ops".into(),
                size: ops.len(),
                limit: crate::change::MAX_OPS,
            });
        }
        let ops = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| op_from_wire(op).map_err(|e| e.within(&format!("change.ops[{i}]"))))
            .collect::<Result<Vec<_>>>()?;
        let change = Change {
            key,
            ops,
            origin_site,
            origin_seq,
            hlc,
        };
        change.validate()?;
        Ok(change)
    }
}

impl From<Change> for pb::Change {
    fn from(change: Change) -> Self {
        pb::Change {
            key: Some(change.key.into()),
            ops: change.ops.into_iter().map(Into::into).collect(),
            origin_site: change.origin_site,
            origin_seq: change.origin_seq,
            hlc: Some(change.hlc.into()),
        }
    }
}
