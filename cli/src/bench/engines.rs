//! The embedded engines side by side (issue 16): sled and redb (with and without quick
//! repair) behind the gateway's own `Store` trait, so each figure is what the writer would
//! see. Raw batch throughput (batch 1 and batch 256 of 1 KB records, each followed by the
//! flush that makes it durable), groups of writes shaped like the adapter's creates with the
//! CPU each costs (sled's I/O threads included), and the time to open a store that was killed
//! (a copy of its files taken while it was open, which is what a SIGKILL leaves on disk).

use std::path::Path;
use std::time::{Duration, Instant};

use hotline_gateway::store::redb_store::RedbStore;
use hotline_gateway::store::sled_store::SledStore;
use hotline_gateway::store::{Batch, Store};

use super::Figure;

/// One engine of the comparison: its label in the table, the stable JSON keys of its five
/// figures (batch 1, batch 256, open after a kill, groups of create-shaped writes as one batch
/// and as one batch per create) and how it is opened.
struct Engine {
    label: &'static str,
    keys: [&'static str; 5],
    open: fn(&Path) -> hotline_gateway::error::Result<Box<dyn Store>>,
}

/// The page cache every engine gets: the gateway's default.
const CACHE: u64 = hotline_gateway::config::DEFAULT_STORAGE_CACHE_MIB << 20;

/// sled, redb as the gateway opens it, and redb with quick repair.
const ENGINES: [Engine; 3] = [
    Engine {
        label: "sled",
        keys: [
            "engine_sled_1",
            "engine_sled_256",
            "engine_sled_open_after_kill",
            "engine_sled_creates",
            "engine_sled_creates_batch_each",
        ],
        open: |dir| Ok(Box::new(SledStore::open(dir)?)),
    },
    Engine {
        label: "redb",
        keys: [
            "engine_redb_1",
            "engine_redb_256",
            "engine_redb_open_after_kill",
            "engine_redb_creates",
            "engine_redb_creates_batch_each",
        ],
        open: |dir| Ok(Box::new(RedbStore::open_with(dir, CACHE, false)?)),
    },
    Engine {
        label: "redb with quick repair",
        keys: [
            "engine_redb_quick_repair_1",
            "engine_redb_quick_repair_256",
            "engine_redb_quick_repair_open_after_kill",
            "engine_redb_quick_repair_creates",
            "engine_redb_quick_repair_creates_batch_each",
        ],
        open: |dir| Ok(Box::new(RedbStore::open_with(dir, CACHE, true)?)),
    },
];

impl Engine {
    /// Opens this engine's store in `dir`, creating the directory.
    fn open(&self, dir: &Path) -> anyhow::Result<Box<dyn Store>> {
        std::fs::create_dir_all(dir)?;
        Ok((self.open)(dir)?)
    }

    /// The label as a file name.
    fn dir_name(&self) -> String {
        self.label.replace(' ', "-")
    }
}

/// Applies batches of `n` 1 KB records, each followed by a flush, for `seconds`: records/s.
fn throughput(store: &dyn Store, n: usize, seconds: f64) -> anyhow::Result<f64> {
    let value = vec![7u8; 1024];
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut records = 0u64;
    while Instant::now() < deadline {
        let mut batch = Batch::default();
        for _ in 0..n {
            records += 1;
            batch.put(records.to_be_bytes().to_vec(), value.clone());
        }
        store.apply(batch)?;
        store.flush()?;
    }
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// The records one create of the adapter's API writes, by value size in bytes: the ticket's
/// head, its outbox entry, a webhook queue entry, the ticket number block, the webhook
/// counter and the by-customer index entry (the last two overwrite or add small keys).
const CREATE_RECORDS: [usize; 6] = [1024, 512, 512, 16, 8, 0];

/// Creates that share one flush, as the adapter's writer groups them under 32 API clients
/// (`hotline bench adapter`: about 14 creates per flush).
const CREATES_PER_FLUSH: u64 = 14;

/// Groups of [`CREATES_PER_FLUSH`] create-shaped writes ([`CREATE_RECORDS`]), each group one
/// batch (or, with `batch_each`, one batch per create) followed by the flush, for `seconds`:
/// creates/s and the CPU time of this whole process per create in microseconds, the engine's
/// own I/O threads included (sled writes its log from a pool of threads; redb on the caller's).
/// What an engine costs the adapter's writer per create, without HTTP or the merge; the two
/// forms show what a batch costs beyond its writes (sled seals and writes its log buffer at
/// every batch, redb commits a transaction).
fn create_groups(store: &dyn Store, seconds: f64, batch_each: bool) -> anyhow::Result<(f64, f64)> {
    let values: Vec<Vec<u8>> = CREATE_RECORDS.iter().map(|&n| vec![5u8; n]).collect();
    let (cpu_before, started) = (process_cpu_seconds()?, Instant::now());
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut creates = 0u64;
    while Instant::now() < deadline {
        let mut batch = Batch::default();
        for _ in 0..CREATES_PER_FLUSH {
            if batch_each && !batch.is_empty() {
                store.apply(std::mem::take(&mut batch))?;
            }
            creates += 1;
            for (kind, value) in values.iter().enumerate() {
                // The number block and the counter are one key each, rewritten by every create.
                let key = if matches!(kind, 3 | 4) { 0 } else { creates };
                let mut name = vec![u8::try_from(kind)?];
                name.extend_from_slice(&key.to_be_bytes());
                batch.put(name, value.clone());
            }
        }
        store.apply(batch)?;
        store.flush()?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()? - cpu_before;
    Ok((creates as f64 / elapsed, cpu / creates as f64 * 1e6))
}

/// CPU time (user and system) of this process and all its threads so far, from
/// `/proc/self/stat` (in clock ticks of 1/100 s, as Linux reports them there).
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow::anyhow!("/proc/self/stat without a command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("/proc/self/stat has no field {}", i + 3))?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Copies every file of `from` into `to` (the state a SIGKILL at this moment leaves behind).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Bytes of every file under `dir`.
fn disk_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        total += if entry.file_type()?.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            entry.metadata()?.len()
        };
    }
    Ok(total)
}

/// Writes `records` 1 KB records (batches of 256, flushed), copies the open store as a kill
/// would leave it, and times opening the copy and reading its last record: (ms, disk bytes).
/// The open is the gateway's: for redb it includes a compaction when the file is more free
/// than used (`RedbStore`), as a gateway's start after a kill would.
fn open_after_kill(engine: &Engine, dir: &Path, records: u64) -> anyhow::Result<(f64, u64)> {
    let label = engine.dir_name();
    let live = dir.join(format!("{label}-kill"));
    let store = engine.open(&live)?;
    let value = vec![7u8; 1024];
    let mut written = 0u64;
    while written < records {
        let mut batch = Batch::default();
        for _ in 0..256.min(records - written) {
            written += 1;
            batch.put(written.to_be_bytes().to_vec(), value.clone());
        }
        store.apply(batch)?;
        store.flush()?;
    }
    let killed = dir.join(format!("{label}-killed"));
    copy_dir(&live, &killed)?;
    drop(store);
    let bytes = disk_bytes(&killed)?;
    let started = Instant::now();
    let reopened = engine.open(&killed)?;
    let last = reopened.get(&records.to_be_bytes())?;
    let ms = started.elapsed().as_secs_f64() * 1e3;
    anyhow::ensure!(
        last.is_some(),
        "{}: the last flushed record is missing after the simulated kill",
        engine.label
    );
    Ok((ms, bytes))
}

/// The engine figures: throughput at batch 1 and 256, and open time after a kill of a store of
/// 100,000 records (1,000 in a smoke run, told by `seconds` below one).
pub(super) fn figures(root: &Path, seconds: f64) -> anyhow::Result<Vec<Figure>> {
    let records: u64 = if seconds < 1.0 { 1_000 } else { 100_000 };
    let mut figures = Vec::new();
    for engine in &ENGINES {
        let ([key_one, key_batch, key_open, key_creates, key_each], name) =
            (engine.keys, engine.label);
        for (n, key) in [(1usize, key_one), (256, key_batch)] {
            let dir = root.join(format!("engine-{}-{n}", engine.dir_name()));
            let store = engine.open(&dir)?;
            let value = throughput(store.as_ref(), n, seconds)?;
            eprintln!("  {name} store, batch {n} + flush: {value:.1} records/s");
            figures.push(Figure {
                key,
                name: format!("{name} Store, batch {n} of 1 KB + flush"),
                value,
                unit: "records/s",
                detail: String::new(),
            });
        }
        for (batch_each, key, form) in [
            (false, key_creates, "one batch"),
            (true, key_each, "a batch per create"),
        ] {
            let dir = root.join(format!("engine-{}-creates-{batch_each}", engine.dir_name()));
            let store = engine.open(&dir)?;
            let (rate, cpu) = create_groups(store.as_ref(), seconds, batch_each)?;
            drop(store);
            eprintln!(
                "  {name} store, groups of {CREATES_PER_FLUSH} creates ({form}) + flush: {rate:.1} creates/s, {cpu:.0} us CPU per create"
            );
            figures.push(Figure {
                key,
                name: format!(
                    "{name} Store, groups of {CREATES_PER_FLUSH} create-shaped writes ({form}) + flush"
                ),
                value: rate,
                unit: "creates/s",
                detail: format!(
                    "{cpu:.0} us of CPU per create (the whole process, I/O threads included)"
                ),
            });
        }
        let (ms, bytes) = open_after_kill(engine, root, records)?;
        eprintln!("  {name} store, open after a kill: {ms:.1} ms");
        figures.push(Figure {
            key: key_open,
            name: format!("{name} Store, open after a kill ({records} records)"),
            value: ms,
            unit: "ms",
            detail: format!("{:.1} MiB on disk", bytes as f64 / 1048576.0),
        });
    }
    Ok(figures)
}
