//! Rewriting a store of layout 1 (each entity one whole `hotline.v1.EntityState` record under
//! `e`) into layout 2 (a head, one record per comment and call event; see `super::entities`),
//! at open, after the integrity check and before anything else is written.
//!
//! Entities are rewritten in chunks in key order; each chunk is one flushed batch that also
//! moves the progress cursor (`m` `migrate`: the head key of the last entity rewritten). A kill
//! between chunks leaves a store that reads correctly (a layout-1 head still reads, see
//! `super::entities`) and the next open resumes after the cursor; rewriting an entity twice
//! writes the same records, so the migration is idempotent. The last batch sets the `format`
//! marker to layout 2 and removes the cursor. Outbox, counters, cursor and every other record
//! are left as they are.

use hotline_federation::EntityState;
use hotline_proto::v1 as pb;
use prost::Message;

use super::entities;
use super::integrity::FORMAT;
use super::keys::{self, meta};
use super::records::corrupt;
use crate::error::Result;

/// Entities rewritten per flushed batch.
pub const CHUNK: usize = 256;

/// What a migration run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Migrated {
    /// Entities rewritten in this run.
    pub entities: usize,
    /// Flushed chunks in this run.
    pub chunks: usize,
    /// The format marker now names layout 2 (false only when cut short by `max_chunks`).
    pub finished: bool,
}

/// Migrates the whole store (resuming an interrupted migration).
pub fn run(db: &sled::Db) -> Result<Migrated> {
    let migrated = run_chunks(db, CHUNK, usize::MAX)?;
    tracing::info!(
        entities = migrated.entities,
        chunks = migrated.chunks,
        "the local store was migrated to layout 2"
    );
    Ok(migrated)
}

/// Migrates at most `max_chunks` chunks of `chunk` entities, resuming after the stored cursor;
/// marks the store as layout 2 when no entity is left. Tests cut a migration short with it, as a
/// kill between two chunks would.
pub fn run_chunks(db: &sled::Db, chunk: usize, max_chunks: usize) -> Result<Migrated> {
    let chunk = chunk.max(1);
    let mut migrated = Migrated::default();
    let mut cursor = db.get(meta("migrate"))?.map(|key| key.to_vec());
    while migrated.chunks < max_chunks {
        let mut batch = sled::Batch::default();
        let mut count = 0;
        let mut last = None;
        for item in pending(db, cursor.as_deref()).take(chunk) {
            let (key, raw) = item?;
            let wire = pb::EntityState::decode(raw.as_ref()).map_err(|e| corrupt("entity", e))?;
            let state = EntityState::try_from(wire).map_err(|e| corrupt("entity", e))?;
            // Against an empty state every register, comment and call event is written: the
            // head loses its comments and events, each gets its own record.
            entities::write(&mut batch, &EntityState::new(state.key.clone()), &state);
            last = Some(key.to_vec());
            count += 1;
        }
        let Some(last) = last else {
            let mut batch = sled::Batch::default();
            batch.insert(meta("format"), FORMAT);
            batch.remove(meta("migrate"));
            db.apply_batch(batch)?;
            db.flush()?;
            migrated.finished = true;
            return Ok(migrated);
        };
        batch.insert(meta("migrate"), last.clone());
        db.apply_batch(batch)?;
        db.flush()?;
        migrated.entities += count;
        migrated.chunks += 1;
        cursor = Some(last);
    }
    Ok(migrated)
}

/// The heads after `cursor` (all of them without one).
fn pending(
    db: &sled::Db,
    cursor: Option<&[u8]>,
) -> impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> {
    let range = match cursor {
        Some(after) => {
            db.range::<&[u8], _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
        }
        None => db.range::<&[u8], _>(&[keys::ENTITY][..]..),
    };
    range.take_while(|item| {
        item.as_ref()
            .map_or(true, |(key, _)| key.first() == Some(&keys::ENTITY))
    })
}
