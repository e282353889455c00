//! Which embedded engine a data directory is opened with.
//!
//! `storage = "auto"` (the default) opens the engine whose files the directory already holds,
//! so a store written before redb became the default keeps opening on sled; an empty directory
//! gets redb. An explicit `"sled"` or `"redb"` is refused when the directory holds only the other
//! engine's store: opening it would start an empty store beside the real one and every site
//! would see the federation's data vanish.

use std::path::Path;
use std::sync::Arc;

use super::Store;
use super::redb_store::{self, RedbStore};
use super::sled_store::SledStore;
use crate::error::{Error, Result};

/// The engine a new, empty data directory gets.
pub const DEFAULT_ENGINE: &str = "redb";

/// What a data directory holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing of either engine (new or empty).
    Nothing,
    /// A sled store (its `conf`, `db`, `blobs` or `snap.*`).
    Sled,
    /// A redb store (`store.redb`).
    Redb,
    /// Both: someone switched engines by hand.
    Both,
}

/// Looks at `dir` without opening anything: one listing of its names. Any entry under one of an
/// engine's names counts, whatever its type (a dangling symlink too), and a directory that
/// cannot be listed is an error, not an absence: "auto" must never take an unreadable sled
/// store for an empty directory and start a new store beside it.
pub fn found(dir: &Path) -> Result<Found> {
    let unreadable = |e: std::io::Error| Error::File {
        path: dir.to_path_buf(),
        problem: format!("cannot tell which store the data directory holds: {e}"),
    };
    let (mut sled, mut redb) = (false, false);
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        let name = name.to_string_lossy();
        // sled's config, log, blob directory and snapshot files (`snap.<hex>[.generating]`).
        sled |= matches!(name.as_ref(), "conf" | "db" | "blobs") || name.starts_with("snap.");
        redb |= name == redb_store::FILE_NAME;
    }
    Ok(match (sled, redb) {
        (false, false) => Found::Nothing,
        (true, false) => Found::Sled,
        (false, true) => Found::Redb,
        (true, true) => Found::Both,
    })
}

/// The engine `storage` (`auto`, `sled` or `redb`) means for `dir`, or why it must not open.
pub fn choose(storage: &str, dir: &Path) -> Result<&'static str> {
    let here = found(dir)?;
    let refuse = |problem: String| Error::Config {
        field: "storage".into(),
        problem,
    };
    match (storage, here) {
        ("auto", Found::Nothing) => Ok(DEFAULT_ENGINE),
        ("auto", Found::Redb) => Ok("redb"),
        ("auto", Found::Sled) => Ok("sled"),
        ("auto", Found::Both) => Err(refuse(format!(
            "{} holds a sled store and a redb store ({}); \"auto\" cannot tell which is the \
             federation's: set storage = \"sled\" or \"redb\"",
            dir.display(),
            redb_store::FILE_NAME
        ))),
        ("sled", Found::Redb) => Err(refuse(format!(
            "{} holds a redb store ({}), not a sled one; set storage = \"redb\" or \"auto\", or \
             give an empty data_dir for a new sled store",
            dir.display(),
            redb_store::FILE_NAME
        ))),
        ("redb", Found::Sled) => Err(refuse(format!(
            "{} holds a sled store, not a redb one; set storage = \"sled\" or \"auto\", or give \
             an empty data_dir for a new redb store",
            dir.display()
        ))),
        ("sled", _) => Ok("sled"),
        ("redb", _) => Ok("redb"),
        (other, _) => Err(refuse(format!(
            "{other:?} is not an on-disk engine; known: auto, sled, redb"
        ))),
    }
}

/// Opens the store in `dir` with the engine `storage` means there (see [`choose`]), with a page
/// cache of `cache_bytes`. Returns the engine's name with the store.
pub fn open(storage: &str, dir: &Path, cache_bytes: u64) -> Result<(&'static str, Arc<dyn Store>)> {
    // A sled store's rewrite a kill interrupted (its directory moved aside) is finished before
    // the directory is made again, or "auto" would take the empty directory for a new store.
    hotline_runtime::sled_rewrite::finish_interrupted(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    std::fs::create_dir_all(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        problem: format!("cannot create the data directory: {e}"),
    })?;
    let engine = choose(storage, dir)?;
    let store: Arc<dyn Store> = if engine == "sled" {
        Arc::new(SledStore::open_with_cache(dir, cache_bytes)?)
    } else {
        Arc::new(RedbStore::open_with_cache(dir, cache_bytes)?)
    };
    Ok((engine, store))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Batch, live_bytes};

    const CACHE: u64 = 8 << 20;

    fn problem(e: Error) -> String {
        match e {
            Error::Config { field, problem } => {
                assert_eq!(field, "storage");
                problem
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    fn write_one(store: &dyn Store) {
        let mut batch = Batch::default();
        batch.put(b"x".to_vec(), b"kept".to_vec());
        store.apply(batch).expect("apply");
        store.flush().expect("flush");
    }

    /// An empty directory gets redb under "auto"; the explicit engines open what they name.
    #[test]
    fn auto_gives_a_new_directory_redb() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(found(dir.path()).expect("look"), Found::Nothing);
        let (engine, store) = open("auto", dir.path(), CACHE).expect("open");
        assert_eq!(engine, "redb");
        write_one(store.as_ref());
        drop(store);
        assert_eq!(found(dir.path()).expect("look"), Found::Redb);
        let (engine, store) = open("auto", dir.path(), CACHE).expect("reopen");
        assert_eq!(engine, "redb");
        assert_eq!(store.get(b"x").expect("get"), Some(b"kept".to_vec()));
    }

    /// A sled store written before redb became the default keeps opening on sled under "auto",
    /// with its data; "redb" is refused there with the way out.
    #[test]
    fn auto_keeps_an_existing_sled_store_on_sled() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (engine, store) = open("sled", dir.path(), CACHE).expect("open sled");
        assert_eq!(engine, "sled");
        write_one(store.as_ref());
        drop(store);
        assert_eq!(found(dir.path()).expect("look"), Found::Sled);
        let (engine, store) = open("auto", dir.path(), CACHE).expect("auto");
        assert_eq!(engine, "sled");
        assert_eq!(store.get(b"x").expect("get"), Some(b"kept".to_vec()));
        assert_eq!(live_bytes(store.as_ref()).expect("live"), 5);
        drop(store);
        let refused = problem(open("redb", dir.path(), CACHE).err().expect("refused"));
        assert!(
            refused.contains("holds a sled store") && refused.contains("\"auto\""),
            "{refused}"
        );
        assert_eq!(
            found(dir.path()).expect("look"),
            Found::Sled,
            "nothing of redb was created"
        );
    }

    /// "sled" on a redb store is refused; both stores in one directory make "auto" refuse; an
    /// unknown engine names the known ones.
    #[test]
    fn mismatches_are_refused_with_the_way_out() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(open("redb", dir.path(), CACHE).expect("open redb"));
        let refused = problem(open("sled", dir.path(), CACHE).err().expect("refused"));
        assert!(refused.contains("holds a redb store"), "{refused}");
        assert_eq!(found(dir.path()).expect("look"), Found::Redb);

        std::fs::write(dir.path().join("conf"), b"segment_size: 524288\n").expect("conf");
        assert_eq!(found(dir.path()).expect("look"), Found::Both);
        let refused = problem(choose("auto", dir.path()).expect_err("ambiguous"));
        assert!(refused.contains("cannot tell"), "{refused}");
        assert_eq!(choose("redb", dir.path()).expect("explicit"), "redb");

        assert_eq!(choose("sled", dir.path()).expect("explicit"), "sled");

        let refused = problem(choose("memory", dir.path()).expect_err("not on disk"));
        assert!(refused.contains("known: auto, sled, redb"), "{refused}");
    }

    /// Each of sled's names alone marks a sled store, whatever the entry is (a dangling
    /// symlink too), so "auto" never starts a redb store beside a damaged sled one; the audit
    /// key or other files of the gateway's own do not count.
    #[test]
    fn any_of_sleds_names_marks_a_sled_store() {
        for name in [
            "conf",
            "db",
            "blobs",
            "snap.0000000000001234",
            "snap.1.generating",
        ] {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::write(dir.path().join("audit-signing.key"), b"k").expect("key");
            assert_eq!(found(dir.path()).expect("look"), Found::Nothing, "{name}");
            std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join(name))
                .expect("symlink");
            assert_eq!(found(dir.path()).expect("look"), Found::Sled, "{name}");
            assert_eq!(choose("auto", dir.path()).expect("auto"), "sled", "{name}");
        }
    }

    /// A data directory that does not exist yet is created and gets redb.
    #[test]
    fn a_missing_data_directory_is_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("not").join("yet");
        let (engine, _store) = open("auto", &data, CACHE).expect("open");
        assert_eq!(engine, "redb");
        assert!(data.join(redb_store::FILE_NAME).is_file());
    }

    /// A directory that cannot be read is an error naming it, not an empty directory.
    #[test]
    fn an_unreadable_directory_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").expect("file");
        // A regular file as the data directory: every name under it fails with ENOTDIR.
        match found(&file) {
            Err(Error::File { path, problem }) => {
                assert!(path.starts_with(&file), "{path:?}");
                assert!(problem.contains("cannot"), "{problem}");
            }
            other => panic!("expected a file error, got {other:?}"),
        }
    }
}
