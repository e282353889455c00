//! Webhook delivery against a real HTTP partner tool on 127.0.0.1 and the webhook queue of a
//! temporary store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hotline_adapter::error::Error;
use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::{Mapping, MappingConfig};
use hotline_adapter::replica::{Replica, WebhookQueue};
use hotline_adapter::sync::now_ms;
use hotline_adapter::webhooks::{
    Deliverer, SIGNATURE_HEADER, WebhookTarget, dead_letters, pending, verify,
};
use hotline_federation::clock::DEFAULT_MAX_SKEW_MS;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::{Change, FieldOp};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "a-partner-secret-of-32-bytes-len";
const DEADLINE: Duration = Duration::from_secs(10);

/// One request as the partner tool saw it.
#[derive(Clone, Debug)]
struct Received {
    event_id: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
}

/// A partner tool that records requests and answers from a script, then `fallback`.
struct Partner {
    script: Mutex<VecDeque<u16>>,
    fallback: AtomicU16,
    received: Mutex<Vec<Received>>,
}

impl Partner {
    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn event_ids(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.event_id).collect()
    }
}

async fn hook(State(partner): State<Arc<Partner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    partner.received.lock().unwrap().push(Received {
        event_id: header("x-hotline-event-id"),
        signature: header(SIGNATURE_HEADER),
        content_type: header("content-type"),
        body: body.to_vec(),
    });
    let scripted = partner.script.lock().unwrap().pop_front();
    let status = scripted.unwrap_or_else(|| partner.fallback.load(Ordering::SeqCst));
    StatusCode::from_u16(status).unwrap()
}

/// Starts a partner tool on 127.0.0.1:0; it answers `script` in order, then `fallback`.
async fn start_partner(script: &[u16], fallback: u16) -> (Arc<Partner>, String) {
    let partner = Arc::new(Partner {
        script: Mutex::new(script.iter().copied().collect()),
        fallback: AtomicU16::new(fallback),
        received: Mutex::new(Vec::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/hotline", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/hooks/hotline", post(hook))
        .with_state(Arc::clone(&partner));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (partner, url)
}

fn target(name: &str, url: &str, max_attempts: u32) -> WebhookTarget {
    WebhookTarget {
        name: name.to_owned(),
        url: url.to_owned(),
        secret: SECRET.to_owned(),
        max_attempts,
    }
}

/// Queues an event for every target in one atomic write, as a change's step does.
fn queue(queue: &WebhookQueue, targets: &[WebhookTarget], event_id: u64, body: &[u8]) {
    queue.enqueue(targets.len(), event_id, body).unwrap();
}

/// A running deliverer over a temporary store.
struct Site {
    _dir: tempfile::TempDir,
    _replica: Replica,
    queue: WebhookQueue,
    notify: Arc<Notify>,
    shutdown: CancellationToken,
    run: JoinHandle<()>,
}

impl Site {
    fn open() -> (tempfile::TempDir, Replica) {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(
            &dir.path().join("store"),
            "dortmund",
            "twenty4help",
            DEFAULT_MAX_SKEW_MS,
        )
        .unwrap();
        (dir, replica)
    }

    fn start(dir: tempfile::TempDir, replica: Replica, targets: Vec<WebhookTarget>) -> Site {
        let queue = replica.webhook_queue();
        let deliverer = Deliverer::new(
            queue.clone(),
            targets,
            Duration::from_millis(10),
            Duration::from_millis(50),
        );
        let notify = deliverer.notifier();
        let shutdown = CancellationToken::new();
        let run = tokio::spawn(deliverer.run(shutdown.clone()));
        Site {
            _dir: dir,
            _replica: replica,
            queue,
            notify,
            shutdown,
            run,
        }
    }

    /// Cancels the deliverer and checks that it stops promptly.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.run)
            .await
            .expect("the deliverer stops promptly on shutdown")
            .unwrap();
    }
}

/// Polls `check` until it returns `Some`, failing after [`DEADLINE`].
async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A queued event reaches the partner once, verifiably signed, and leaves the queue: the basic promise to partner tools.
#[tokio::test]
async fn queued_event_is_delivered_once_and_signed() {
    let (partner, url) = start_partner(&[], 200).await;
    let targets = vec![target("crm", &url, 8)];
    let (dir, replica) = Site::open();
    let body = br#"{"ticket":"T-1","change":"status","status":"in_progress"}"#;
    queue(&replica.webhook_queue(), &targets, 42, body);
    assert_eq!(pending(&replica.webhook_queue()).unwrap(), 1);
    let site = Site::start(dir, replica, targets.clone());

    let first = eventually("the first delivery", || partner.received().first().cloned()).await;
    assert_eq!(first.event_id, "42");
    assert_eq!(first.content_type, "application/json");
    assert_eq!(first.body, body);
    assert!(
        verify(SECRET, &first.body, &first.signature),
        "{}",
        first.signature
    );
    assert!(!verify(SECRET, br#"{"ticket":"T-2"}"#, &first.signature));
    assert!(!verify(
        "another-secret-of-enough-length",
        body,
        &first.signature
    ));

    // A later event is the barrier: once it arrives, event 42 is not sent again (FIFO).
    queue(
        &site.queue,
        &targets,
        43,
        br#"{"ticket":"T-1","change":"comment"}"#,
    );
    site.notify.notify_one();
    eventually("the queue to drain", || {
        (pending(&site.queue).unwrap() == 0 && partner.received().len() >= 2).then_some(())
    })
    .await;
    assert_eq!(partner.event_ids(), ["42", "43"]);
    assert!(dead_letters(&site.queue).unwrap().is_empty());
    site.stop().await;
}

/// A partner that fails twice then recovers gets the event on the third attempt: transient outages lose nothing.
#[tokio::test]
async fn failed_attempts_are_retried_with_backoff() {
    let (partner, url) = start_partner(&[500, 500], 200).await;
    let targets = vec![target("crm", &url, 8)];
    let (dir, replica) = Site::open();
    queue(
        &replica.webhook_queue(),
        &targets,
        7,
        br#"{"ticket":"T-7"}"#,
    );
    let site = Site::start(dir, replica, targets);

    eventually("the retried delivery", || {
        (pending(&site.queue).unwrap() == 0).then_some(())
    })
    .await;
    assert_eq!(partner.event_ids(), ["7", "7", "7"]);
    for request in partner.received() {
        assert!(verify(SECRET, &request.body, &request.signature));
    }
    assert!(dead_letters(&site.queue).unwrap().is_empty());
    site.stop().await;
}

/// An event the partner refuses max_attempts times becomes a dead letter and later events still flow: one poison event cannot stall a partner forever.
#[tokio::test]
async fn exhausted_event_becomes_dead_letter_and_queue_moves_on() {
    let (partner, url) = start_partner(&[], 500).await;
    let targets = vec![target("crm", &url, 3)];
    let (dir, replica) = Site::open();
    queue(
        &replica.webhook_queue(),
        &targets,
        1,
        br#"{"ticket":"T-1"}"#,
    );
    let site = Site::start(dir, replica, targets.clone());

    let letters = eventually("the dead letter", || {
        Some(dead_letters(&site.queue).unwrap()).filter(|letters| !letters.is_empty())
    })
    .await;
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.target, "crm");
    assert_eq!(letter.event_id, 1);
    assert_eq!(letter.attempts, 3);
    assert!(letter.last_error.contains("500"), "{}", letter.last_error);
    assert_eq!(letter.body, serde_json::json!({"ticket": "T-1"}));
    assert_eq!(pending(&site.queue).unwrap(), 0);
    assert_eq!(partner.event_ids(), ["1", "1", "1"]);

    partner.fallback.store(200, Ordering::SeqCst);
    queue(&site.queue, &targets, 2, b"not json");
    site.notify.notify_one();
    eventually("the next event after recovery", || {
        (pending(&site.queue).unwrap() == 0).then_some(())
    })
    .await;
    assert_eq!(partner.event_ids(), ["1", "1", "1", "2"]);
    assert_eq!(dead_letters(&site.queue).unwrap().len(), 1);
    site.stop().await;
}

/// A target that keeps failing does not delay another target's events: partners are independent.
#[tokio::test]
async fn failing_target_does_not_block_others() {
    let (broken, broken_url) = start_partner(&[], 503).await;
    let (healthy, healthy_url) = start_partner(&[], 200).await;
    let targets = vec![
        target("broken", &broken_url, 100),
        target("healthy", &healthy_url, 8),
    ];
    let (dir, replica) = Site::open();
    for id in 1..=3 {
        queue(
            &replica.webhook_queue(),
            &targets,
            id,
            format!(r#"{{"ticket":"T-{id}"}}"#).as_bytes(),
        );
    }
    let site = Site::start(dir, replica, targets);

    eventually("the healthy target's deliveries", || {
        (healthy.received().len() >= 3).then_some(())
    })
    .await;
    assert_eq!(healthy.event_ids(), ["1", "2", "3"]);
    assert!(broken.event_ids().iter().all(|id| id == "1"));
    // The healthy target has received its third event a moment before the site removes it
    // from the queue; the broken target's three stay queued.
    eventually("the healthy target's queue drained", || {
        (pending(&site.queue).unwrap() == 3).then_some(())
    })
    .await;
    site.stop().await;
}

/// A ticket change queues its event for every target in the step that stores it, each change
/// under the next event id, and the tools receive them in order: no change without its event.
#[tokio::test]
async fn a_change_queues_its_event_for_every_target() {
    let (partner, url) = start_partner(&[], 200).await;
    let targets = vec![target("crm", &url, 8), target("acd", &url, 8)];
    let (dir, replica) = Site::open();
    let mapping = Mapping::new(&MappingConfig::default()).unwrap();
    let events = TicketEvents::new(targets.clone(), mapping, "dortmund".into(), Arc::default());
    let key = EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001");
    for subject in ["VPN down", "VPN down again"] {
        replica
            .local_change(&key, now_ms(), &events, |seq, hlc, _, _| {
                Ok(Change {
                    key: key.clone(),
                    ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
                        subject.into(),
                    )))],
                    origin_site: "dortmund".into(),
                    origin_seq: seq,
                    hlc,
                })
            })
            .unwrap();
    }
    assert_eq!(pending(&replica.webhook_queue()).unwrap(), 4);
    let site = Site::start(dir, replica, targets);

    eventually("both events at both targets", || {
        (partner.received().len() >= 4).then_some(())
    })
    .await;
    let mut ids: Vec<u64> = partner
        .event_ids()
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert_eq!(ids[2], ids[0] + 1, "{ids:?}");
    for request in partner.received() {
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["event"], "ticket.changed");
        assert_eq!(body["number"], "ASZ-2026-000001");
    }
    site.stop().await;
}

/// Config validation refuses https and short secrets and names the field: operators must see what to fix.
#[test]
fn validate_refuses_https_and_short_secret() {
    let good = target("crm", "http://10.0.0.5:8080/hooks/hotline", 8);
    good.validate("webhooks[1]").unwrap();

    let https = target("crm", "https://10.0.0.5:8443/hooks/hotline", 8);
    match https.validate("webhooks[1]") {
        Err(Error::Config { field, problem }) => {
            assert_eq!(field, "webhooks[1].url");
            assert!(problem.contains("https"), "{problem}");
        }
        other => panic!("https accepted or wrong error: {other:?}"),
    }

    let short = WebhookTarget {
        secret: "too-short".to_owned(),
        ..good.clone()
    };
    match short.validate("webhooks[1]") {
        Err(Error::Config { field, problem }) => {
            assert_eq!(field, "webhooks[1].secret");
            assert!(problem.contains("16"), "{problem}");
        }
        other => panic!("short secret accepted or wrong error: {other:?}"),
    }

    let parsed: WebhookTarget = serde_json::from_value(serde_json::json!({
        "name": "crm", "url": "http://10.0.0.5:8080/h", "secret": SECRET,
    }))
    .unwrap();
    assert_eq!(parsed.max_attempts, 8);
    let zero = WebhookTarget {
        max_attempts: 0,
        ..parsed
    };
    assert!(matches!(
        zero.validate("webhooks[1]"),
        Err(Error::Config { field, .. }) if field == "webhooks[1].max_attempts"
    ));
}
