//! The storage layout's version, and the migration from layout 1 (one record per entity,
//! holding every comment and call event) to layout 2 ([`super::entities`]).
//!
//! The `layout` counter says which layout a store holds (absent: 1). Opening a layout-1 store
//! rewrites its entities a chunk at a time; each chunk's batch also records the last head it
//! rewrote under `layout.cursor` and is flushed, so a kill at any point resumes after that
//! head. Rewriting is idempotent: a head rewritten twice gives the same keys and values. At the
//! end `layout` becomes 2 and the cursor goes.

use super::entities::{self, LAYOUT};
use super::{Batch, Store, keys};
use crate::error::{Error, Result};
use crate::log::decode_state;

/// Entities rewritten per flushed batch.
pub const MIGRATION_CHUNK: usize = 256;

/// The layout counter's name.
const LAYOUT_COUNTER: &str = "layout";
/// The migration cursor's name: the key of the last head rewritten.
const CURSOR: &str = "layout.cursor";

/// How far a call of [`migrate`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// The layout the store was in when the call began.
    pub from: u64,
    /// Entities rewritten by this call.
    pub rewritten: u64,
    /// True when the store is now in layout 2.
    pub done: bool,
}

/// The layout the store holds: its `layout` counter, 1 when absent.
pub fn stored_layout(store: &dyn Store) -> Result<u64> {
    match store.get(&keys::meta(LAYOUT_COUNTER))? {
        None => Ok(1),
        Some(raw) => keys::decode_u64(&raw).ok_or_else(|| {
            Error::Corrupt(format!(
                "the `layout` counter holds {} bytes; a layout number is 8",
                raw.len()
            ))
        }),
    }
}

/// Brings the store to layout 2, `chunk` entities per flushed batch; stops after `max_chunks`
/// chunks when given (a test's stand-in for a kill). Refuses a layout this build does not know.
pub fn migrate(store: &dyn Store, chunk: usize, max_chunks: Option<usize>) -> Result<Migration> {
    let from = stored_layout(store)?;
    let mut migration = Migration {
        from,
        rewritten: 0,
        done: from == LAYOUT,
    };
    match from {
        1 => {}
        LAYOUT => return Ok(migration),
        other => {
            return Err(Error::FailedPrecondition(format!(
                "the store is in storage layout {other}; this build reads layouts 1 and \
                 {LAYOUT} (layout 1 is migrated at start). Open it with the release that \
                 wrote it"
            )));
        }
    }
    let (first, end) = keys::entity_range();
    let mut start = match store.get(&keys::meta(CURSOR))? {
        Some(mut last) => {
            tracing::info!("resuming the storage migration to layout 2 after a stop");
            last.push(0);
            last
        }
        None => {
            tracing::info!("migrating the store to storage layout 2");
            first
        }
    };
    let chunk = chunk.max(1);
    let mut chunks = 0;
    loop {
        if max_chunks.is_some_and(|max| chunks >= max) {
            return Ok(migration);
        }
        let heads = store.range(&start, &end, chunk)?;
        let Some((last, _)) = heads.last() else { break };
        let last = last.clone();
        let mut batch = Batch::default();
        for (_, raw) in &heads {
            // A layout-1 record is the whole state; a head already rewritten decodes to its
            // registers alone, whose rewrite is the same head again.
            entities::write_whole(&mut batch, &decode_state(raw)?);
        }
        batch.put(keys::meta(CURSOR), last.clone());
        store.apply(batch)?;
        store.flush()?;
        migration.rewritten += heads.len() as u64;
        chunks += 1;
        tracing::info!(
            rewritten = migration.rewritten,
            "storage migration to layout 2: a chunk done"
        );
        start = last;
        start.push(0);
        if heads.len() < chunk {
            break;
        }
    }
    let mut batch = Batch::default();
    batch.put(keys::meta(LAYOUT_COUNTER), keys::encode_u64(LAYOUT));
    batch.delete(keys::meta(CURSOR));
    store.apply(batch)?;
    store.flush()?;
    tracing::info!(
        rewritten = migration.rewritten,
        "the store is in storage layout 2"
    );
    migration.done = true;
    Ok(migration)
}

#[cfg(test)]
mod tests;
