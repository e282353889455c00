//! Rewriting the local store into a fresh directory, so that bytes of records an erasure
//! changed or removed leave the data directory: sled keeps old versions of records in its log
//! segments until it reuses them (measured: thousands of copies of a string after it was
//! overwritten and the store reopened). An applied erasure asks for the rewrite
//! ([`REWRITE_ASKED`]); it runs at the next open, before anything reads the store:
//!
//! 1. every record of every tree but the request is copied into a new sled store in the
//!    sibling directory `<data_dir>.rewrite`, flushed, and a `REWRITTEN` file marks it whole;
//! 2. whatever else the data directory holds (the knowledge index, markers) moves over;
//! 3. the data directory is renamed to `<data_dir>.old`, the new one to the data directory,
//!    and the old one is removed.
//!
//! A kill before step 1's mark leaves the old store and the request: the copy is removed and
//! made again. After it, each step is finished at the next open from where it stopped.

use std::path::Path;

use super::keys::meta;
use crate::error::{Error, Result};

/// The counter whose presence asks for the rewrite.
pub(crate) const REWRITE_ASKED: &str = "rewrite";

/// Finishes a rewrite a kill interrupted, then rewrites the store in `dir` if it asks for it
/// (`hotline_runtime::sled_rewrite`, shared with a gateway on sled); answers whether a rewrite
/// finished here.
pub(crate) fn rewrite_if_asked(dir: &Path) -> Result<bool> {
    // A store that does not open keeps its own error (a damaged one says how to recover).
    let failure = std::cell::RefCell::new(None);
    let open = |path: &Path| {
        super::integrity::open_db(path).map_err(|e| {
            let text = e.to_string();
            failure.borrow_mut().get_or_insert(e);
            std::io::Error::other(text)
        })
    };
    let rewritten =
        hotline_runtime::sled_rewrite::rewrite_if_asked(dir, &open, &meta(REWRITE_ASKED));
    match (rewritten, failure.into_inner()) {
        (Ok(done), _) => Ok(done),
        (Err(_), Some(opening)) => Err(opening),
        (Err(e), None) => Err(Error::File {
            path: dir.to_path_buf(),
            problem: format!("rewriting the local store: {e}"),
        }),
    }
}
