//! Review reports and quality scores in a group: a report is written only where none is
//! stored (nor pending in the same group), so the scheduled task and a staff `Generate` can
//! race without producing a report twice; a score replaces the ticket's earlier score.

use super::{Group, ReviewWrite, Writer};
use crate::error::Result;
use crate::store::Write;

impl Writer {
    /// Adds `write` to the group; `false` for a report whose key is taken.
    pub(super) fn process_review(&self, group: &mut Group, write: &ReviewWrite) -> Result<bool> {
        match write {
            ReviewWrite::Report { key, value } => {
                let pending = group
                    .batch
                    .writes
                    .iter()
                    .any(|w| matches!(w, Write::Put(k, _) if k == key));
                if pending || self.store.get(key)?.is_some() {
                    return Ok(false);
                }
                group.batch.put(key.clone(), value.clone());
                Ok(true)
            }
            ReviewWrite::Score { key, value } => {
                group.batch.put(key.clone(), value.clone());
                Ok(true)
            }
        }
    }
}
