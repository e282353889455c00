//! Webhooks: a signed JSON POST to the partner's own tools for every change to a ticket the site
//! can see.
//!
//! The adapter puts one queue entry per configured target into its sled store in the same atomic
//! batch as the change itself ([`queue_writes`]), so no change is stored without its webhooks. A
//! [`Deliverer`] then sends the entries: per target in event-id order, with exponential backoff
//! and jitter after a failure, moving an entry to a dead letter after the target's `max_attempts`
//! failed attempts. Delivery is at least once (a crash between the partner's answer and the
//! entry's removal sends it again), so partners de-duplicate by [`EVENT_ID_HEADER`].
//!
//! Keys in the default tree owned by this module, both followed by the target's index in the
//! configuration (u16 big-endian) and the event id (u64 big-endian):
//! - `w`: a pending delivery (attempts so far, next attempt time, last error, body);
//! - `y`: a [`WebhookDeadLetter`] as JSON.
//!
//! Because the index is the target's position in the configuration, reordering or removing
//! targets while entries are queued sends them to another target or leaves them queued.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::{Error, Result};

/// The header carrying the body's signature: `sha256=<lowercase hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-hotline-signature";

/// The header carrying the event id; the same event may arrive more than once.
pub const EVENT_ID_HEADER: &str = "x-hotline-event-id";

const QUEUE_PREFIX: u8 = crate::keys::WEBHOOK_QUEUE;
const DEAD_LETTER_PREFIX: u8 = crate::keys::WEBHOOK_DEAD_LETTER;
const KEY_LEN: usize = 1 + 2 + 8;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const IDLE_POLL: Duration = Duration::from_secs(1);
const MIN_SECRET_LEN: usize = 16;
const MAX_ATTEMPTS_LIMIT: u32 = 100;
const SIGNATURE_PREFIX: &str = "sha256=";
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

type HmacSha256 = Hmac<Sha256>;
type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A partner tool that receives a webhook for every change to a ticket the site can see.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Names the target in logs and dead letters.
    pub name: String,
    /// Where to POST: `http://host:port/path` on the site's LAN.
    pub url: String,
    /// The shared secret the body is signed with; at least 16 bytes.
    pub secret: String,
    /// Failed attempts after which an event becomes a dead letter: 1 to 100, default 8.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_max_attempts() -> u32 {
    8
}

impl WebhookTarget {
    /// Checks the target; `field` is its dotted config path (e.g. `webhooks[0]`), which errors
    /// extend with the offending field (`webhooks[0].url`).
    pub fn validate(&self, field: &str) -> Result<()> {
        let config = |name: &str, problem: String| Error::Config {
            field: format!("{field}.{name}"),
            problem,
        };
        if self.name.trim().is_empty() {
            return Err(config(
                "name",
                "is empty; it names the target in logs and dead letters".to_owned(),
            ));
        }
        check_url(&self.url).map_err(|problem| config("url", problem))?;
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(config(
                "secret",
                format!(
                    "is {} bytes long; at least {MIN_SECRET_LEN} bytes are required",
                    self.secret.len()
                ),
            ));
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(config(
                "max_attempts",
                format!(
                    "is {}; allowed: 1 to {MAX_ATTEMPTS_LIMIT}",
                    self.max_attempts
                ),
            ));
        }
        Ok(())
    }
}

/// Accepts exactly `http://host:port/path`; the problem otherwise.
fn check_url(url: &str) -> std::result::Result<(), String> {
    const FORM: &str = "expected http://host:port/path";
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL ({e}); {FORM}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}` uses https, which is not supported yet: partner tools run on the site's \
                 LAN, so use plain http ({FORM})"
            ));
        }
        Some(other) => return Err(format!("scheme `{other}` is not supported; {FORM}")),
        None => return Err(format!("`{url}` has no scheme; {FORM}")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("`{url}` has no host; {FORM}"));
    };
    if authority.as_str().contains('@') {
        // Not echoed: the URL holds credentials.
        return Err(format!(
            "credentials in the URL are not supported (requests are signed instead); {FORM}"
        ));
    }
    if authority.host().is_empty() {
        return Err(format!("`{url}` has no host; {FORM}"));
    }
    match authority.port_u16() {
        None => Err(format!("`{url}` has no port; {FORM}")),
        Some(0) => Err(format!("`{url}` has port 0; {FORM}")),
        Some(_) => Ok(()),
    }
}

/// Signs `body` with `secret`: the full [`SIGNATURE_HEADER`] value, `sha256=<lowercase hex>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let tag = keyed_mac(secret, body).finalize().into_bytes();
    let mut value = String::with_capacity(SIGNATURE_PREFIX.len() + 2 * tag.len());
    value.push_str(SIGNATURE_PREFIX);
    for byte in tag {
        value.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
        value.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
    }
    value
}

/// Whether `header`, a [`SIGNATURE_HEADER`] value, signs exactly `body` under `secret`; the tag
/// is compared in constant time. For partner tools checking what they receive.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix(SIGNATURE_PREFIX) else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    keyed_mac(secret, body).verify_slice(&tag).is_ok()
}

fn keyed_mac(secret: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let pairs = hex.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| Some((hex_value(pair[0])? << 4) | hex_value(pair[1])?))
        .collect()
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// The key/value pairs that queue `body` as event `event_id` for every target, in the order the
/// [`Deliverer`] was given them. Put them in the same sled batch as the change they describe,
/// then call `notify_one()` on [`Deliverer::notifier`]. Targets past index 65535 get no entry.
pub fn queue_writes(
    targets: &[WebhookTarget],
    event_id: u64,
    body: &[u8],
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let value = QueueEntry {
        attempts: 0,
        next_attempt_ms: 0,
        last_error: String::new(),
        body: body.to_vec(),
    }
    .encode();
    (0..=u16::MAX)
        .zip(targets)
        .map(|(index, _)| (entry_key(QUEUE_PREFIX, index, event_id), value.clone()))
        .collect()
}

/// An event that a target did not accept within its `max_attempts`; kept for the operator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WebhookDeadLetter {
    /// The target's name.
    pub target: String,
    /// The event id, as sent in [`EVENT_ID_HEADER`].
    pub event_id: u64,
    /// Failed attempts made.
    pub attempts: u32,
    /// Why the last attempt failed (e.g. `partner answered HTTP 500 Internal Server Error`).
    pub last_error: String,
    /// When the event was given up, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The body that was sent; a JSON string if it was not JSON.
    pub body: serde_json::Value,
}

/// All dead letters, ordered by target (its index in the configuration), then event id.
pub fn dead_letters(db: &sled::Db) -> Result<Vec<WebhookDeadLetter>> {
    db.scan_prefix([DEAD_LETTER_PREFIX])
        .map(|item| {
            let (key, value) = item?;
            serde_json::from_slice(&value)
                .map_err(|e| Error::Corrupt(format!("webhook dead letter {}: {e}", show_key(&key))))
        })
        .collect()
}

/// How many deliveries are queued, over all targets.
pub fn pending(db: &sled::Db) -> Result<usize> {
    let mut count = 0;
    for key in db.scan_prefix([QUEUE_PREFIX]).keys() {
        key?;
        count += 1;
    }
    Ok(count)
}

/// Sends queued webhooks: one task per target, each in event-id order, so a failing target
/// delays only its own events.
pub struct Deliverer {
    db: sled::Db,
    targets: Vec<WebhookTarget>,
    backoff: Backoff,
    notify: Arc<Notify>,
}

impl Deliverer {
    /// A deliverer for `targets`, in the order given to [`queue_writes`]. After a failure it waits
    /// `backoff_min`, doubling per further failure up to `backoff_max`, with jitter.
    pub fn new(
        db: sled::Db,
        targets: Vec<WebhookTarget>,
        backoff_min: Duration,
        backoff_max: Duration,
    ) -> Self {
        Self {
            db,
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
            db,
            targets,
            backoff,
            notify,
        } = self;
        warn_unconfigured(&db, targets.len());
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let mut tasks = JoinSet::new();
        let mut wakers = Vec::with_capacity(targets.len());
        for (index, target) in (0..=u16::MAX).zip(targets) {
            let wake = Arc::new(Notify::new());
            wakers.push(Arc::clone(&wake));
            let span = tracing::info_span!("webhook", target = %target.name);
            let queue = TargetQueue {
                db: db.clone(),
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
fn warn_unconfigured(db: &sled::Db, configured: usize) {
    let Ok(first) = u16::try_from(configured) else {
        return;
    };
    let start = [&[QUEUE_PREFIX][..], &first.to_be_bytes()].concat();
    let end = vec![QUEUE_PREFIX + 1];
    let entries = db.range(start..end).count();
    if entries > 0 {
        tracing::warn!(
            entries,
            configured,
            "webhook entries are queued for targets that are no longer configured; they stay queued"
        );
    }
}

/// One target's queue and the task that drains it.
struct TargetQueue {
    db: sled::Db,
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
            let head = match self.head() {
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
            if let Err(error) = self.record(head, outcome) {
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
    fn head(&self) -> Result<Option<Head>> {
        let prefix = [&[QUEUE_PREFIX][..], &self.index.to_be_bytes()].concat();
        loop {
            let Some((key, value)) = self.db.scan_prefix(&prefix).next().transpose()? else {
                return Ok(None);
            };
            let Some(event_id) = event_id_of(&key) else {
                tracing::error!(key = %show_key(&key), "removing a malformed webhook queue key");
                self.db.remove(&key)?;
                continue;
            };
            match QueueEntry::decode(&value) {
                Ok(entry) => {
                    return Ok(Some(Head {
                        key,
                        event_id,
                        entry,
                    }));
                }
                Err(problem) => {
                    let error = format!("corrupt queue entry: {problem}");
                    self.bury(&key, event_id, 0, error, &value)?;
                }
            }
        }
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
    fn record(&self, head: Head, outcome: std::result::Result<(), String>) -> Result<()> {
        let Head {
            key,
            event_id,
            mut entry,
        } = head;
        let attempts = entry.attempts.saturating_add(1);
        match outcome {
            Ok(()) => {
                self.db.remove(&key)?;
                tracing::info!(event_id, attempts, "webhook delivered");
            }
            Err(error) if attempts >= self.target.max_attempts => {
                tracing::warn!(event_id, attempts, %error, "webhook given up; moved to dead letters");
                self.bury(&key, event_id, attempts, error, &entry.body)?;
            }
            Err(error) => {
                let jitter = RandomState::new().hash_one((self.index, event_id, attempts));
                let delay = self.backoff.delay(attempts, jitter);
                let retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(event_id, attempts, %error, retry_in_ms, "webhook delivery failed");
                entry.attempts = attempts;
                entry.next_attempt_ms = now_ms().saturating_add(retry_in_ms);
                entry.last_error = error;
                self.db.insert(&key, entry.encode())?;
            }
        }
        Ok(())
    }

    /// Replaces the queue entry at `key` by a dead letter, atomically.
    fn bury(
        &self,
        key: &[u8],
        event_id: u64,
        attempts: u32,
        error: String,
        body: &[u8],
    ) -> Result<()> {
        let letter = WebhookDeadLetter {
            target: self.target.name.clone(),
            event_id,
            attempts,
            last_error: error,
            at_ms: now_ms(),
            body: body_json(body),
        };
        let value = serde_json::to_vec(&letter)
            .map_err(|e| Error::Storage(format!("cannot encode a webhook dead letter: {e}")))?;
        let mut batch = sled::Batch::default();
        batch.remove(key);
        batch.insert(entry_key(DEAD_LETTER_PREFIX, self.index, event_id), value);
        self.db.apply_batch(batch)?;
        Ok(())
    }
}

/// The oldest queued entry of a target.
struct Head {
    key: sled::IVec,
    event_id: u64,
    entry: QueueEntry,
}

/// A pending delivery as stored under a `w` key: a version byte, attempts (u32 BE), next attempt
/// time in ms since the epoch (u64 BE), the last error's length (u32 BE) and UTF-8, then the body.
#[derive(Debug, PartialEq)]
struct QueueEntry {
    attempts: u32,
    next_attempt_ms: u64,
    last_error: String,
    body: Vec<u8>,
}

impl QueueEntry {
    const VERSION: u8 = 1;
    const HEADER_LEN: usize = 1 + 4 + 8 + 4;

    fn encode(&self) -> Vec<u8> {
        let error = self.last_error.as_bytes();
        let error_len = u32::try_from(error.len()).unwrap_or(u32::MAX);
        let error = &error[..error_len as usize];
        let mut value = Vec::with_capacity(Self::HEADER_LEN + error.len() + self.body.len());
        value.push(Self::VERSION);
        value.extend_from_slice(&self.attempts.to_be_bytes());
        value.extend_from_slice(&self.next_attempt_ms.to_be_bytes());
        value.extend_from_slice(&error_len.to_be_bytes());
        value.extend_from_slice(error);
        value.extend_from_slice(&self.body);
        value
    }

    fn decode(value: &[u8]) -> std::result::Result<Self, String> {
        let Some((&version, rest)) = value.split_first() else {
            return Err("empty".to_owned());
        };
        if version != Self::VERSION {
            return Err(format!(
                "unknown version {version}; known: {}",
                Self::VERSION
            ));
        }
        let too_short = || format!("{} bytes is too short", value.len());
        let (attempts, rest) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
        let (next_attempt_ms, rest) = rest.split_first_chunk::<8>().ok_or_else(too_short)?;
        let (error_len, rest) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
        let error_len = u32::from_be_bytes(*error_len) as usize;
        if rest.len() < error_len {
            return Err(too_short());
        }
        let (error, body) = rest.split_at(error_len);
        let last_error = String::from_utf8(error.to_vec())
            .map_err(|_| "the last error is not UTF-8".to_owned())?;
        Ok(Self {
            attempts: u32::from_be_bytes(*attempts),
            next_attempt_ms: u64::from_be_bytes(*next_attempt_ms),
            last_error,
            body: body.to_vec(),
        })
    }
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

fn entry_key(prefix: u8, index: u16, event_id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(KEY_LEN);
    key.push(prefix);
    key.extend_from_slice(&index.to_be_bytes());
    key.extend_from_slice(&event_id.to_be_bytes());
    key
}

fn event_id_of(key: &[u8]) -> Option<u64> {
    if key.len() != KEY_LEN {
        return None;
    }
    key[3..].try_into().ok().map(u64::from_be_bytes)
}

/// Checks a stored `w` (queued delivery) or `y` (dead letter) record, for the store check at
/// start and for `recover`, which keeps the records that pass.
pub fn check_stored(key: &[u8], value: &[u8]) -> std::result::Result<(), String> {
    let what = if key.first() == Some(&QUEUE_PREFIX) {
        "webhook delivery"
    } else {
        "webhook dead letter"
    };
    let event_id = stored_event_id(key)
        .ok_or_else(|| format!("{what} with malformed key {}", show_key(key)))?;
    let checked = match key.first() {
        Some(&QUEUE_PREFIX) => QueueEntry::decode(value).map(drop),
        Some(&DEAD_LETTER_PREFIX) => serde_json::from_slice::<WebhookDeadLetter>(value)
            .map(drop)
            .map_err(|e| e.to_string()),
        _ => Err("not a webhook record".to_owned()),
    };
    checked.map_err(|e| format!("{what} {event_id}: {e}"))
}

/// The event id in a `w` or `y` key, `None` when the key is malformed.
pub fn stored_event_id(key: &[u8]) -> Option<u64> {
    event_id_of(key)
}

fn show_key(key: &[u8]) -> String {
    key.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The body as JSON, or as a JSON string if it is not JSON.
fn body_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
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

use hotline_runtime::clock::now_ms;

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

    /// A queue entry survives encoding, and truncated or foreign values are refused.
    #[test]
    fn queue_entry_round_trips() {
        let entry = QueueEntry {
            attempts: 3,
            next_attempt_ms: 1_700_000_000_000,
            last_error: "partner answered HTTP 503".to_owned(),
            body: br#"{"ticket":"T-1"}"#.to_vec(),
        };
        let value = entry.encode();
        assert_eq!(QueueEntry::decode(&value), Ok(entry));
        assert!(QueueEntry::decode(&value[..10]).is_err());
        assert!(QueueEntry::decode(b"{\"json\":1}").is_err());
        assert!(QueueEntry::decode(b"").is_err());
    }

    /// Signatures are lowercase hex that verify, and malformed headers are refused.
    #[test]
    fn signature_format() {
        let header = sign("0123456789abcdef", b"{}");
        let hex = header.strip_prefix("sha256=").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(verify(
            "0123456789abcdef",
            b"{}",
            &header.to_uppercase().replace("SHA256", "sha256")
        ));
        assert!(!verify(
            "0123456789abcdef",
            b"{}",
            &header[..header.len() - 1]
        ));
        assert!(!verify("0123456789abcdef", b"{}", hex));
        assert!(!verify("0123456789abcdef", b"{}", "sha256=zz"));
    }

    /// Only plain `http://host:port/path` URLs pass.
    #[test]
    fn url_forms() {
        assert!(check_url("http://10.0.0.5:8080/hooks/hotline").is_ok());
        assert!(check_url("http://tool.lan:80").is_ok());
        for bad in [
            "https://tool.lan:443/h",
            "ftp://tool.lan:21/h",
            "http://tool.lan/h",
            "http://user:pw@tool.lan:80/h",
            "/h",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad} was accepted");
        }
    }
}
