//! The decoded-state cache of the writer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use hotline_federation::EntityState;
use hotline_federation::model::EntityKey;

/// Entity states the writer merged lately, so a busy ticket is not decoded from the store for
/// every change. Only the writer changes entities, and it fills the cache only after a group
/// committed, so the cache never holds what the store does not.
#[derive(Default)]
pub(super) struct StateCache {
    states: HashMap<EntityKey, Arc<EntityState>>,
    order: VecDeque<EntityKey>,
}

/// Most entity states the writer keeps decoded.
const CACHED_STATES: usize = 4096;

impl StateCache {
    pub(super) fn get(&self, key: &EntityKey) -> Option<&Arc<EntityState>> {
        self.states.get(key)
    }

    /// Takes a state out, so the writer can change it in place; it comes back with
    /// [`StateCache::put`] once its group committed. Its old place in the eviction order stays
    /// and may evict it early, which costs a store read, never a wrong answer.
    pub(super) fn take(&mut self, key: &EntityKey) -> Option<Arc<EntityState>> {
        self.states.remove(key)
    }

    pub(super) fn put(&mut self, key: EntityKey, state: Arc<EntityState>) {
        if self.states.insert(key.clone(), state).is_none() {
            self.order.push_back(key);
            while self.order.len() > CACHED_STATES {
                if let Some(old) = self.order.pop_front() {
                    self.states.remove(&old);
                }
            }
        }
    }
}
