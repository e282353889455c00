//! Rewriting a sled store into a fresh directory, so that bytes of records an erasure changed
//! or removed leave the data directory: sled keeps old versions of records in its log segments
//! until it reuses them (measured: thousands of copies of a string after it was overwritten
//! and the store reopened). An erasure asks for the rewrite by writing a request key; it runs
//! at the next open, before anything reads the store. The adapters and a gateway on
//! `storage = "sled"` share it:
//!
//! 1. every record of every tree but the request is copied into a new sled store in the
//!    sibling directory `<dir>.rewrite`, flushed, and a `REWRITTEN` file marks it whole;
//! 2. whatever else the directory holds (a knowledge index, markers) moves over;
//! 3. the directory is renamed to `<dir>.old`, the new one to the directory, and the old one
//!    is removed.
//!
//! A kill before step 1's mark leaves the old store and the request: the copy is removed and
//! made again. After it, each step is finished at the next open from where it stopped.

use std::io::{Error, Result};
use std::path::{Path, PathBuf};

/// The file that marks a finished copy.
const REWRITTEN: &str = "REWRITTEN";

/// Records copied per batch.
const COPY_CHUNK: usize = 4096;

/// How the caller opens its store (with its own repairs, lock waits and error handling).
pub type Open<'a> = &'a dyn Fn(&Path) -> Result<sled::Db>;

/// `<dir><suffix>` beside the directory (also for a path written with a trailing slash, which
/// names the same directory).
pub fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or(dir.as_os_str()).to_owned();
    name.push(suffix);
    match dir.parent() {
        Some(parent) => parent.join(name),
        None => PathBuf::from(name),
    }
}

/// True for the entries sled keeps in its directory.
fn sled_file(name: &str) -> bool {
    matches!(name, "db" | "conf" | "blobs") || name.starts_with("snap.")
}

fn failed(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::other(format!(
        "rewriting the store in {}: cannot {what}: {e}",
        path.display()
    ))
}

/// Finishes a rewrite a kill interrupted, then rewrites the store in `dir` if its default
/// tree holds `request`; answers whether a rewrite finished here. A copy that cannot be made
/// (a full disk, a directory whose parent is read-only) is logged as an error and the store
/// opens as it is: the request stays, and the next open tries again.
pub fn rewrite_if_asked(dir: &Path, open: Open<'_>, request: &[u8]) -> Result<bool> {
    if finish_interrupted(dir)? {
        return Ok(true);
    }
    if !asked(dir, open, request)? {
        return Ok(false);
    }
    let fresh = sibling(dir, ".rewrite");
    if let Err(error) = copy(dir, &fresh, open, request) {
        tracing::error!(%error, dir = %dir.display(), "the store could not be rewritten after an erasure; it opens as it is and tries again at the next start (the erased data's old bytes stay in its files until then)");
        let _ = std::fs::remove_dir_all(&fresh);
        return Ok(false);
    }
    swap(dir, &fresh)?;
    Ok(true)
}

/// Finishes what a kill left of a rewrite of `dir`, before anything opens or creates it (an
/// empty directory created meanwhile is taken for the one moved aside): an unmarked copy is
/// removed; a marked one is swapped in; an old store left beside it is removed. Answers
/// whether a rewrite finished here.
pub fn finish_interrupted(dir: &Path) -> Result<bool> {
    let fresh = sibling(dir, ".rewrite");
    let old = sibling(dir, ".old");
    if fresh.exists() && !fresh.join(REWRITTEN).exists() {
        std::fs::remove_dir_all(&fresh)
            .map_err(|e| failed(&fresh, "remove an unfinished copy", e))?;
    }
    if fresh.exists() {
        if old.exists() && dir.exists() {
            // The directory was moved aside, then made again (empty) by a start that did not
            // know: nothing of it is the store.
            let empty = std::fs::read_dir(dir)
                .map_err(|e| failed(dir, "list the directory", e))?
                .next()
                .is_none();
            if !empty {
                return Err(failed(
                    dir,
                    "finish an interrupted rewrite",
                    format!(
                        "both {} (moved aside) and {} hold files; keep the one with the store and \
                         remove the other",
                        old.display(),
                        dir.display()
                    ),
                ));
            }
            std::fs::remove_dir(dir).map_err(|e| failed(dir, "remove an empty directory", e))?;
        }
        swap(dir, &fresh)?;
        return Ok(true);
    }
    if old.exists() && dir.exists() {
        std::fs::remove_dir_all(&old).map_err(|e| failed(&old, "remove the old store", e))?;
    }
    Ok(false)
}

/// True when `dir` holds a sled store (its log or config).
fn holds_store(dir: &Path) -> bool {
    ["db", "conf"].iter().any(|name| dir.join(name).exists())
}

/// Whether the store in `dir` asks for a rewrite.
fn asked(dir: &Path, open: Open<'_>, request: &[u8]) -> Result<bool> {
    if !holds_store(dir) {
        return Ok(false);
    }
    let db = open(dir)?;
    db.contains_key(request)
        .map_err(|e| failed(dir, "read the request", e))
}

/// Step 1: every record but the request, into a new store in `fresh`, marked whole.
fn copy(dir: &Path, fresh: &Path, open: Open<'_>, request: &[u8]) -> Result<()> {
    let started = std::time::Instant::now();
    tracing::info!(dir = %dir.display(), "rewriting the store into a fresh directory (an erasure asked for it)");
    let from = open(dir)?;
    let to = sled::Config::new()
        .path(fresh)
        .open()
        .map_err(|e| failed(fresh, "create the rewritten store", e))?;
    let mut copied = 0u64;
    for name in from.tree_names() {
        let source = from
            .open_tree(&name)
            .map_err(|e| failed(dir, "open a tree", e))?;
        let target = to
            .open_tree(&name)
            .map_err(|e| failed(fresh, "open a tree", e))?;
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for item in source.iter() {
            let (key, value) = item.map_err(|e| failed(dir, "read a record", e))?;
            if name == b"__sled__default" && key == request {
                continue;
            }
            batch.insert(key, value);
            copied += 1;
            in_batch += 1;
            if in_batch == COPY_CHUNK {
                target
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| failed(fresh, "write records", e))?;
                in_batch = 0;
            }
        }
        target
            .apply_batch(batch)
            .map_err(|e| failed(fresh, "write records", e))?;
    }
    to.flush().map_err(|e| failed(fresh, "flush", e))?;
    drop(to);
    drop(from);
    std::fs::write(fresh.join(REWRITTEN), b"").map_err(|e| failed(fresh, "mark the copy", e))?;
    sync_dir(fresh)?;
    tracing::info!(
        records = copied,
        ms = started.elapsed().as_millis() as u64,
        "store copied"
    );
    Ok(())
}

/// Steps 2 and 3, in an order every kill point can finish: the directory is moved aside
/// first (a directory that cannot be renamed, a mount point, fails here with nothing moved
/// yet), then whatever it held besides the store moves into the copy, the copy takes its place
/// and the old store goes.
fn swap(dir: &Path, fresh: &Path) -> Result<()> {
    let old = sibling(dir, ".old");
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| failed(&old, "move the old store aside", e))?;
    }
    if old.exists() {
        for entry in std::fs::read_dir(&old).map_err(|e| failed(&old, "list the old store", e))? {
            let entry = entry.map_err(|e| failed(&old, "list the old store", e))?;
            let name = entry.file_name();
            if !sled_file(&name.to_string_lossy()) {
                let to = fresh.join(&name);
                std::fs::rename(entry.path(), &to).map_err(|e| failed(&to, "move over", e))?;
            }
        }
    }
    std::fs::rename(fresh, dir).map_err(|e| failed(dir, "put the copy in place", e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    finish(dir, &old)
}

/// The last of step 3: the mark and the old store removed.
fn finish(dir: &Path, old: &Path) -> Result<()> {
    let mark = dir.join(REWRITTEN);
    if mark.exists() {
        std::fs::remove_file(&mark).map_err(|e| failed(&mark, "remove the mark", e))?;
    }
    if old.exists() {
        std::fs::remove_dir_all(old).map_err(|e| failed(old, "remove the old store", e))?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(dir, "sync the directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] = b"mrewrite";

    fn open(dir: &Path) -> Result<sled::Db> {
        // A handle just dropped may still hold the lock for a moment.
        for _ in 0..100 {
            match sled::Config::new().path(dir).open() {
                Ok(db) => return Ok(db),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
        sled::Config::new().path(dir).open().map_err(Error::other)
    }

    /// A store of `records` plus the request, with an index directory beside it.
    fn store(dir: &Path, records: &[(&str, &str)]) {
        let db = open(dir).expect("open");
        for (k, v) in records {
            db.insert(k.as_bytes(), v.as_bytes()).expect("insert");
        }
        db.open_tree("other")
            .expect("tree")
            .insert(b"t", b"tree value")
            .expect("insert");
        db.insert(REQUEST, 1u64.to_be_bytes().to_vec())
            .expect("insert");
        db.flush().expect("flush");
        std::fs::create_dir_all(dir.join("kb-index")).expect("kb dir");
        std::fs::write(dir.join("kb-index/segment"), b"index").expect("kb file");
    }

    /// Every record of every tree, in order.
    type Records = Vec<(Vec<u8>, Vec<u8>)>;

    /// What the store in `dir` holds, every tree, and whether it still asks for a rewrite.
    fn held(dir: &Path) -> (Records, bool) {
        let db = open(dir).expect("open");
        let mut out = Vec::new();
        for name in db.tree_names() {
            for item in db.open_tree(&name).expect("tree").iter() {
                let (k, v) = item.expect("read");
                out.push((k.to_vec(), v.to_vec()));
            }
        }
        let asked = db.contains_key(REQUEST).expect("read");
        (out, asked)
    }

    fn leftovers(dir: &Path) -> Vec<PathBuf> {
        [".rewrite", ".old"]
            .into_iter()
            .map(|s| sibling(dir, s))
            .filter(|p| p.exists())
            .collect()
    }

    fn rewrite(dir: &Path) -> Result<bool> {
        rewrite_if_asked(dir, &open, REQUEST)
    }

    /// A store that asks is copied whole (every tree, more records than one batch), the
    /// request gone, the index moved over, nothing left beside it, also when the directory is
    /// written with a trailing slash; one that does not ask is left alone.
    #[test]
    fn a_store_that_asks_is_copied_whole_and_swapped() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data/");
        let many: Vec<(String, String)> = (0..COPY_CHUNK + 10)
            .map(|i| (format!("k{i:06}"), format!("v{i}")))
            .collect();
        let records: Vec<(&str, &str)> =
            many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        store(&dir, &records);
        assert_eq!(sibling(&dir, ".rewrite"), root.path().join("data.rewrite"));
        let (before, _) = held(&dir);
        assert!(rewrite(&dir).expect("rewrite"));
        let (after, asked) = held(&dir);
        assert!(!asked);
        let without_request: Vec<_> = before.into_iter().filter(|(k, _)| k != REQUEST).collect();
        assert_eq!(after, without_request);
        assert_eq!(
            std::fs::read(dir.join("kb-index/segment")).expect("kb"),
            b"index"
        );
        assert!(leftovers(&dir).is_empty());
        assert!(!rewrite(&dir).expect("again"), "asked no more");
    }

    /// A copy that cannot be made (here: the store does not open a second time) is logged,
    /// leaves the store as it was, asking still, and the open goes on.
    #[test]
    fn a_copy_that_cannot_be_made_leaves_the_store_as_it_was() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("data");
        store(&dir, &[("a", "1")]);
        let (before, _) = held(&dir);
        let opened = std::cell::Cell::new(0);
        let failing = |path: &Path| {
            opened.set(opened.get() + 1);
            if opened.get() > 1 {
                return Err(Error::other("no second open"));
            }
            open(path)
        };
        assert!(!rewrite_if_asked(&dir, &failing, REQUEST).expect("goes on"));
        assert!(opened.get() > 1, "the copy was tried");
        let (after, asked) = held(&dir);
        assert!(asked);
        assert_eq!(after, before);
        assert!(leftovers(&dir).is_empty());
    }

    /// Every place a kill can stop the rewrite is finished (or started over) by the next
    /// open, and the store ends whole: an unmarked copy, a marked copy before the swap, a
    /// marked copy with the directory moved aside (and an empty one made again by a start
    /// that did not know), and one with the index already moved over.
    #[test]
    fn an_interrupted_rewrite_is_finished_at_the_next_open() {
        for stop in [
            "unmarked copy",
            "before the swap",
            "data directory aside",
            "aside, then made again empty",
            "index moved over",
        ] {
            let root = tempfile::tempdir().expect("tempdir");
            let dir = root.path().join("data");
            store(&dir, &[("a", "1")]);
            let (before, _) = held(&dir);
            let fresh = sibling(&dir, ".rewrite");
            match stop {
                "unmarked copy" => {
                    copy(&dir, &fresh, &open, REQUEST).expect("copy");
                    std::fs::remove_file(fresh.join(REWRITTEN)).expect("unmark");
                }
                "before the swap" => copy(&dir, &fresh, &open, REQUEST).expect("copy"),
                "data directory aside" => {
                    copy(&dir, &fresh, &open, REQUEST).expect("copy");
                    std::fs::rename(&dir, sibling(&dir, ".old")).expect("aside");
                }
                "aside, then made again empty" => {
                    copy(&dir, &fresh, &open, REQUEST).expect("copy");
                    std::fs::rename(&dir, sibling(&dir, ".old")).expect("aside");
                    std::fs::create_dir_all(&dir).expect("an empty directory again");
                }
                _ => {
                    copy(&dir, &fresh, &open, REQUEST).expect("copy");
                    std::fs::rename(&dir, sibling(&dir, ".old")).expect("aside");
                    std::fs::rename(
                        sibling(&dir, ".old").join("kb-index"),
                        fresh.join("kb-index"),
                    )
                    .expect("mv");
                }
            }
            assert!(rewrite(&dir).expect("finish"), "{stop}");
            let (after, asked) = held(&dir);
            assert!(!asked, "{stop}");
            assert_eq!(after.len(), before.len() - 1, "{stop}");
            assert!(dir.join("kb-index/segment").exists(), "{stop}");
            assert!(leftovers(&dir).is_empty(), "{stop}");
        }
    }
}
