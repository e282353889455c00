//! The adapter store's one key table: every key of the local sled store starts with one of these
//! bytes, and no other module spells a prefix byte. The builders live with the data they key
//! (`replica`, `webhooks`); `integrity` and `recover` read the same names.

/// `e<kind>\0<id>`: an entity's state as this site holds it.
pub(crate) const ENTITY: u8 = b'e';
/// `o<origin_seq>`: an outbox entry (a local change not yet acknowledged by the gateway).
pub(crate) const OUTBOX: u8 = b'o';
/// `p<origin_seq>`: a parked change the gateway refused (a dead letter).
pub(crate) const PARKED: u8 = b'p';
/// `n<year><first>`: a block of leased ticket numbers.
pub(crate) const NUMBERS: u8 = b'n';
/// `i<customer>\0<ticket>`: the index of tickets by customer reference.
pub(crate) const CUSTOMER: u8 = b'i';
/// `r<kind>\0<id>`: an entity waiting for the gateway's copy after a refusal.
pub(crate) const REFRESH: u8 = b'r';
/// `m<name>`: counters and readings (cursor, seq, hlc, confirmed, webhook, ...).
pub(crate) const META: u8 = b'm';
/// `w<target><event>`: a webhook delivery waiting.
pub(crate) const WEBHOOK_QUEUE: u8 = b'w';
/// `y<target><event>`: a webhook given up on (a webhook dead letter).
pub(crate) const WEBHOOK_DEAD_LETTER: u8 = b'y';
