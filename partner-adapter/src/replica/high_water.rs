//! The counters' high-water marks, kept in a file next to the store: sled can silently lose
//! acknowledged writes after a crash, and counters below these marks show it (checked by
//! [`super::integrity`], which re-exports these).

use std::path::{Path, PathBuf};

use super::integrity::sync_dir;
use crate::error::{Error, Result};

/// The file in the data directory holding the counters' high-water marks: `seq N` and
/// `webhook N`, one a line. The counters never go down, so a store whose counters are below
/// these marks lost writes.
pub const HIGH_WATER_FILE: &str = "high-water";

/// The high-water marks of the store's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HighWater {
    /// The origin-sequence counter.
    pub seq: u64,
    /// The webhook event-id counter.
    pub webhook: u64,
}

/// Reads the high-water marks of the store in `dir`; `Ok(None)` when there are none yet.
pub fn read_high_water(dir: &Path) -> std::result::Result<Option<HighWater>, String> {
    let path = dir.join(HIGH_WATER_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{HIGH_WATER_FILE}: cannot read it: {e}")),
    };
    let mut marks = HighWater::default();
    let (mut seq, mut webhook) = (false, false);
    for line in text.lines() {
        let bad = || format!("{HIGH_WATER_FILE}: line {line:?} is not `seq N` or `webhook N`");
        let (name, number) = line.split_once(' ').ok_or_else(bad)?;
        let number: u64 = number.parse().map_err(|_| bad())?;
        match name {
            "seq" => (marks.seq, seq) = (number, true),
            "webhook" => (marks.webhook, webhook) = (number, true),
            _ => return Err(bad()),
        }
    }
    if !(seq && webhook) {
        return Err(format!(
            "{HIGH_WATER_FILE}: needs both `seq N` and `webhook N`"
        ));
    }
    Ok(Some(marks))
}

/// Writes the high-water marks atomically (temporary file, fsync, rename, fsync of the
/// directory).
pub fn write_high_water(dir: &Path, marks: HighWater) -> Result<()> {
    let file_error = |path: PathBuf, e: std::io::Error| Error::File {
        path,
        problem: format!("cannot write the high-water marks: {e}"),
    };
    let path = dir.join(HIGH_WATER_FILE);
    let tmp = dir.join(format!("{HIGH_WATER_FILE}.tmp"));
    let text = format!("seq {}\nwebhook {}\n", marks.seq, marks.webhook);
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp).map_err(|e| file_error(tmp.clone(), e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(tmp.clone(), e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| file_error(path.clone(), e))?;
    sync_dir(dir)
}
