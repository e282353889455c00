//! The store's one key table: every key of the local sled store starts with one of these bytes
//! and is built here; no other module spells a prefix byte. Numbers are big-endian, so byte
//! order is numeric order.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `e` | kind, `/`, id | the entity's head: `hotline.v1.EntityState` with its registers and delete stamp only (layout 2; in layout 1 the whole state) |
//! | `c` | kind, `/`, id, 0, comment id | `hotline.v1.StampedComment`: one comment of a ticket (layout 2) |
//! | `g` | kind, `/`, id, 0, event id | `hotline.v1.StampedCallEvent`: one event of a call log (layout 2) |
//! | `o` | origin sequence (u64) | `hotline.v1.Change` (the outbox) |
//! | `p` | origin sequence (u64) | [`Parked`](super::Parked) (dead letters) |
//! | `n` | year (u32), first (u64) | [`NumberBlock`](super::NumberBlock) |
//! | `i` | customer ref, 0, ticket id | empty (find by customer) |
//! | `r` | kind, `/`, id | `hotline.v1.EntityKey`: a change to it was refused, so the local copy waits to be replaced by the gateway's |
//! | `m` | name | counters: `cursor`, `seq`, `hlc`, `confirmed`, `webhook`; markers `site`, `format`; `migrate`: the head key of the last entity a layout migration rewrote (see `super::migrate`); `checkpoint`: the gateway's latest signed audit checkpoint (`hotline.v1.AuditCheckpoint`) |
//! | `a` | origin sequence (u64) | the audit receipt of an accepted change: entry position (u64), entry hash (32 bytes) |
//! | `w` | target index (u16), event id (u64) | a webhook delivery waiting (see `crate::webhooks`) |
//! | `y` | target index (u16), event id (u64) | a webhook given up on, as JSON |

use hotline_federation::model::{EntityKey, EntityKind};

/// `e<kind>/<id>`: an entity's head (registers and delete stamp) as this site holds it.
pub(crate) const ENTITY: u8 = b'e';
/// `c<kind>/<id>\0<comment id>`: one comment of a ticket.
pub(crate) const COMMENT: u8 = b'c';
/// `g<kind>/<id>\0<event id>`: one event of a call log.
pub(crate) const CALL_EVENT: u8 = b'g';
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
/// `a<origin_seq>`: the gateway's audit receipt of an accepted change.
pub(crate) const RECEIPT: u8 = b'a';
/// `w<target><event>`: a webhook delivery waiting.
pub(crate) const WEBHOOK_QUEUE: u8 = b'w';
/// `y<target><event>`: a webhook given up on (a webhook dead letter).
pub(crate) const WEBHOOK_DEAD_LETTER: u8 = b'y';

/// The length of a webhook key: prefix, target index (u16), event id (u64).
const WEBHOOK_KEY_LEN: usize = 1 + 2 + 8;

/// The key of an entity's state.
pub(crate) fn entity_key(key: &EntityKey) -> Vec<u8> {
    let mut out = entity_kind_prefix(key.kind);
    out.extend_from_slice(key.id.as_bytes());
    out
}

/// The prefix of every entity of one kind.
pub(crate) fn entity_kind_prefix(kind: EntityKind) -> Vec<u8> {
    let mut out = vec![ENTITY];
    out.extend_from_slice(kind.as_str().as_bytes());
    out.push(b'/');
    out
}

/// The prefix under `prefix` (`e`, `c` or `g`) of every entity of `kind`, or of every entity.
pub(crate) fn entities_prefix(prefix: u8, kind: Option<EntityKind>) -> Vec<u8> {
    let mut out = vec![prefix];
    if let Some(kind) = kind {
        out.extend_from_slice(kind.as_str().as_bytes());
        out.push(b'/');
    }
    out
}

/// The prefix of one entity's comments (`c`) or call events (`g`): kind, `/`, id, 0.
pub(crate) fn element_prefix(prefix: u8, key: &EntityKey) -> Vec<u8> {
    let mut out = entity_key(key);
    out[0] = prefix;
    out.push(0);
    out
}

/// The key of one comment (`c`) or call event (`g`) of an entity.
pub(crate) fn element_key(prefix: u8, key: &EntityKey, element_id: &str) -> Vec<u8> {
    let mut out = element_prefix(prefix, key);
    out.extend_from_slice(element_id.as_bytes());
    out
}

/// Splits a `c` or `g` key into its entity part (kind, `/`, id: the head key without its
/// prefix byte) and its element id; `None` when the key has no 0 separator.
pub(crate) fn element_parts(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = key.get(1..)?;
    let zero = rest.iter().position(|byte| *byte == 0)?;
    Some((&rest[..zero], &rest[zero + 1..]))
}

/// The prefix of the comments (`c`) or call events (`g`) of the entity whose head key is
/// `head` (see [`entity_key`]): the same bytes as [`element_prefix`] builds from its key.
pub(crate) fn head_element_prefix(prefix: u8, head: &[u8]) -> Vec<u8> {
    let mut out = head.to_vec();
    out[0] = prefix;
    out.push(0);
    out
}

/// True when the head key `head` (see [`entity_key`]) is of an entity of `kind`.
pub(crate) fn head_is_kind(head: &[u8], kind: EntityKind) -> bool {
    let name = kind.as_str().as_bytes();
    head.get(1..1 + name.len()) == Some(name) && head.get(1 + name.len()) == Some(&b'/')
}

/// The head key of the entity a `c` or `g` key's entity part names (see [`element_parts`]).
pub(crate) fn head_key_of(entity_part: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entity_part.len() + 1);
    out.push(ENTITY);
    out.extend_from_slice(entity_part);
    out
}

/// The key of a refresh marker: the entity's key with `r` in front instead of `e`.
pub(crate) fn refresh_key(key: &EntityKey) -> Vec<u8> {
    let mut out = entity_key(key);
    out[0] = REFRESH;
    out
}

/// The key of an outbox entry (`o`) or dead letter (`p`).
pub(crate) fn seq_key(prefix: u8, seq: u64) -> Vec<u8> {
    let mut out = vec![prefix];
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// The origin sequence of an `o` or `p` key, `None` when the key is malformed.
pub(crate) fn key_seq(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(1..)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// The key of a counter or marker.
pub(crate) fn meta(name: &str) -> Vec<u8> {
    let mut out = vec![META];
    out.extend_from_slice(name.as_bytes());
    out
}

/// The key of a block of leased ticket numbers.
pub(crate) fn numbers_key(year: u32, first: u64) -> Vec<u8> {
    let mut out = vec![NUMBERS];
    out.extend_from_slice(&year.to_be_bytes());
    out.extend_from_slice(&first.to_be_bytes());
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

/// The key of a webhook delivery (`w`) or webhook dead letter (`y`) of event `event_id` for the
/// target at `target` in the configuration.
pub(crate) fn webhook_key(prefix: u8, target: u16, event_id: u64) -> Vec<u8> {
    let mut out = webhook_target_prefix(prefix, target);
    out.extend_from_slice(&event_id.to_be_bytes());
    out
}

/// The prefix of one target's webhook deliveries (`w`) or dead letters (`y`).
pub(crate) fn webhook_target_prefix(prefix: u8, target: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(WEBHOOK_KEY_LEN);
    out.push(prefix);
    out.extend_from_slice(&target.to_be_bytes());
    out
}

/// The target index and event id of a `w` or `y` key, `None` when the key is malformed.
pub(crate) fn webhook_parts(key: &[u8]) -> Option<(u16, u64)> {
    if key.len() != WEBHOOK_KEY_LEN {
        return None;
    }
    let target = key[1..3].try_into().ok().map(u16::from_be_bytes)?;
    let event_id = key[3..].try_into().ok().map(u64::from_be_bytes)?;
    Some((target, event_id))
}

/// A key in hex, for messages about malformed records.
pub(crate) fn show_hex(key: &[u8]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}
