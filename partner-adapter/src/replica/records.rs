//! The records the store keeps besides entities (see `entities`) and changes, and how stored values decode:
//! dead letters, ticket-number blocks, counters and clock readings.

use hotline_federation::model::{FieldValue, TicketField};
use hotline_federation::{EntityState, Hlc, Stamp};
use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::meta;
use super::stage::Source;
use crate::error::{Error, Result};

/// A change the gateway refused, kept for an operator.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Parked {
    /// The change.
    #[prost(message, optional, tag = "1")]
    pub change: Option<pb::Change>,
    /// The gateway's reason (`hotline.v1.RejectReason`).
    #[prost(int32, tag = "2")]
    pub reason: i32,
    /// The gateway's message.
    #[prost(string, tag = "3")]
    pub message: String,
    /// When it was parked, ms.
    #[prost(uint64, tag = "4")]
    pub at_ms: u64,
    /// The name of the rule the change breaks (`hotline_federation::authority::Rule`); empty
    /// in letters parked before the gateway named rules.
    #[prost(string, tag = "5")]
    pub rule: String,
}

/// A leased block of ticket numbers and how many are used.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumberBlock {
    /// Prefix, e.g. ASZ.
    #[prost(string, tag = "1")]
    pub prefix: String,
    /// Year.
    #[prost(uint32, tag = "2")]
    pub year: u32,
    /// First number.
    #[prost(uint64, tag = "3")]
    pub first: u64,
    /// Size.
    #[prost(uint32, tag = "4")]
    pub count: u32,
    /// Numbers handed out so far.
    #[prost(uint32, tag = "5")]
    pub used: u32,
}

/// A stored counter (8 bytes, big-endian).
pub(crate) fn decode_counter(raw: &[u8]) -> std::result::Result<u64, String> {
    let bytes: [u8; 8] = raw
        .try_into()
        .map_err(|_| format!("{} bytes, expected an 8-byte number", raw.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The counter stored under `m` + `name`, 0 when absent.
pub(super) fn read_counter(source: &impl Source, name: &str) -> Result<u64> {
    match source.read(&meta(name))? {
        None => Ok(0),
        Some(raw) => {
            let bytes: [u8; 8] = raw
                .as_ref()
                .try_into()
                .map_err(|_| corrupt(name, "not a number"))?;
            Ok(u64::from_be_bytes(bytes))
        }
    }
}

/// The clock reading stored under `m` + `name`, if any.
pub(super) fn read_hlc(db: &sled::Db, name: &str) -> Result<Option<Hlc>> {
    db.get(meta(name))?
        .map(|raw| {
            let wire = pb::Hlc::decode(raw.as_ref()).map_err(|e| corrupt("clock", e))?;
            Ok(Hlc::from(wire))
        })
        .transpose()
}

/// A clock reading as stored.
pub(super) fn encode_hlc(hlc: Hlc) -> Vec<u8> {
    pb::Hlc::from(hlc).encode_to_vec()
}

/// A stored record that does not decode.
pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("{what}: {e}"))
}

/// The customer reference of a ticket, if it has one.
pub(super) fn customer_of(state: &EntityState) -> Option<&str> {
    match state.value("customer_ref") {
        Some(FieldValue::Ticket(TicketField::CustomerRef(c))) => Some(c),
        _ => None,
    }
}

/// Every write position a state holds: register winners and the superseded writes kept,
/// comments, call events and the delete.
pub(super) fn stamps(state: &EntityState) -> impl Iterator<Item = &Stamp> {
    state
        .registers
        .values()
        .flat_map(|r| std::iter::once(&r.winner.stamp).chain(r.superseded.iter().map(|w| &w.stamp)))
        .chain(state.comments.values().map(|c| &c.stamp))
        .chain(state.call_events.values().map(|e| &e.stamp))
        .chain(state.deleted.iter())
}
