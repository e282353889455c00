//! What the writer shares with readers (subscribers, handlers): the head, the visibility
//! rules and the registry as of it, the live broadcast, and the rules epoch ([`super::rules`]).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hotline_federation::audit::SignedCheckpoint;
use hotline_federation::visibility::Directory;
use parking_lot::RwLock;
use tokio::sync::broadcast;

use super::rules;
use crate::error::Result;
use crate::guard::CustomerFace;
use crate::log::CommittedRef;

/// State the writer shares with readers (subscribers, handlers).
#[derive(Debug)]
pub struct Shared {
    /// The newest committed global sequence number.
    pub head: AtomicU64,
    /// Every log entry at or below this number has been pruned.
    pub floor: AtomicU64,
    /// Focus team access and site tenants, as of `head`.
    pub directory: RwLock<Arc<Directory>>,
    /// Tenants and sites.
    pub registry: RwLock<Arc<crate::registry::Registry>>,
    /// Committed entries for live subscribers.
    pub committed: broadcast::Sender<CommittedRef>,
    /// Refused changes answered `Rejected` but not kept as dead letters, because their site
    /// already had `limits.max_dead_letters_per_site` on record (since start).
    pub dead_letters_not_kept: AtomicU64,
    /// The brand and the leak guard, as of `head`.
    pub face: RwLock<Arc<CustomerFace>>,
    /// The gateway's metrics (`/metrics` on the operations port).
    pub metrics: crate::metrics::GatewayMetrics,
    /// The latest signed audit checkpoint, as committed (each push answer carries it).
    pub checkpoint: RwLock<Option<SignedCheckpoint>>,
    /// Groups that erased a ticket since start: a live entry committed before one
    /// ([`crate::log::Committed::erasures_before`]) is sent as the ticket keeps it now.
    pub erasures: AtomicU64,
    /// Changes each time the writer read its state again from the store (after a failed group,
    /// or because another gateway sharing the store wrote): subscribers then catch up from the
    /// store to the new head, which the live broadcast does not carry.
    pub reloaded: tokio::sync::watch::Sender<u64>,
    /// The files uploads and groups are writing now (see [`crate::files::Claims`]).
    pub files: Arc<crate::files::Claims>,
    /// Odd while a group that changes the visibility rules or erases is written (see
    /// [`rules`]): readers of the store judge what they read by the rules it was written by.
    pub rules: rules::RulesEpoch,
}

impl Shared {
    /// The current visibility rules, shared (a change of them publishes new ones).
    pub fn directory(&self) -> Arc<Directory> {
        Arc::clone(&self.directory.read())
    }

    /// `read` of the store with the rules to judge it by, and their epoch ([`rules`]).
    pub async fn read_under_rules<T>(
        &self,
        read: impl FnMut(&Arc<Directory>) -> Result<T>,
    ) -> Result<(T, Arc<Directory>, u64)> {
        self.rules.read(|| self.directory(), read).await
    }

    /// The current brand and leak guard.
    pub fn face(&self) -> Arc<CustomerFace> {
        Arc::clone(&self.face.read())
    }

    /// The latest signed audit checkpoint, as committed.
    pub fn checkpoint(&self) -> Option<SignedCheckpoint> {
        *self.checkpoint.read()
    }

    /// The current registry, shared (a registration publishes a new one).
    pub fn registry(&self) -> Arc<crate::registry::Registry> {
        Arc::clone(&self.registry.read())
    }
}
