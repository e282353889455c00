//! Sending queued webhooks: one task per target, each in event-id order, with backoff after a
//! failure and a dead letter after too many. Every store call runs on the blocking pool.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use hotline_runtime::clock::now_ms;
use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::record::{QueueEntry, WebhookDeadLetter, body_json};
use super::target::WebhookTarget;
use super::{DeliveryQueue, EVENT_ID_HEADER, SIGNATURE_HEADER, sign};
use crate::error::{Error, Result};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_POLL: Duration = Duration::from_secs(1);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// The store as the deliverer holds it.
type Queue = Arc<dyn DeliveryQueue>;

/// Runs `call` on the queue on the blocking pool: every queue call may wait on sled.
async fn on_queue<T: Send + 'static>(
    queue: &Queue,
    call: impl FnOnce(&dyn DeliveryQueue) -> Result<T> + Send + 'static,
) -> Result<T> {
    let queue = Arc::clone(queue);
    tokio::task::spawn_blocking(move || call(queue.as_ref()))
        .await
        .map_err(|e| Error::Storage(format!("webhook queue task: {e}")))?
}

/// Sends queued webhooks: one task per target, each in event-id order, so a failing target
/// delays only its own events.
pub struct Deliverer {
    queue: Queue,
    targets: Vec<WebhookTarget>,
    backoff: Backoff,
    notify: Arc<Notify>,
}

impl Deliverer {
    /// A deliverer of the entries in `queue` for `targets`, in the order of the configuration.
    /// After a failure it waits `backoff_min`, doubling per further failure up to
    /// `backoff_max`, with jitter.
    pub fn new(
        queue: impl DeliveryQueue + 'static,
        targets: Vec<WebhookTarget>,
        backoff_min: Duration,
        backoff_max: Duration,
    ) -> Self {
        Self {
            queue: Arc::new(queue),
            targets,
            backoff: Backoff {
                min: backoff_min,
                max: backoff_max.max(backoff_min),
            },
            notify: Arc::new(Notify::new()),
        }
    }

    /// Wakes the deliverer: call `notify_one()` after writing new entries. Without it, entries
    /// are still found within about a second.
    pub fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// Delivers queued entries, including those written before the start, until `shutdown` is
    /// cancelled; a request in flight is then abandoned and sent again on the next run.
    pub async fn run(self, shutdown: CancellationToken) {
        let Self {
            queue,
            targets,
            backoff,
            notify,
        } = self;
        warn_unconfigured(&queue, targets.len()).await;
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let mut tasks = JoinSet::new();
        let mut wakers = Vec::with_capacity(targets.len());
        for (index, target) in (0..=u16::MAX).zip(targets) {
            let wake = Arc::new(Notify::new());
            wakers.push(Arc::clone(&wake));
            let span = tracing::info_span!("webhook", target = %target.name);
            let queue = TargetQueue {
                queue: Arc::clone(&queue),
                client: client.clone(),
                target,
                index,
                backoff,
                wake,
            };
            tasks.spawn(queue.run(shutdown.clone()).instrument(span));
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = notify.notified() => wakers.iter().for_each(|wake| wake.notify_one()),
            }
        }
        while let Some(joined) = tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "webhook delivery task failed");
            }
        }
    }
}

/// Entries queued for indexes past the configured targets have no task; say so once.
async fn warn_unconfigured(queue: &Queue, configured: usize) {
    let Ok(first) = u16::try_from(configured) else {
        return;
    };
    let entries = on_queue(queue, move |queue| queue.queued_from(first)).await;
    if let Ok(entries @ 1..) = entries {
        tracing::warn!(
            entries,
            configured,
            "webhook entries are queued for targets that are no longer configured; they stay queued"
        );
    }
}

/// One target's queue and the task that drains it.
struct TargetQueue {
    queue: Queue,
    client: HttpClient,
    target: WebhookTarget,
    index: u16,
    backoff: Backoff,
    wake: Arc<Notify>,
}

impl TargetQueue {
    async fn run(self, shutdown: CancellationToken) {
        tracing::debug!("webhook delivery started");
        while !shutdown.is_cancelled() {
            let head = match self.head().await {
                Ok(Some(head)) => head,
                Ok(None) => {
                    self.pause(&shutdown, IDLE_POLL, true).await;
                    continue;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot read the webhook queue; retrying");
                    self.pause(&shutdown, IDLE_POLL, false).await;
                    continue;
                }
            };
            let wait_ms = head.entry.next_attempt_ms.saturating_sub(now_ms());
            // A wait longer than any backoff means the clock went back: send now.
            if wait_ms > 0 && u128::from(wait_ms) <= self.backoff.max.as_millis() {
                self.pause(&shutdown, Duration::from_millis(wait_ms), false)
                    .await;
                continue;
            }
            let body = Bytes::from(head.entry.body.clone());
            let outcome = tokio::select! {
                () = shutdown.cancelled() => break,
                outcome = self.attempt(head.event_id, body) => outcome,
            };
            if let Err(error) = self.record(head, outcome).await {
                tracing::error!(%error, "cannot update the webhook queue; retrying");
                self.pause(&shutdown, IDLE_POLL, false).await;
            }
        }
        tracing::debug!("webhook delivery stopped");
    }

    /// Waits `duration`, until shutdown, or (if `wakeable`) until new entries are announced.
    async fn pause(&self, shutdown: &CancellationToken, duration: Duration, wakeable: bool) {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(duration) => {}
            () = self.wake.notified(), if wakeable => {}
        }
    }

    /// The oldest entry for this target; an undecodable one is moved to the dead letters.
    async fn head(&self) -> Result<Option<Head>> {
        let (index, name) = (self.index, self.target.name.clone());
        on_queue(&self.queue, move |queue| {
            loop {
                let Some((event_id, value)) = queue.head(index)? else {
                    return Ok(None);
                };
                match QueueEntry::decode(&value) {
                    Ok(entry) => return Ok(Some(Head { event_id, entry })),
                    Err(problem) => {
                        let error = format!("corrupt queue entry: {problem}");
                        let letter = dead_letter(&name, event_id, 0, error, &value)?;
                        queue.bury(index, event_id, letter)?;
                    }
                }
            }
        })
        .await
    }

    /// One POST of `body` as event `event_id`; the reason if it was not accepted.
    async fn attempt(&self, event_id: u64, body: Bytes) -> std::result::Result<(), String> {
        let request = Request::post(self.target.url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("hotline-adapter/", env!("CARGO_PKG_VERSION")),
            )
            .header(SIGNATURE_HEADER, sign(&self.target.secret, &body))
            .header(EVENT_ID_HEADER, event_id.to_string())
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        match tokio::time::timeout(REQUEST_TIMEOUT, self.client.request(request)).await {
            Err(_) => Err(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())),
            Ok(Err(error)) => Err(error_chain(&error)),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("partner answered HTTP {}", response.status())),
        }
    }

    /// Removes a delivered entry, or counts the failure: retry later or give up.
    async fn record(&self, head: Head, outcome: std::result::Result<(), String>) -> Result<()> {
        let Head {
            event_id,
            mut entry,
        } = head;
        let index = self.index;
        let attempts = entry.attempts.saturating_add(1);
        match outcome {
            Ok(()) => {
                on_queue(&self.queue, move |queue| queue.remove(index, event_id)).await?;
                tracing::info!(event_id, attempts, "webhook delivered");
            }
            Err(error) if attempts >= self.target.max_attempts => {
                tracing::warn!(event_id, attempts, %error, "webhook given up; moved to dead letters");
                let letter =
                    dead_letter(&self.target.name, event_id, attempts, error, &entry.body)?;
                on_queue(&self.queue, move |queue| {
                    queue.bury(index, event_id, letter)
                })
                .await?;
            }
            Err(error) => {
                let jitter = RandomState::new().hash_one((self.index, event_id, attempts));
                let delay = self.backoff.delay(attempts, jitter);
                let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(event_id, attempts, %error, retry_in_ms, "webhook delivery failed");
                entry.attempts = attempts;
                entry.next_attempt_ms = now_ms().saturating_add(retry_in_ms);
                entry.last_error = error;
                let value = entry.encode();
                on_queue(&self.queue, move |queue| {
                    queue.requeue(index, event_id, value)
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// The stored dead letter of event `event_id` for the target `target`.
fn dead_letter(
    target: &str,
    event_id: u64,
    attempts: u32,
    error: String,
    body: &[u8],
) -> Result<Vec<u8>> {
    let letter = WebhookDeadLetter {
        target: target.to_owned(),
        event_id,
        attempts,
        last_error: error,
        at_ms: now_ms(),
        body: body_json(body),
    };
    serde_json::to_vec(&letter)
        .map_err(|e| Error::Storage(format!("cannot encode a webhook dead letter: {e}")))
}

/// The oldest queued entry of a target.
struct Head {
    event_id: u64,
    entry: QueueEntry,
}

/// Exponential backoff between attempts.
#[derive(Clone, Copy, Debug)]
struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    /// The wait after `failures` failed attempts: `min` doubled per failure after the first,
    /// capped at `max`, then placed by `jitter` (any u64) between half of that and all of it,
    /// never below `min`.
    fn delay(self, failures: u32, jitter: u64) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let full = self.min.saturating_mul(1 << doublings).min(self.max);
        let low = (full / 2).max(self.min).min(full);
        let spread = (full - low).as_nanos();
        let extra = spread.saturating_mul(u128::from(jitter)) >> 64;
        low + Duration::from_nanos(u64::try_from(extra).unwrap_or(u64::MAX))
    }
}

/// An error with its causes, e.g. `client error (Connect): tcp connect error: Connection refused`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Backoff doubles from min, stays within [half, full] and never leaves [min, max].
    #[test]
    fn backoff_doubles_within_bounds() {
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for jitter in [0, u64::MAX / 2, u64::MAX] {
            assert_eq!(backoff.delay(1, jitter), Duration::from_millis(100));
            let third = backoff.delay(3, jitter);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let late = backoff.delay(u32::MAX, jitter);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&late));
        }
        assert_eq!(backoff.delay(3, 0), Duration::from_millis(200));
        assert!(backoff.delay(3, u64::MAX) > Duration::from_millis(399));
    }
}
