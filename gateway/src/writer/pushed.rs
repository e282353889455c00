//! A pushed change with the part of its acceptance that reads nothing the writer keeps: its
//! digest, what its audit entry says of it, its encoding for the log record and its delta (the
//! state holding only its writes, which the bounds check measures and the merge joins in
//! whole). Worked out on
//! the caller's thread ([`super::WriterHandle::push_with_receipts`]) while the one writer
//! commits other groups; the writer then only decides, merges, writes and flushes.

use hotline_federation::state::change_digest;
use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;
use prost::Message;

use super::audit::Summary;

/// The log record's field that carries the change (`crate::log::LogRecord::change`).
const LOG_CHANGE_TAG: u32 = 1;

/// See the module docs.
#[derive(Debug)]
pub(super) struct Pushed {
    /// The change.
    pub change: Change,
    /// Its digest (`change_digest`), which tells a retry from a reused origin sequence.
    pub digest: [u8; 32],
    /// What its audit entry says of it, whatever the outcome.
    pub summary: Summary,
    /// The change as field [`LOG_CHANGE_TAG`] of a log record: key, length and the encoded
    /// `pb::Change` (see [`log_record_bytes`]).
    pub log_field: Vec<u8>,
    /// `EntityState::delta(&change)`; the writer takes it to merge the change.
    pub delta: Option<EntityState>,
}

impl Pushed {
    /// Prepares `change`.
    pub(super) fn new(change: Change) -> Self {
        let digest = change_digest(&change);
        let summary = Summary::of(&change, &digest);
        let log_field = change_field(&change);
        let delta = Some(EntityState::delta(&change));
        Pushed {
            change,
            digest,
            summary,
            log_field,
            delta,
        }
    }
}

/// `change` encoded as the log record's change field.
pub(super) fn change_field(change: &Change) -> Vec<u8> {
    let wire = pb::Change::from(change.clone());
    let mut field = Vec::with_capacity(wire.encoded_len() + 8);
    prost::encoding::message::encode(LOG_CHANGE_TAG, &wire, &mut field);
    field
}

/// A log record's bytes: `change_field` followed by `rest`, a record whose own change field
/// is empty. Protobuf reads fields in any order, so this is the record with the change in it.
pub(super) fn log_record_bytes(change_field: Vec<u8>, rest: &crate::log::LogRecord) -> Vec<u8> {
    debug_assert!(rest.change.is_none(), "the change goes in once");
    debug_assert!(!change_field.is_empty(), "a log record carries its change");
    let mut bytes = change_field;
    bytes.reserve(rest.encoded_len());
    rest.encode_raw(&mut bytes);
    bytes
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::log::LogRecord;
    use hotline_federation::model::{Comment, EntityKey, EntityKind, Visibility};
    use hotline_federation::{FieldOp, Hlc};

    /// A comment `id` as an operation (the writer's unit tests share it).
    pub(in crate::writer) fn comment(id: &str) -> FieldOp {
        FieldOp::AddComment(Comment {
            id: id.into(),
            author_alias: "Advisor 7".into(),
            author_tenant: "twenty4help".into(),
            visibility: Visibility::Federation,
            body: "called back".into(),
            created_at_ms: 1,
            attachments: Vec::new(),
        })
    }

    fn change() -> Change {
        Change {
            key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
            ops: vec![comment("erfurt-1")],
            origin_site: "erfurt".into(),
            origin_seq: 7,
            hlc: Hlc::new(1_790_000_000_000, 3),
        }
    }

    /// The record written from the prepared field has the very bytes of the record encoded
    /// whole (the change is field 1, which prost writes first), every field set and at the
    /// widest numbers; so it decodes to it for every reader.
    #[test]
    fn a_record_from_the_prepared_change_is_the_whole_record() {
        let names = |n: &str| vec![format!("{n}-a"), format!("{n}-b")];
        let rest = LogRecord {
            change: None,
            gained: names("gained"),
            lost: names("lost"),
            team: "finance-hr".into(),
            access_changed: names("changed"),
            at_ms: u64::MAX,
            handlers_before: names("handler"),
            pii_before: names("pii"),
            access_recorded: true,
            team_tickets: names("ticket"),
            expired: true,
        };
        let mut wide = change();
        wide.origin_seq = u64::MAX;
        wide.hlc = Hlc::new(u64::MAX, u32::MAX);
        for change in [change(), wide] {
            let whole = LogRecord {
                change: Some(pb::Change::from(change.clone())),
                ..rest.clone()
            };
            let bytes = log_record_bytes(Pushed::new(change).log_field, &rest);
            assert_eq!(bytes, whole.encode_to_vec());
            assert_eq!(LogRecord::decode(bytes.as_slice()).unwrap(), whole);
        }
    }
}
