//! The wake-up of a store several gateways share: a listening connection per gateway.

use std::sync::Arc;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

use super::link::Link;
use super::{Namespace, POLL_INTERVAL, failure, storage};
use crate::error::Result;

/// Wakes `others` when another gateway's group is durable: on its notification, and when a
/// read of the write generation every [`POLL_INTERVAL`] finds one newer than `seen`. Runs
/// until the store's runtime stops, connecting again after any failure.
pub(super) async fn listen(
    link: Arc<Link>,
    namespace: Namespace,
    others: watch::Sender<u64>,
    seen: Arc<parking_lot::Mutex<Option<i64>>>,
) {
    loop {
        if let Err(error) = listen_once(&link, &namespace, &others, &seen).await {
            tracing::warn!(%error, "PostgreSQL listener ended; connecting again");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn listen_once(
    link: &Link,
    namespace: &Namespace,
    others: &watch::Sender<u64>,
    seen: &parking_lot::Mutex<Option<i64>>,
) -> Result<()> {
    let (client, mut messages) = link
        .connect()
        .await
        .map_err(|e| failure("connect the listener", e))?;
    let (notified, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(n) = message {
                if notified.send(n.payload().parse::<i64>().ok()).is_err() {
                    break;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN {}", namespace.channel()))
        .await
        .map_err(|e| failure("listen", e))?;
    let statement = client
        .prepare("SELECT n FROM hotline_flush WHERE id = 2")
        .await
        .map_err(|e| failure("prepare a statement", e))?;
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    loop {
        let generation = tokio::select! {
            notification = notifications.recv() => match notification {
                Some(Some(generation)) => generation,
                Some(None) => continue,
                None => return Err(storage("listen", "the connection ended")),
            },
            _ = poll.tick() => client
                .query_one(&statement, &[])
                .await
                .map_err(|e| failure("read the write generation", e))?
                .get::<_, i64>(0),
        };
        // Any other generation than this gateway's (one lost in a server's crash included).
        let other = *seen.lock() != Some(generation);
        if other {
            others.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}
