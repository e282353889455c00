//! What the store-level tests share: the site, webhook events without targets, and a local
//! write of a ticket's subject.

use std::sync::Arc;

use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::{Mapping, MappingConfig};
use hotline_adapter::replica::Replica;
use hotline_federation::model::{EntityKey, FieldValue, TicketField};
use hotline_federation::{Change, FieldOp};

/// The site every store belongs to.
pub(crate) const SITE: &str = "dortmund";
/// Its tenant.
pub(crate) const TENANT: &str = "twenty4help";

/// Webhook events with no targets.
pub(crate) fn events() -> TicketEvents {
    let mapping = Mapping::new(&MappingConfig::default()).expect("mapping");
    TicketEvents::new(Vec::new(), mapping, SITE.into(), Arc::default())
}

/// An operation setting a ticket's subject.
pub(crate) fn subject(text: &str) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(TicketField::Subject(text.into())))
}

/// Sets the subject of `key` as a local write made when the site's clock read `at_ms`.
pub(crate) fn write_at(replica: &Replica, key: &EntityKey, text: &str, at_ms: u64) -> Change {
    let (change, _) = replica
        .local_change(key, at_ms, &events(), |seq, hlc, _, _| {
            Ok(Change {
                key: key.clone(),
                ops: vec![subject(text)],
                origin_site: SITE.into(),
                origin_seq: seq,
                hlc,
            })
        })
        .expect("local change");
    change
}
