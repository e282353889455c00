//! The decoded-state cache of the writer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hotline_federation::EntityState;
use hotline_federation::model::EntityKey;

/// Entity states the writer merged lately, so a busy ticket is not decoded from the store for
/// every change. Only the writer changes entities, and it fills the cache only after a group
/// committed, so the cache never holds what the store does not.
///
/// Eviction drops the state put longest ago. Each put is numbered; the order keeps (key,
/// number) pairs, and a pair whose key was put again since (or taken) is skipped when it
/// reaches the front, so a busy entity taken and put back every group stays cached.
#[derive(Default)]
pub(super) struct StateCache {
    states: HashMap<EntityKey, (Arc<EntityState>, u64)>,
    order: VecDeque<(EntityKey, u64)>,
    puts: u64,
}

/// Most entity states the writer keeps decoded.
const CACHED_STATES: usize = 4096;

impl StateCache {
    pub(super) fn get(&self, key: &EntityKey) -> Option<&Arc<EntityState>> {
        self.states.get(key).map(|(state, _)| state)
    }

    /// Takes a state out, so the writer can change it in place; it comes back with
    /// [`StateCache::put`] once its group committed.
    pub(super) fn take(&mut self, key: &EntityKey) -> Option<Arc<EntityState>> {
        self.states.remove(key).map(|(state, _)| state)
    }

    pub(super) fn put(&mut self, key: EntityKey, state: Arc<EntityState>) {
        self.puts += 1;
        self.states.insert(key.clone(), (state, self.puts));
        self.order.push_back((key, self.puts));
        // The order holds at most twice the states: stale pairs are dropped as they come.
        while self.states.len() > CACHED_STATES || self.order.len() > 2 * CACHED_STATES {
            let Some((old, number)) = self.order.pop_front() else {
                break;
            };
            if self.states.get(&old).is_some_and(|(_, put)| *put == number) {
                self.states.remove(&old);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (self.states.len(), self.order.len())
    }
}

#[cfg(test)]
mod tests {
    use hotline_federation::model::EntityKind;

    use super::*;

    fn key(n: usize) -> EntityKey {
        EntityKey::new(EntityKind::Ticket, format!("ASZ-2026-{n:06}"))
    }

    fn state(n: usize) -> Arc<EntityState> {
        Arc::new(EntityState::new(key(n)))
    }

    /// A ticket changed in every group (taken, then put back) stays cached however many
    /// groups pass, while other tickets come and go.
    #[test]
    fn a_busy_entity_stays_cached() {
        let mut cache = StateCache::default();
        for round in 0..(10 * CACHED_STATES) {
            let busy = cache.take(&key(0)).unwrap_or_else(|| state(0));
            cache.put(key(0), busy);
            cache.put(key(1 + round), state(1 + round));
            assert!(cache.get(&key(0)).is_some(), "evicted at round {round}");
        }
        let (states, order) = cache.len();
        assert_eq!(states, CACHED_STATES);
        assert!(order <= 2 * CACHED_STATES, "order grew to {order}");
    }

    /// Beyond the bound the state put longest ago goes first, and a taken state is gone until
    /// it is put back.
    #[test]
    fn the_oldest_put_is_evicted_and_taken_states_are_gone() {
        let mut cache = StateCache::default();
        for n in 0..CACHED_STATES {
            cache.put(key(n), state(n));
        }
        cache.put(key(CACHED_STATES), state(CACHED_STATES));
        assert!(cache.get(&key(0)).is_none(), "the oldest stays");
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(CACHED_STATES)).is_some());
        assert!(cache.take(&key(1)).is_some());
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.take(&key(1)).is_none());
    }
}
