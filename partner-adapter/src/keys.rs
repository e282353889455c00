//! The adapter store's one key table: every key of the local sled store starts with one of these
//! bytes, built here (the webhook queue's keys in `webhooks`), and no other module spells a
//! prefix byte; `integrity` and `recover` read the same names.

use hotline_federation::model::EntityKey;

/// `e<kind>/<id>`: an entity's state as this site holds it.
pub(crate) const ENTITY: u8 = b'e';
/// `o<origin_seq>`: an outbox entry (a local change not yet acknowledged by the gateway).
pub(crate) const OUTBOX: u8 = b'o';
/// `p<origin_seq>`: a parked change the gateway refused (a dead letter).
pub(crate) const PARKED: u8 = b'p';
/// `n<year><first>`: a block of leased ticket numbers.
pub(crate) const NUMBERS: u8 = b'n';
/// `i<customer>\0<ticket>`: the index of tickets by customer reference.
pub(crate) const CUSTOMER: u8 = b'i';
/// `r<kind>/<id>`: an entity waiting for the gateway's copy after a refusal.
pub(crate) const REFRESH: u8 = b'r';
/// `m<name>`: counters and readings (cursor, seq, hlc, confirmed, webhook, ...).
pub(crate) const META: u8 = b'm';
/// `w<target><event>`: a webhook delivery waiting.
pub(crate) const WEBHOOK_QUEUE: u8 = b'w';
/// `y<target><event>`: a webhook given up on (a webhook dead letter).
pub(crate) const WEBHOOK_DEAD_LETTER: u8 = b'y';

/// The key of an entity's state.
pub(crate) fn entity_key(key: &EntityKey) -> Vec<u8> {
    let mut out = vec![ENTITY];
    out.extend_from_slice(key.kind.as_str().as_bytes());
    out.push(b'/');
    out.extend_from_slice(key.id.as_bytes());
    out
}

/// The key of a refresh marker: the entity's key with `r` in front instead of `e`.
pub(crate) fn refresh_key(key: &EntityKey) -> Vec<u8> {
    let mut out = entity_key(key);
    out[0] = REFRESH;
    out
}

/// The clock reading stored under `m` + `name`, if any.
/// The key of an outbox entry (`o`) or dead letter (`p`).
pub(crate) fn seq_key(prefix: u8, seq: u64) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The key of a counter or marker.
pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut out = vec![META];
    out.extend_from_slice(name.as_bytes());
    out
}

/// The key of one ticket in the by-customer index.
pub(crate) fn customer_key(customer: &str, id: &str) -> Vec<u8> {
    let mut out = customer_prefix(customer);
    out.extend_from_slice(id.as_bytes());
    out
}

/// The prefix of one customer's tickets in the by-customer index.
pub(crate) fn customer_prefix(customer: &str) -> Vec<u8> {
    let mut out = vec![CUSTOMER];
    out.extend_from_slice(customer.as_bytes());
    out.push(0);
    out
}
