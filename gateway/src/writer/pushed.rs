//! A pushed change with the part of its acceptance that reads nothing the writer keeps: its
//! digest, what its audit entry says of it and its encoding for the log record. Worked out on
//! the caller's thread ([`super::WriterHandle::push_with_receipts`]) while the one writer
//! commits other groups; the writer then only decides, merges, writes and flushes.

use hotline_federation::Change;
use hotline_federation::state::change_digest;
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
}

impl Pushed {
    /// Prepares `change`.
    pub(super) fn new(change: Change) -> Self {
        let digest = change_digest(&change);
        let summary = Summary::of(&change, &digest);
        let log_field = change_field(&change);
        Pushed {
            change,
            digest,
            summary,
            log_field,
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
    let mut bytes = change_field;
    bytes.reserve(rest.encoded_len());
    rest.encode_raw(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogRecord;
    use hotline_federation::model::{Comment, EntityKey, EntityKind, Visibility};
    use hotline_federation::{FieldOp, Hlc};

    fn change() -> Change {
        Change {
            key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
            ops: vec![FieldOp::AddComment(Comment {
                id: "erfurt-1".into(),
                author_alias: "Advisor 7".into(),
                author_tenant: "twenty4help".into(),
                visibility: Visibility::Federation,
                body: "called back".into(),
                created_at_ms: 1,
            })],
            origin_site: "erfurt".into(),
            origin_seq: 7,
            hlc: Hlc::new(1_790_000_000_000, 3),
        }
    }

    /// The record written from the prepared field decodes to the record the writer would
    /// have encoded whole.
    #[test]
    fn a_record_from_the_prepared_change_is_the_whole_record() {
        let rest = LogRecord {
            gained: vec!["twenty4help".into()],
            at_ms: 1_790_000_000_123,
            access_recorded: true,
            ..LogRecord::default()
        };
        let whole = LogRecord {
            change: Some(pb::Change::from(change())),
            ..rest.clone()
        };
        let bytes = log_record_bytes(Pushed::new(change()).log_field, &rest);
        assert_eq!(LogRecord::decode(bytes.as_slice()).unwrap(), whole);
        assert_eq!(bytes.len(), whole.encoded_len());
    }
}
