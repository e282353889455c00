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
//! One writer per database: the connection that applies holds a session-level advisory lock,
//! so a second gateway on the same database is refused at start with a message saying so
//! (several replicas on one database are the next step of issue 18, not built).
//!
//! The trait is synchronous and is called from the writer thread and from the gateway's async
//! handlers alike, so the store drives its connections on a runtime of its own (two threads)
//! and each call waits for its answer on a plain channel, which blocks no runtime and is
//! allowed in any context. Reads go to a small pool of connections (`postgres.pool_size`), the
//! writes to their own. A connection that failed or timed out is dropped and made again by the
//! next call, so the store works again once the server is back; until then every call fails
//! with a storage error (the gateway answers UNAVAILABLE).

pub mod schema;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Batch, Store, Write};
use crate::error::{Error, Result};

/// The advisory lock the writing connection holds for its session: "hotlinew".
const WRITER_LOCK: i64 = 0x686f_746c_696e_6577;

/// How long one call may take before its connection is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn storage(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Storage(format!("PostgreSQL: {what}: {e}"))
}

/// A connection with its prepared statements.
struct Connection {
    client: Client,
    get: Statement,
    range: Statement,
    put: Statement,
    delete: Statement,
    flush: Statement,
}

impl Connection {
    async fn open(config: &tokio_postgres::Config, writer: bool) -> Result<Connection> {
        let (client, connection) = config
            .connect(NoTls)
            .await
            .map_err(|e| storage("connect", e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        if writer {
            let locked: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&WRITER_LOCK])
                .await
                .map_err(|e| storage("take the writer lock", e))?
                .get(0);
            if !locked {
                return Err(Error::Storage(
                    "PostgreSQL: another gateway is writing to this database (it holds the \
                     writer lock); one gateway per database for now: give this one a database \
                     of its own, or stop the other"
                        .into(),
                ));
            }
            client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(|e| storage("set synchronous_commit", e))?;
        }
        let prepare = |sql: &'static str| {
            let client = &client;
            async move {
                client
                    .prepare(sql)
                    .await
                    .map_err(|e| storage("prepare a statement", e))
            }
        };
        Ok(Connection {
            get: prepare("SELECT v FROM hotline_kv WHERE k = $1").await?,
            range: prepare(
                "SELECT k, v FROM hotline_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3",
            )
            .await?,
            put: prepare(
                "INSERT INTO hotline_kv (k, v) SELECT * FROM UNNEST($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
            )
            .await?,
            delete: prepare("DELETE FROM hotline_kv WHERE k = ANY($1)").await?,
            flush: prepare("UPDATE hotline_flush SET n = n + 1 WHERE id = 1").await?,
            client,
        })
    }
}

/// A connection made on first use and again after it failed.
struct Slot {
    config: Arc<tokio_postgres::Config>,
    writer: bool,
    conn: Mutex<Option<Connection>>,
}

impl Slot {
    fn new(config: Arc<tokio_postgres::Config>, writer: bool) -> Arc<Slot> {
        Arc::new(Slot {
            config,
            writer,
            conn: Mutex::new(None),
        })
    }

    /// Runs `f` on the connection (made first if need be); a failure or a timeout drops the
    /// connection, so the next call starts on a fresh one.
    async fn with<T>(&self, f: impl AsyncFnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| c.client.is_closed()) {
            *guard = None;
        }
        if guard.is_none() {
            let opened =
                tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(&self.config, self.writer))
                    .await
                    .map_err(|_| {
                        storage("connect", format!("no answer within {CONNECT_TIMEOUT:?}"))
                    })??;
            *guard = Some(opened);
        }
        let Some(conn) = guard.as_mut() else {
            return Err(Error::Storage("PostgreSQL: no connection".into()));
        };
        match tokio::time::timeout(CALL_TIMEOUT, f(conn)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                *guard = None;
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err(storage(
                    "call",
                    format!("no answer within {CALL_TIMEOUT:?}; connection dropped"),
                ))
            }
        }
    }
}

/// PostgreSQL behind the [`Store`] trait.
pub struct PostgresStore {
    runtime: Option<Runtime>,
    handle: Handle,
    writer: Arc<Slot>,
    readers: Vec<Arc<Slot>>,
    next_reader: AtomicUsize,
    /// Whether a batch was applied since the last flush (a flush without one waits for nothing).
    dirty: AtomicBool,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("readers", &self.readers.len())
            .finish()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with `pool_size` reading connections, brings its
    /// schema up to date and takes the writer lock. Fails, with what was wrong, when the server
    /// cannot be reached, the schema is newer than this gateway, or another gateway writes to
    /// the database.
    pub fn open(url: &str, pool_size: usize) -> Result<PostgresStore> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| Error::Config {
            field: "postgres.url".into(),
            problem: format!("not a PostgreSQL connection URL: {e}"),
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("hotline-gateway");
        let config = Arc::new(config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hotline-postgres")
            .enable_all()
            .build()
            .map_err(|e| storage("start the client runtime", e))?;
        let store = PostgresStore {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            writer: Slot::new(config.clone(), true),
            readers: (0..pool_size.max(1))
                .map(|_| Slot::new(config.clone(), false))
                .collect(),
            next_reader: AtomicUsize::new(0),
            dirty: AtomicBool::new(false),
        };
        let applied = store.call({
            let config = config.clone();
            async move {
                let (mut client, connection) = config
                    .connect(NoTls)
                    .await
                    .map_err(|e| storage("connect", e))?;
                tokio::spawn(connection);
                schema::migrate(&mut client).await
            }
        })?;
        if !applied.is_empty() {
            tracing::info!(?applied, "PostgreSQL schema migrated");
        }
        // Takes the writer lock now, so a second gateway fails at start, not at its first write.
        let writer = store.writer.clone();
        store.call(async move { writer.with(async |_| Ok(())).await })?;
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

/// A batch as its final writes: the last write of each key wins, as applying the writes in
/// order would leave it.
#[derive(Debug, Default)]
struct FinalWrites {
    /// Keys put, with `values` at the same positions.
    keys: Vec<Vec<u8>>,
    values: Vec<Vec<u8>>,
    /// Keys deleted.
    deleted: Vec<Vec<u8>>,
}

fn final_writes(batch: Batch) -> FinalWrites {
    let mut last = std::collections::HashMap::with_capacity(batch.writes.len());
    for write in batch.writes {
        match write {
            Write::Put(k, v) => last.insert(k, Some(v)),
            Write::Delete(k) => last.insert(k, None),
        };
    }
    let mut writes = FinalWrites::default();
    for (k, v) in last {
        match v {
            Some(v) => {
                writes.keys.push(k);
                writes.values.push(v);
            }
            None => writes.deleted.push(k),
        }
    }
    writes
}

impl Store for PostgresStore {
    fn apply(&self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let FinalWrites {
            keys,
            values,
            deleted,
        } = final_writes(batch);
        let writer = self.writer.clone();
        self.call(async move {
            writer
                .with(async move |conn| {
                    let tx = conn
                        .client
                        .transaction()
                        .await
                        .map_err(|e| storage("begin", e))?;
                    if !deleted.is_empty() {
                        tx.execute(&conn.delete, &[&deleted])
                            .await
                            .map_err(|e| storage("delete", e))?;
                    }
                    if !keys.is_empty() {
                        tx.execute(&conn.put, &[&keys, &values])
                            .await
                            .map_err(|e| storage("write", e))?;
                    }
                    tx.commit().await.map_err(|e| storage("commit", e))
                })
                .await
        })?;
        self.dirty.store(true, Ordering::SeqCst);
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
                        .map_err(|e| storage("read", e))?;
                    Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
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
                        .map_err(|e| storage("read a range", e))?;
                    Ok(rows
                        .into_iter()
                        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
                        .collect())
                })
                .await
        })
    }

    fn flush(&self) -> Result<()> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let writer = self.writer.clone();
        let flushed = self.call(async move {
            writer
                .with(async |conn| {
                    let tx = conn
                        .client
                        .transaction()
                        .await
                        .map_err(|e| storage("begin the flush", e))?;
                    tx.batch_execute("SET LOCAL synchronous_commit = on")
                        .await
                        .map_err(|e| storage("flush", e))?;
                    tx.execute(&conn.flush, &[])
                        .await
                        .map_err(|e| storage("flush", e))?;
                    tx.commit().await.map_err(|e| storage("flush", e))
                })
                .await
        });
        if flushed.is_err() {
            self.dirty.store(true, Ordering::SeqCst);
        }
        flushed
    }

    fn recover(&self) -> Result<()> {
        // Every failed call already dropped its connection; the next call connects again and
        // reads only what the server holds.
        Ok(())
    }
}

#[cfg(test)]
mod tests;
