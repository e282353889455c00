//! Keeping enough leased ticket numbers for offline work.

use std::time::Duration;

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::{SyncContext, on_store, retry_after, status_error};
use crate::error::{Error, Result};

/// First and longest wait before asking again for ticket numbers the gateway refused.
const LEASE_RETRY: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// Keeps enough ticket numbers for offline work. A refused lease (the site holds as many unused
/// numbers as the gateway allows, or the gateway cannot grant now) never ends the session:
/// pushing and receiving go on, the refusal is logged and shown in the sync status, and the
/// lease is asked for again after a growing pause (or the gateway's advice).
pub(super) async fn leaser(
    ctx: &SyncContext,
    mut client: FederationClient<Channel>,
    inline: bool,
) -> Result<()> {
    let mut pause = LEASE_RETRY.0;
    loop {
        let left = on_store(ctx, inline, |r| r.numbers_left()).await?;
        if left < u64::from(ctx.config.sync.lease_low_water) {
            let request = pb::LeaseRequest {
                count: ctx.config.sync.lease_size,
            };
            match client.lease(request).await {
                Ok(response) => {
                    let block = response
                        .into_inner()
                        .block
                        .ok_or_else(|| Error::Gateway("lease without block".into()))?;
                    tracing::info!(
                        first = block.first,
                        count = block.count,
                        year = block.year,
                        "leased ticket numbers"
                    );
                    on_store(ctx, inline, move |r| r.add_numbers(&block)).await?;
                    *ctx.status.lease_refused.lock() = None;
                    pause = LEASE_RETRY.0;
                    continue;
                }
                Err(status) => {
                    let wait = retry_after(&status).unwrap_or(pause).min(LEASE_RETRY.1);
                    tracing::warn!(
                        code = ?status.code(),
                        message = status.message(),
                        retry_in_ms = wait.as_millis() as u64,
                        "the gateway refused ticket numbers; syncing on, asking again later"
                    );
                    *ctx.status.lease_refused.lock() =
                        Some(status_error("lease", status).to_string());
                    pause = (pause * 2).min(LEASE_RETRY.1);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
