//! The entity bounds of [`hotline_federation::limits`] as the writer applies them: a change
//! that would grow an entity past a bound is refused with `REJECT_REASON_TOO_LARGE`, so no
//! entity ever outgrows what every site can receive in one message.

use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;

use super::Outcome;
use hotline_federation::authority::Refusal;

/// The refusal of `change` when merging it into `before` would break a bound.
pub(super) fn too_large(before: &EntityState, change: &Change) -> Option<Outcome> {
    let error = hotline_federation::limits::check_change(before, change).err()?;
    Some(Outcome::Rejected(Refusal {
        reason: pb::RejectReason::TooLarge,
        message: error.to_string(),
    }))
}
