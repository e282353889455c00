//! The store's connections: each with its prepared statements, made on first use and again
//! after a failure.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;
use tokio_postgres::{Client, Statement};

use super::link::Link;

use super::{CALL_TIMEOUT, CONNECT_TIMEOUT, failure, storage};
use crate::error::{Error, Result};
use crate::store::{Batch, Write};

/// Numbers the writer's connections, so a flush knows whether the connection that applied is
/// still the one it commits on.
static SESSIONS: AtomicU64 = AtomicU64::new(1);

/// A connection with its prepared statements.
pub(super) struct Connection {
    pub(super) client: Client,
    /// This connection's number ([`SESSIONS`]).
    pub(super) session: u64,
    /// Whether this connection holds the writer's turn ([`WRITER_LOCK`]).
    pub(super) locked: bool,
    pub(super) get: Statement,
    pub(super) get_many: Statement,
    pub(super) ranges: Statement,
    pub(super) range: Statement,
    pub(super) put: Statement,
    pub(super) delete: Statement,
    pub(super) flush: Statement,
    pub(super) generation: Statement,
    pub(super) bump: Statement,
}

impl Connection {
    pub(super) async fn open(link: &Link, writer: bool) -> Result<Connection> {
        let client = link
            .connect_driven()
            .await
            .map_err(|e| failure("connect", e))?;
        if writer {
            client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(|e| failure("set synchronous_commit", e))?;
        }
        let prepare = |sql: &'static str| {
            let client = &client;
            async move {
                client
                    .prepare(sql)
                    .await
                    .map_err(|e| failure("prepare a statement", e))
            }
        };
        Ok(Connection {
            session: SESSIONS.fetch_add(1, Ordering::Relaxed),
            locked: false,
            get: prepare("SELECT v FROM hotline_kv WHERE k = $1").await?,
            get_many: prepare("SELECT k, v FROM hotline_kv WHERE k = ANY($1)").await?,
            // A lateral subquery per range: a plain join's generic plan (used once the
            // statement ran a few times) scanned the whole table per call (measured: catch-up
            // at 450 changes/s); this one stays an index range scan per range.
            ranges: prepare(
                "SELECT r.i, kv.k, kv.v \
                 FROM unnest($1::bytea[], $2::bytea[]) WITH ORDINALITY AS r(s, e, i) \
                 CROSS JOIN LATERAL \
                 (SELECT k, v FROM hotline_kv WHERE k >= r.s AND k < r.e ORDER BY k) kv \
                 ORDER BY r.i, kv.k",
            )
            .await?,
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
            generation: prepare(
                "SELECT n, (SELECT MAX(version) FROM hotline_schema), \
                 pg_postmaster_start_time()::text FROM hotline_flush WHERE id = 2",
            )
            .await?,
            bump: prepare("UPDATE hotline_flush SET n = n + 1 WHERE id = 2 AND n = $1 RETURNING n")
                .await?,
            client,
        })
    }

    /// Writes `writes` in one transaction (async commit); with `bump`, raises the write
    /// generation in it and returns the new one.
    /// Writes `writes` in one transaction (async commit). With `expected`, the write
    /// generation must still be that one (no other gateway wrote in this turn: a session lock
    /// that serialised nothing, behind a transaction pooler say, is caught here) and is raised;
    /// the new one is returned.
    pub(super) async fn write(
        &mut self,
        writes: FinalWrites,
        expected: Option<i64>,
    ) -> Result<Option<i64>> {
        let FinalWrites {
            keys,
            values,
            deleted,
        } = writes;
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| failure("begin", e))?;
        if !deleted.is_empty() {
            tx.execute(&self.delete, &[&deleted])
                .await
                .map_err(|e| failure("delete", e))?;
        }
        if !keys.is_empty() {
            tx.execute(&self.put, &[&keys, &values])
                .await
                .map_err(|e| failure("write", e))?;
        }
        let generation = match expected {
            Some(expected) => {
                let row = tx
                    .query_opt(&self.bump, &[&expected])
                    .await
                    .map_err(|e| failure("raise the write generation", e))?;
                let Some(row) = row else {
                    return Err(Error::Storage(
                        "PostgreSQL: another gateway wrote during this gateway's turn (is a \
                         transaction pooler between them and the database?); the group is \
                         refused and read again"
                            .into(),
                    ));
                };
                Some(row.get::<_, i64>(0))
            }
            None => None,
        };
        tx.commit().await.map_err(|e| failure("commit", e))?;
        Ok(generation)
    }
}

/// A connection made on first use and again after it failed.
pub(super) struct Slot {
    pub(super) link: Arc<Link>,
    pub(super) writer: bool,
    pub(super) conn: Mutex<Option<Connection>>,
}

impl Slot {
    pub(super) fn new(link: Arc<Link>, writer: bool) -> Arc<Slot> {
        Arc::new(Slot {
            link,
            writer,
            conn: Mutex::new(None),
        })
    }

    /// Runs `f` on the connection (made first if need be); a failure or a timeout drops the
    /// connection, so the next call starts on a fresh one.
    pub(super) async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Connection) -> Result<T>,
    ) -> Result<T> {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|c| c.client.is_closed()) {
            *guard = None;
        }
        if guard.is_none() {
            let opened =
                tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(&self.link, self.writer))
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

/// A batch as its final writes: the last write of each key wins, as applying the writes in
/// order would leave it.
#[derive(Debug, Default)]
pub(super) struct FinalWrites {
    /// Keys put, with `values` at the same positions.
    pub(super) keys: Vec<Vec<u8>>,
    pub(super) values: Vec<Vec<u8>>,
    /// Keys deleted.
    pub(super) deleted: Vec<Vec<u8>>,
}

pub(super) fn final_writes(batch: Batch) -> FinalWrites {
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
