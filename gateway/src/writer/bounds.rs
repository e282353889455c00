//! The entity bounds of [`hotline_federation::limits`] as the writer applies them: a change
//! that would grow an entity past a bound is refused with `REJECT_REASON_TOO_LARGE`, so no
//! entity ever outgrows what every site can receive in one message.

use hotline_federation::EntityState;

use super::Outcome;
use hotline_federation::authority::{Refusal, Rule};

/// The refusal of a change, given as its `delta` ([`EntityState::delta`]), when merging it
/// into `before` would break a bound.
pub(super) fn too_large(before: &EntityState, delta: &EntityState) -> Option<Outcome> {
    let error = hotline_federation::limits::check_delta(before, delta).err()?;
    Some(Outcome::Rejected(Refusal::new(
        Rule::EntityBounds,
        error.to_string(),
    )))
}
