//! Which files this site's store names: the files of every comment it holds, of its unpushed
//! changes and of its dead letters. What no record names is deleted by the keeper of the files
//! (`crate::files`); what a record names and is not here is fetched (eagerly or on first read).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use hotline_federation::attachment::AttachmentRef;
use hotline_federation::{Change, FieldOp};
use hotline_proto::v1 as pb;
use prost::Message;

use super::Replica;
use super::keys;
use super::records::corrupt;
use crate::error::Result;

impl Replica {
    /// Every file a record of the store names, by SHA-256 (one reference each).
    pub fn file_refs(&self) -> Result<BTreeMap<String, AttachmentRef>> {
        let mut out = BTreeMap::new();
        let mut note = |files: Vec<pb::Attachment>| {
            for file in files {
                out.entry(file.sha256.clone())
                    .or_insert_with(|| AttachmentRef::from(file));
            }
        };
        for item in self.db.scan_prefix([keys::COMMENT]) {
            let stamped =
                pb::StampedComment::decode(item?.1.as_ref()).map_err(|e| corrupt("comment", e))?;
            if let Some(comment) = stamped.comment {
                note(comment.attachments);
            }
        }
        let mut changes: Vec<Change> = self.outbox(usize::MAX)?;
        for letter in self.parked()? {
            if let Some(wire) = letter.change {
                changes.push(Change::try_from(wire).map_err(|e| corrupt("dead letter", e))?);
            }
        }
        for change in changes {
            for op in change.ops {
                if let FieldOp::AddComment(comment) = op {
                    note(comment.attachments.into_iter().map(Into::into).collect());
                }
            }
        }
        Ok(out)
    }

    /// True once since the store dropped or received a comment's file reference (a purge, an
    /// erasure, a comment carrying files): the keeper looks at the files again.
    pub fn take_files_changed(&self) -> bool {
        self.files_changed.swap(false, Ordering::SeqCst)
    }

    /// Notes that file references may have changed, and wakes the keeper.
    pub(crate) fn note_files_changed(&self) {
        self.files_changed.store(true, Ordering::SeqCst);
        self.files_wake.notify_one();
    }

    /// Ready once file references may have changed since the keeper last waited (a change
    /// noted while nobody waited wakes the next wait at once).
    pub fn files_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.files_wake.notified()
    }
}
