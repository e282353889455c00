//! PostgreSQL behind the [`Store`] trait (`storage = "postgres"`): the gateway's ordered key
//! space as one table of byte keys and byte values (`hotline_kv`, keys compared byte by byte as
//! `bytea` is), created and upgraded by the versioned migrations of [`schema`].
//!
//! Durability, as with redb: [`Store::apply`] commits its batch as one transaction with
//! `synchronous_commit = off` (atomic and visible to every connection at once, its WAL not yet
//! flushed), and [`Store::flush`] commits a one-row update with `synchronous_commit = on`,
//! which waits until the WAL is on disk up to that commit and so, the WAL being one sequence,
//! every commit before it. The writer acknowledges a group only after its flush.
//!
//! Several gateways on one database (replicas): each group of a gateway's writer runs in a
//! turn, a session-level advisory lock its writing connection takes in
//! [`Store::begin_group`] and gives back in [`Store::end_group`], so groups of different
//! gateways never interleave: one of them assigns log sequence numbers, ticket numbers and audit
//! entries at a time, each from what the one before committed. Every group's batch raises the
//! write generation (`hotline_flush` row 2) in its transaction; a gateway whose turn finds a
//! generation other than the one it last wrote or saw reads its state again before the group.
//! The flush sends `NOTIFY hotline_writes` (delivered once durable), and a listening connection
//! of every other gateway wakes its writer and subscribers on it; the listener also reads the
//! generation every second, so a lost notification only delays. A batch applied outside a
//! group (the file uploads' own keys) takes no turn.
//!
//! The trait is synchronous and is called from the writer thread and from the gateway's async
//! handlers alike, so the store drives its connections on a runtime of its own (two threads)
//! and each call waits for its answer on a plain channel, which blocks no runtime and is
//! allowed in any context. Reads go to a small pool of connections (`postgres.pool_size`), the
//! writes to their own. A connection that failed or timed out is dropped and made again by the
//! next call, so the store works again once the server is back; until then every call fails
//! with a storage error (the gateway answers UNAVAILABLE).

mod connection;
pub(crate) mod link;
mod listen;
mod namespace;
pub mod schema;

#[cfg(test)]
use self::connection::FinalWrites;
use self::connection::{Slot, final_writes};
use self::listen::listen;
pub use self::namespace::Namespace;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use self::link::Link;
use crate::config::PostgresConfig;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

use super::{Batch, Entries, Store};
use crate::error::{Error, Result};

/// The first key of the advisory lock a writer's group holds (its turn): "hotw"; the second
/// is the schema's [`Namespace::key`].
const WRITER_LOCK: i32 = 0x686f_7477;

/// How often the listener reads the write generation, in case a notification was lost.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long one call may take before its connection is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn storage(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("PostgreSQL: {what}: {e}"))
}

/// [`storage`] for an error of the client: the error says what failed (tokio-postgres says
/// only "db error"), the log says why, with the server's message from its causes. The causes
/// stay out of the error, which reaches the sites (`UNAVAILABLE`): the server's text can name
/// hosts, users and certificates of the operator's network.
pub(super) fn failure(what: &str, e: impl std::error::Error) -> Error {
    tracing::warn!(what, cause = %with_causes(&e), "PostgreSQL call failed");
    storage(what, e)
}

/// [`failure`] at start, before any site is served: the causes go into the error too, so the
/// operator reads why the gateway did not start where it stops.
pub(super) fn start_failure(what: &str, e: impl std::error::Error) -> Error {
    storage(what, with_causes(&e))
}

/// The error and each of its causes, joined by ": ".
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}

/// PostgreSQL behind the [`Store`] trait.
pub struct PostgresStore {
    runtime: Option<Runtime>,
    handle: Handle,
    writer: Arc<Slot>,
    readers: Vec<Arc<Slot>>,
    next_reader: AtomicUsize,
    /// The write generation this gateway last wrote or saw at the start of a turn.
    seen: Arc<parking_lot::Mutex<Option<i64>>>,
    /// When the server this gateway last saw the generation on started: a server restarted
    /// since may have lost a generation it had reported, so the generation alone is not enough.
    seen_start: parking_lot::Mutex<Option<String>>,
    /// The writer's connections that applied batches no flush has vouched for yet: a flush
    /// must commit on each of them (one), or what they applied may have gone with a server
    /// that crashed in between. Kept after a failed flush, so no later flush on a new
    /// connection vouches for them; cleared when the writer reads the store again.
    pending: parking_lot::Mutex<Vec<u64>>,
    namespace: Namespace,
    /// Changes when another gateway's group is durable (see [`Store::others_wrote`]).
    others: watch::Sender<u64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("readers", &self.readers.len())
            .finish()
    }
}

impl PostgresStore {
    /// [`PostgresStore::open_in`] the schema `public`.
    pub fn open(url: &str, pool_size: usize) -> Result<PostgresStore> {
        Self::open_in(url, "public", pool_size)
    }

    /// [`PostgresStore::connect`] without TLS options beyond those in `url`.
    pub fn open_in(url: &str, schema: &str, pool_size: usize) -> Result<PostgresStore> {
        Self::connect(&PostgresConfig {
            url: url.into(),
            schema: schema.into(),
            pool_size,
            ca_cert: None,
        })
    }

    /// Connects to the database `settings.url` names (over TLS when the URL or
    /// `settings.ca_cert` ask for it, see [`link`]), in `settings.schema` (made when missing),
    /// with `settings.pool_size` reading connections, and brings the schema's tables up to
    /// date. Fails, with what was wrong, when the server cannot be reached, its certificate
    /// does not verify, or the schema is newer than this gateway.
    pub fn connect(settings: &PostgresConfig) -> Result<PostgresStore> {
        let (schema, pool_size) = (settings.schema.as_str(), settings.pool_size);
        let namespace = Namespace::new(schema)?;
        let mut link = Link::new(&settings.url, settings.ca_cert.as_deref())?;
        let config = link.config_mut();
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("hotline-gateway");
        // Every name the store uses resolves in its schema.
        config.options(format!("-c search_path={}", namespace.schema()));
        let tls = link.tls();
        let link = Arc::new(link);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hotline-postgres")
            .enable_all()
            .build()
            .map_err(|e| failure("start the client runtime", e))?;
        let store = PostgresStore {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            writer: Slot::new(link.clone(), true),
            readers: (0..pool_size.max(1))
                .map(|_| Slot::new(link.clone(), false))
                .collect(),
            next_reader: AtomicUsize::new(0),
            seen: Arc::new(parking_lot::Mutex::new(None)),
            seen_start: parking_lot::Mutex::new(None),
            pending: parking_lot::Mutex::new(Vec::new()),
            namespace: namespace.clone(),
            others: watch::channel(0).0,
        };
        let applied = store.call({
            let link = link.clone();
            let namespace = namespace.clone();
            async move {
                let mut client = link
                    .connect_driven()
                    .await
                    .map_err(|e| start_failure("connect", e))?;
                tokio::time::timeout(CALL_TIMEOUT, schema::migrate(&mut client, &namespace))
                    .await
                    .map_err(|_| {
                        storage(
                            "schema migration",
                            format!(
                                "not done within {CALL_TIMEOUT:?} (another gateway migrating?)"
                            ),
                        )
                    })?
            }
        })?;
        if !applied.is_empty() {
            tracing::info!(?applied, schema, "PostgreSQL schema migrated");
        }
        tracing::info!(schema, tls, "PostgreSQL store open");
        store.handle.spawn(listen(
            link,
            namespace,
            store.others.clone(),
            Arc::clone(&store.seen),
        ));
        Ok(store)
    }

    /// Runs `future` on the store's runtime and waits for it from any thread.
    fn call<T: Send + 'static>(
        &self,
        future: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = answer.send(future.await);
        });
        wait.recv()
            .map_err(|_| Error::Storage("PostgreSQL: the client runtime stopped".into()))?
    }

    /// Notes that `session` applied a batch the next flush must make durable.
    fn applied(&self, session: u64) {
        let mut pending = self.pending.lock();
        if !pending.contains(&session) {
            pending.push(session);
        }
    }

    fn reader(&self) -> Arc<Slot> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        self.readers[i].clone()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another runtime's task.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Store for PostgresStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let writes = final_writes(batch);
        let writer = self.writer.clone();
        let session = self.call(async move {
            writer
                .with(async move |conn| {
                    conn.write(writes, None).await?;
                    Ok(conn.session)
                })
                .await
        })?;
        self.applied(session);
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key = key.to_vec();
        let reader = self.reader();
        self.call(async move {
            reader
                .with(async move |conn| {
                    let row = conn
                        .client
                        .query_opt(&conn.get, &[&key])
                        .await
                        .map_err(|e| failure("read", e))?;
                    Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
                })
                .await
        })
    }

    fn reads_are_round_trips(&self) -> bool {
        true
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = keys.to_vec();
        let reader = self.reader();
        let found: HashMap<Vec<u8>, Vec<u8>> = self.call(async move {
            reader
                .with(async move |conn| {
                    let rows = conn
                        .client
                        .query(&conn.get_many, &[&wanted])
                        .await
                        .map_err(|e| failure("read several keys", e))?;
                    Ok(pairs(rows).collect())
                })
                .await
        })?;
        // A key asked twice gets its value twice.
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    fn ranges(&self, ranges: &[(Vec<u8>, Vec<u8>)]) -> Result<Vec<Entries>> {
        if ranges.is_empty() {
            return Ok(Vec::new());
        }
        let starts: Vec<Vec<u8>> = ranges.iter().map(|(s, _)| s.clone()).collect();
        let ends: Vec<Vec<u8>> = ranges.iter().map(|(_, e)| e.clone()).collect();
        let count = ranges.len();
        let reader = self.reader();
        self.call(async move {
            reader
                .with(async move |conn| {
                    let rows = conn
                        .client
                        .query(&conn.ranges, &[&starts, &ends])
                        .await
                        .map_err(|e| failure("read several ranges", e))?;
                    let mut out: Vec<Entries> = vec![Vec::new(); count];
                    for row in rows {
                        // WITH ORDINALITY counts from 1.
                        let i = usize::try_from(row.get::<_, i64>(0) - 1)
                            .ok()
                            .filter(|i| *i < count)
                            .ok_or_else(|| storage("read several ranges", "a row of no range"))?;
                        out[i].push((row.get::<_, Vec<u8>>(1), row.get::<_, Vec<u8>>(2)));
                    }
                    Ok(out)
                })
                .await
        })
    }

    fn range(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let (start, end) = (start.to_vec(), end.to_vec());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let reader = self.reader();
        self.call(async move {
            reader
                .with(async move |conn| {
                    let rows = conn
                        .client
                        .query(&conn.range, &[&start, &end, &limit])
                        .await
                        .map_err(|e| failure("read a range", e))?;
                    Ok(pairs(rows).collect())
                })
                .await
        })
    }

    fn flush(&self) -> Result<()> {
        // Never skipped: a flush another thread made may not cover this caller's batch (it
        // may have failed), and one synchronous commit is what the writer's group waits for.
        let writer = self.writer.clone();
        let generation = self.seen.lock().unwrap_or(0).to_string();
        let channel = self.namespace.channel();
        let pending = std::mem::take(&mut *self.pending.lock());
        let vouched = pending.clone();
        let flushed = self.call(async move {
            writer
                .with(async move |conn| {
                    // A new connection may be to a server that restarted since the apply and
                    // lost it: committing here would acknowledge what is gone.
                    if vouched.iter().any(|session| *session != conn.session) {
                        return Err(Error::Storage(
                            "PostgreSQL: the connection that applied the group is gone; nothing \
                             of it is acknowledged"
                                .into(),
                        ));
                    }
                    sync_commit(conn, Some((&channel, &generation))).await
                })
                .await
        });
        if flushed.is_err() {
            // The next turn reads the store again, whatever generation it finds.
            *self.seen.lock() = None;
            for session in pending {
                self.applied(session);
            }
        }
        flushed
    }

    fn recover(&self) -> Result<()> {
        // Every failed call already dropped its connection; the next call connects again and
        // reads only what the server holds. What was applied and not vouched for is the
        // writer's to read again (it calls this within its turn, before reading).
        self.pending.lock().clear();
        Ok(())
    }

    fn begin_group(&self) -> Result<bool> {
        let writer = self.writer.clone();
        let key = self.namespace.key();
        let seen = *self.seen.lock();
        let seen_start = self.seen_start.lock().clone();
        let (generation, start, changed) = self.call(async move {
            writer
                .with(async move |conn| {
                    conn.client
                        .execute("SELECT pg_advisory_lock($1, $2)", &[&WRITER_LOCK, &key])
                        .await
                        .map_err(|e| failure("wait for the writer's turn", e))?;
                    conn.locked = true;
                    let row = conn
                        .client
                        .query_one(&conn.generation, &[])
                        .await
                        .map_err(|e| failure("read the write generation", e))?;
                    let version: Option<i32> = row.get(1);
                    if version.unwrap_or(0) > schema::latest() {
                        return Err(Error::Storage(format!(
                            "PostgreSQL: a newer gateway upgraded the schema to version {}; \
                             this one knows {} and writes no more: upgrade it",
                            version.unwrap_or(0),
                            schema::latest()
                        )));
                    }
                    let generation: i64 = row.get(0);
                    let start: String = row.get(2);
                    let changed = seen != Some(generation) || seen_start != Some(start.clone());
                    if changed {
                        // What another gateway applied may not be durable yet (it was killed
                        // before its flush): made durable here before this one reads it.
                        sync_commit(conn, None).await?;
                    }
                    Ok((generation, start, changed))
                })
                .await
        })?;
        *self.seen.lock() = Some(generation);
        *self.seen_start.lock() = Some(start);
        Ok(changed)
    }

    fn apply_group(&self, batch: Batch) -> Result<()> {
        let writes = final_writes(batch);
        let writer = self.writer.clone();
        let expected = self.seen.lock().ok_or_else(|| {
            Error::Storage("PostgreSQL: a group's batch outside the writer's turn".into())
        })?;
        let applied = self.call(async move {
            writer
                .with(async move |conn| {
                    if !conn.locked {
                        return Err(Error::Storage(
                            "PostgreSQL: the writer's connection was made again during the group \
                             and holds no turn; the group is refused and retried after a reload"
                                .into(),
                        ));
                    }
                    let generation = conn.write(writes, Some(expected)).await?;
                    Ok((generation, conn.session))
                })
                .await
        });
        let (generation, session) = applied.inspect_err(|_| *self.seen.lock() = None)?;
        *self.seen.lock() = generation;
        self.applied(session);
        Ok(())
    }

    fn end_group(&self) {
        let writer = self.writer.clone();
        let key = self.namespace.key();
        let ended = self.call(async move {
            let mut guard = writer.conn.lock().await;
            if let Some(conn) = guard.as_mut().filter(|c| c.locked) {
                let unlocked = conn
                    .client
                    .execute("SELECT pg_advisory_unlock($1, $2)", &[&WRITER_LOCK, &key])
                    .await;
                conn.locked = false;
                if let Err(e) = unlocked {
                    // The session ends with the connection, and the turn with it.
                    *guard = None;
                    return Err(storage("end the writer's turn", e));
                }
            }
            Ok(())
        });
        if let Err(error) = ended {
            tracing::warn!(%error, "dropped the writer's connection to end its turn");
        }
    }

    fn others_wrote(&self) -> Option<watch::Receiver<u64>> {
        Some(self.others.subscribe())
    }
}

/// The key and value of each row of a `SELECT k, v`.
fn pairs(rows: Vec<tokio_postgres::Row>) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
    rows.into_iter()
        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
}

/// Commits a one-row update synchronously on `conn`: every commit before it, on any connection,
/// is then durable (the WAL is one sequence). With `notify`, tells the listeners on that
/// channel, once durable, the generation given.
async fn sync_commit(
    conn: &mut connection::Connection,
    notify: Option<(&str, &str)>,
) -> Result<()> {
    let tx = conn
        .client
        .transaction()
        .await
        .map_err(|e| failure("begin the flush", e))?;
    tx.batch_execute("SET LOCAL synchronous_commit = on")
        .await
        .map_err(|e| failure("flush", e))?;
    // A commit that changed no row writes no commit record and waits for no WAL: the marker
    // row must be there.
    let updated = tx
        .execute(&conn.flush, &[])
        .await
        .map_err(|e| failure("flush", e))?;
    if updated != 1 {
        return Err(Error::Corrupt(
            "PostgreSQL: the flush marker row (hotline_flush id 1) is missing".into(),
        ));
    }
    if let Some((channel, generation)) = notify {
        tx.execute("SELECT pg_notify($1, $2)", &[&channel, &generation])
            .await
            .map_err(|e| failure("notify", e))?;
    }
    tx.commit().await.map_err(|e| failure("flush", e))
}

#[cfg(test)]
mod tests;
