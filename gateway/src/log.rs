//! What the global log holds: one record per accepted change, with the visibility effects the
//! writer computed when it accepted it, and the lease records. Stored as protobuf (prost
//! derive), so records decode across versions the way the wire contract does.

use std::sync::Arc;

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;

use crate::error::{Error, Result};

/// One accepted change as stored in the log.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    /// The change as pushed.
    #[prost(message, optional, tag = "1")]
    pub change: Option<pb::Change>,
    /// Tenants that could not see the entity before and can now.
    #[prost(string, repeated, tag = "2")]
    pub gained: Vec<String>,
    /// Tenants that could see the entity before and cannot now.
    #[prost(string, repeated, tag = "3")]
    pub lost: Vec<String>,
    /// For a policy change: the focus team.
    #[prost(string, tag = "4")]
    pub team: String,
    /// For a policy change: tenants whose handling or PII grant for `team` changed.
    #[prost(string, repeated, tag = "5")]
    pub access_changed: Vec<String>,
    /// When the gateway accepted it, ms since the epoch.
    #[prost(uint64, tag = "6")]
    pub at_ms: u64,
    /// For a policy change: those of `access_changed` that handled `team` before it.
    #[prost(string, repeated, tag = "7")]
    pub handlers_before: Vec<String>,
    /// For a policy change: those of `access_changed` that held its PII grant before it.
    #[prost(string, repeated, tag = "8")]
    pub pii_before: Vec<String>,
    /// True when `handlers_before`, `pii_before` and `team_tickets` were recorded (records
    /// written before they existed have none: every ticket now in the team is then purged and
    /// resent).
    #[prost(bool, tag = "9")]
    pub access_recorded: bool,
    /// For a policy change that altered someone's access: the tickets in the team at that
    /// moment (a ticket moved or deleted since is still one whose access changed).
    #[prost(string, repeated, tag = "10")]
    pub team_tickets: Vec<String>,
    /// The change ended partners' retention of its ticket: the tenants in `lost` lost sight
    /// of it for that reason (their sites count it as a retention purge).
    #[prost(bool, tag = "11")]
    pub expired: bool,
}

/// A log record read for catch-up, which needs the entity and the access effects but not the
/// change's operations: decoding with this type skips the operations' bytes (comment bodies)
/// instead of allocating them. Same tags as [`LogRecord`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecordHead {
    /// The change, of which only its entity is read.
    #[prost(message, optional, tag = "1")]
    pub change: Option<ChangeKey>,
    /// See [`LogRecord::lost`].
    #[prost(string, repeated, tag = "3")]
    pub lost: Vec<String>,
    /// See [`LogRecord::team`].
    #[prost(string, tag = "4")]
    pub team: String,
    /// See [`LogRecord::access_changed`].
    #[prost(string, repeated, tag = "5")]
    pub access_changed: Vec<String>,
    /// See [`LogRecord::handlers_before`].
    #[prost(string, repeated, tag = "7")]
    pub handlers_before: Vec<String>,
    /// See [`LogRecord::pii_before`].
    #[prost(string, repeated, tag = "8")]
    pub pii_before: Vec<String>,
    /// See [`LogRecord::access_recorded`].
    #[prost(bool, tag = "9")]
    pub access_recorded: bool,
    /// See [`LogRecord::team_tickets`].
    #[prost(string, repeated, tag = "10")]
    pub team_tickets: Vec<String>,
    /// See [`LogRecord::expired`].
    #[prost(bool, tag = "11")]
    pub expired: bool,
}

/// The entity of a stored `pb::Change` (tag 1 of `hotline.v1.Change`), its other fields
/// skipped.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChangeKey {
    /// The entity changed.
    #[prost(message, optional, tag = "1")]
    pub key: Option<pb::EntityKey>,
}

/// Decodes a log record's entity and access effects, skipping the change's operations.
pub fn decode_record_head(bytes: &[u8]) -> Result<(EntityKey, LogRecordHead)> {
    let mut record: LogRecordHead = decode("log record", bytes)?;
    let wire = record
        .change
        .take()
        .and_then(|change| change.key)
        .ok_or_else(|| Error::Corrupt("log record without the key of its change".into()))?;
    let key = EntityKey::try_from(wire).map_err(|e| Error::Corrupt(format!("log record: {e}")))?;
    Ok((key, record))
}

impl From<LogRecordHead> for TeamChange {
    /// The team change a stored record describes.
    fn from(record: LogRecordHead) -> Self {
        TeamChange {
            team: record.team,
            access_changed: record.access_changed,
            handlers_before: record.handlers_before,
            pii_before: record.pii_before,
            tickets: record.team_tickets,
            recorded: record.access_recorded,
        }
    }
}

/// How a policy change altered its focus team's access, as far as a subscriber needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamChange {
    /// The focus team (empty when the entry is not a policy change).
    pub team: String,
    /// Tenants whose handling or PII grant for the team changed.
    pub access_changed: Vec<String>,
    /// Those of `access_changed` that handled the team before.
    pub handlers_before: Vec<String>,
    /// Those of `access_changed` that held its PII grant before.
    pub pii_before: Vec<String>,
    /// The tickets in the team at the change (when `access_changed` is not empty).
    pub tickets: Vec<String>,
    /// False for records from before the lists were kept.
    pub recorded: bool,
}

// Only the test that compares it with [`LogRecordHead`] reads a whole record's team change.
#[cfg(test)]
impl From<LogRecord> for TeamChange {
    /// The team change a stored record describes.
    fn from(record: LogRecord) -> Self {
        TeamChange {
            team: record.team,
            access_changed: record.access_changed,
            handlers_before: record.handlers_before,
            pii_before: record.pii_before,
            tickets: record.team_tickets,
            recorded: record.access_recorded,
        }
    }
}

/// A block of public ticket numbers granted to a site.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaseRecord {
    /// The site holding the block.
    #[prost(string, tag = "1")]
    pub site: String,
    /// First number.
    #[prost(uint64, tag = "2")]
    pub first: u64,
    /// How many numbers.
    #[prost(uint32, tag = "3")]
    pub count: u32,
}

/// A committed log entry as live subscribers receive it.
#[derive(Debug)]
pub struct Committed {
    /// Global sequence number.
    pub seq: u64,
    /// The change.
    pub change: Change,
    /// The head of the entity's state right after the change (see [`EntityState::head`]):
    /// what a reader's access depends on, without copying the comments of a busy ticket.
    pub after: EntityState,
    /// The whole state was empty right after the change (see
    /// [`hotline_federation::visibility::head_access`]).
    pub after_empty: bool,
    /// See [`LogRecord::gained`].
    pub gained: Vec<String>,
    /// See [`LogRecord::lost`].
    pub lost: Vec<String>,
    /// See [`LogRecord::expired`].
    pub expired: bool,
    /// [`crate::writer::Shared::erasures`] when the entry was committed.
    pub erasures_before: u64,
    /// What a policy change did to its team's access (empty team otherwise).
    pub team: TeamChange,
    /// Every tenant that may read the entity right after the change, and how much of it.
    pub readers: Vec<(String, hotline_federation::visibility::Access)>,
    /// The events of this entry already encoded for a tenant (see [`Prepared`]): the first of
    /// a tenant's subscribers encodes them, the others write the same bytes.
    pub prepared: parking_lot::Mutex<Vec<Prepared>>,
}

/// A live entry's events as one tenant receives them, encoded, with the rules they were
/// decided by: reused only under the very same rules (the same `Directory`), so a policy
/// change between two subscribers' turns is decided again.
#[derive(Debug)]
pub struct Prepared {
    /// The tenant they are for.
    pub tenant: String,
    /// The rules they were decided by.
    pub directory: Arc<hotline_federation::visibility::Directory>,
    /// The events, the last carrying the entry's cursor (none: the tenant receives nothing).
    pub events: Arc<[hotline_proto::prepared::PreparedSyncEvent]>,
}

/// Shared handle of a committed entry.
pub type CommittedRef = Arc<Committed>;

/// Decodes a stored protobuf value, naming what it was on failure.
pub fn decode<M: prost::Message + Default>(what: &str, bytes: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// Decodes an entity state record: a layout-1 record (the whole state) or a layout-2 head
/// (registers and delete only). Reads go through [`crate::store::entities`].
pub fn decode_state(bytes: &[u8]) -> Result<EntityState> {
    let wire: pb::EntityState = decode("entity state", bytes)?;
    EntityState::try_from(wire).map_err(|e| Error::Corrupt(format!("entity state: {e}")))
}

/// Encodes an entity state whole, as storage layout 1 stored it (the migration's tests write
/// such stores); layout 2 writes through [`crate::store::entities`].
pub fn encode_state(state: &EntityState) -> Vec<u8> {
    prost::Message::encode_to_vec(&pb::EntityState::from(state.clone()))
}

/// Decodes a stored log record into the change and the record.
pub fn decode_record(bytes: &[u8]) -> Result<(Change, LogRecord)> {
    let mut record: LogRecord = decode("log record", bytes)?;
    let wire = record
        .change
        .take()
        .ok_or_else(|| Error::Corrupt("log record without change".into()))?;
    let change = Change::try_from(wire).map_err(|e| Error::Corrupt(format!("log record: {e}")))?;
    Ok((change, record))
}

#[cfg(test)]
mod tests {
    use hotline_federation::clock::Hlc;
    use hotline_federation::model::{Comment, EntityKind, Visibility};
    use hotline_federation::{Change, FieldOp};
    use prost::Message;

    use super::*;

    /// The light decode catch-up uses reads the same entity and access effects as the whole
    /// decode, from a record whose change carries a comment body it skips.
    #[test]
    fn record_head_reads_what_the_whole_record_says() {
        let change = Change {
            key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000042"),
            ops: vec![FieldOp::AddComment(Comment {
                id: "munich-7".into(),
                author_alias: "Agent 7".into(),
                author_tenant: "inhouse".into(),
                visibility: Visibility::Public,
                body: "x".repeat(1500),
                created_at_ms: 1,
                attachments: Vec::new(),
            })],
            origin_site: "munich".into(),
            origin_seq: 7,
            hlc: Hlc::new(1, 0),
        };
        let record = LogRecord {
            change: Some(pb::Change::from(change.clone())),
            gained: vec!["t4h".into()],
            lost: vec!["brightcall".into()],
            team: "sap".into(),
            access_changed: vec!["t4h".into(), "brightcall".into()],
            at_ms: 5,
            handlers_before: vec!["brightcall".into()],
            pii_before: vec!["t4h".into()],
            access_recorded: true,
            team_tickets: vec!["ASZ-2026-000001".into()],
            expired: true,
        };
        let bytes = record.encode_to_vec();
        let (whole_change, whole) = decode_record(&bytes).expect("whole");
        let (key, head) = decode_record_head(&bytes).expect("head");
        assert_eq!(key, whole_change.key);
        assert_eq!(whole_change, change);
        assert_eq!(head.lost, whole.lost);
        assert!(head.expired && whole.expired);
        assert_eq!(TeamChange::from(head), TeamChange::from(whole));
        let empty = LogRecord::default().encode_to_vec();
        let err = decode_record_head(&empty).unwrap_err().to_string();
        assert!(err.contains("without the key"), "{err}");
    }
}
