//! One subscription: snapshot when the cursor is older than the retained log, then the log from
//! the cursor, then the live tail, each entry filtered and redacted for the subscriber's tenant.
//!
//! Memory stays bounded: the live feed is a bounded broadcast and each subscriber has a bounded
//! buffer. A subscriber whose buffer stays full for the stall timeout, or that falls further
//! behind than the broadcast holds, is ended with `RESOURCE_EXHAUSTED` and resumes from its
//! cursor; the writer and the other subscribers never wait for it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_federation::visibility::{redact, redact_change, sees};
use hotline_federation::{Change, EntityState};
use hotline_proto::v1 as pb;
use pb::sync_event::Body;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::log::{LogRecord, decode_record, decode_state};
use crate::state::GatewayState;
use crate::store::keys;

/// How many log entries or entities are read from the store at a time.
const READ_CHUNK: usize = 512;

type Item = std::result::Result<pb::SyncEvent, tonic::Status>;

/// The response stream: events from the subscription task, or its final error status.
pub struct Subscription {
    events: mpsc::Receiver<Item>,
    abort: Option<oneshot::Receiver<tonic::Status>>,
}

impl Stream for Subscription {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if let Some(abort) = self.abort.as_mut() {
            if let Poll::Ready(result) = Pin::new(abort).poll(cx) {
                self.abort = None;
                if let Ok(status) = result {
                    self.events.close();
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
        self.events.poll_recv(cx)
    }
}

/// Starts a subscription for `tenant` from `cursor`.
pub fn start(
    state: Arc<GatewayState>,
    tenant: String,
    site: String,
    cursor: u64,
    shutdown: CancellationToken,
) -> Subscription {
    let (tx, events) = mpsc::channel(state.config.limits.subscriber_buffer);
    let (abort_tx, abort) = oneshot::channel();
    let tracker = state.tasks.clone();
    tracker.spawn(async move {
        let mut feed = Feed {
            stall: Duration::from_millis(state.config.limits.stall_timeout_ms),
            state,
            tenant,
            tx,
            sent: cursor,
        };
        let result = tokio::select! {
            result = feed.run() => result,
            () = shutdown.cancelled() => Ok(()),
        };
        if let Err(error) = result {
            tracing::info!(site = %site, %error, cursor = feed.sent, "subscription ended");
            let _ = abort_tx.send(tonic::Status::from(error));
        }
    });
    Subscription {
        events,
        abort: Some(abort),
    }
}

struct Feed {
    state: Arc<GatewayState>,
    tenant: String,
    tx: mpsc::Sender<Item>,
    /// The last global sequence number this subscriber has been given.
    sent: u64,
    stall: Duration,
}

impl Feed {
    async fn run(&mut self) -> Result<()> {
        let shared = self.state.shared.clone();
        let mut live = shared.committed.subscribe();
        let head = shared.head.load(Ordering::SeqCst);
        if self.sent < shared.floor.load(Ordering::SeqCst) || self.sent > head {
            self.snapshot().await?;
        }
        self.catch_up(shared.head.load(Ordering::SeqCst)).await?;
        let mut heartbeat = tokio::time::interval(Duration::from_millis(
            self.state.config.limits.heartbeat_interval_ms,
        ));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                received = live.recv() => match received {
                    Ok(entry) => {
                        if entry.seq <= self.sent {
                            continue;
                        }
                        if entry.seq > self.sent + 1 {
                            self.catch_up(entry.seq - 1).await?;
                        }
                        let events = self.events(
                            &entry.change, &entry.after, &entry.gained, &entry.lost,
                            &entry.team, &entry.access_changed,
                        )?;
                        self.send_all(entry.seq, events).await?;
                        heartbeat.reset();
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Err(Error::ResourceExhausted(format!(
                            "subscriber fell {missed} entries behind the live log; resubscribe from cursor {}",
                            self.sent
                        )));
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    let head = shared.head.load(Ordering::SeqCst);
                    let event = pb::SyncEvent {
                        cursor: self.sent,
                        body: Some(Body::Heartbeat(pb::Heartbeat {
                            head,
                            now_ms: self.state.now_ms(),
                            max_skew_ms: self.state.config.max_skew_ms,
                        })),
                    };
                    self.send(event).await?;
                }
            }
        }
    }

    async fn send(&self, event: pb::SyncEvent) -> Result<()> {
        match tokio::time::timeout(self.stall, self.tx.send(Ok(event))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Error::Unavailable("subscriber went away".into())),
            Err(_) => Err(Error::ResourceExhausted(format!(
                "subscriber stalled: its buffer stayed full for {} ms; resubscribe from cursor {}",
                self.stall.as_millis(),
                self.sent
            ))),
        }
    }

    /// Sends the events of log entry `seq`; only the last one carries the cursor, so a site
    /// that stores it has applied the whole entry.
    async fn send_all(&mut self, seq: u64, bodies: Vec<Body>) -> Result<()> {
        let count = bodies.len();
        for (i, body) in bodies.into_iter().enumerate() {
            let cursor = if i + 1 == count { seq } else { 0 };
            self.send(pb::SyncEvent {
                cursor,
                body: Some(body),
            })
            .await?;
        }
        self.sent = seq;
        Ok(())
    }

    async fn snapshot(&mut self) -> Result<()> {
        let as_of = self.state.shared.head.load(Ordering::SeqCst);
        self.send(pb::SyncEvent {
            cursor: 0,
            body: Some(Body::SnapshotBegin(pb::SnapshotBegin { as_of })),
        })
        .await?;
        let directory = self.state.shared.directory();
        let (mut start, end) = keys::entity_range();
        loop {
            let chunk = self.state.store.range(&start, &end, READ_CHUNK)?;
            let Some((last, _)) = chunk.last() else { break };
            start = last.clone();
            start.push(0);
            for (_, raw) in &chunk {
                let entity = decode_state(raw)?;
                if let Some(view) = redact(&self.tenant, &entity, &directory) {
                    let body = Body::Entity(pb::EntityState::from(view));
                    self.send(pb::SyncEvent {
                        cursor: 0,
                        body: Some(body),
                    })
                    .await?;
                }
            }
        }
        self.send(pb::SyncEvent {
            cursor: as_of,
            body: Some(Body::SnapshotEnd(pb::SnapshotEnd { as_of })),
        })
        .await?;
        self.sent = as_of;
        Ok(())
    }

    /// Sends log entries after `self.sent` up to `target` from the store.
    async fn catch_up(&mut self, target: u64) -> Result<()> {
        while self.sent < target {
            let start = keys::log(self.sent + 1);
            let end = keys::log(target + 1);
            let chunk = self.state.store.range(&start, &end, READ_CHUNK)?;
            let first = chunk.first().and_then(|(k, _)| keys::parse_log(k));
            if first != Some(self.sent + 1) {
                // Pruned underneath us: start over from a snapshot.
                self.snapshot().await?;
                continue;
            }
            for (key, raw) in chunk {
                let seq = keys::parse_log(&key)
                    .ok_or_else(|| Error::Corrupt("log key without sequence".into()))?;
                let (change, record) = decode_record(&raw)?;
                let LogRecord {
                    gained,
                    lost,
                    team,
                    access_changed,
                    ..
                } = record;
                let current = self.state.entity(&change.key)?;
                let events =
                    self.events(&change, &current, &gained, &lost, &team, &access_changed)?;
                self.send_all(seq, events).await?;
            }
        }
        Ok(())
    }

    /// What this tenant receives for one log entry.
    fn events(
        &self,
        change: &Change,
        current: &EntityState,
        gained: &[String],
        lost: &[String],
        team: &str,
        access_changed: &[String],
    ) -> Result<Vec<Body>> {
        let tenant = self.tenant.as_str();
        let directory = self.state.shared.directory();
        let mut out = Vec::new();
        let revoke = |key: &EntityKey| {
            Body::Revocation(pb::Revocation {
                key: Some(key.clone().into()),
            })
        };
        if lost.iter().any(|t| t == tenant) {
            out.push(revoke(&change.key));
        } else if gained.iter().any(|t| t == tenant) {
            if let Some(view) = redact(tenant, current, &directory) {
                out.push(Body::Entity(view.into()));
            }
        } else if sees(tenant, current, &directory) {
            if let Some(redacted) = redact_change(tenant, change, current, &directory) {
                if !redacted.ops.is_empty() {
                    out.push(Body::Change(redacted.into()));
                }
            }
        }
        if !team.is_empty() && access_changed.iter().any(|t| t == tenant) {
            // The tenant's access to a whole focus team changed: replace each of its tickets.
            let prefix = keys::team_prefix(team);
            let end = keys::prefix_end(&prefix);
            for (key, _) in self.state.store.range(&prefix, &end, usize::MAX)? {
                let id = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                let ticket = self.state.entity(&EntityKey::new(EntityKind::Ticket, id))?;
                out.push(revoke(&ticket.key));
                if let Some(view) = redact(tenant, &ticket, &directory) {
                    out.push(Body::Entity(view.into()));
                }
            }
        }
        Ok(out)
    }
}
