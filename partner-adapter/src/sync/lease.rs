//! Keeping enough leased ticket numbers for offline work and for bursts: a lease is twice the
//! numbers used in the last minute (within `sync.lease_size` and `sync.lease_max_size`), the
//! site leases again when fewer than a minute's use are left, and a create that found none left
//! wakes the leaser at once (`SyncStatus::lease_wanted`).

use std::time::Duration;

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::{SyncContext, on_store, retry_after, status_error};
use crate::config::SyncConfig;
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
    // Halved after a refusal (the gateway may bound the site's unused numbers), back to the
    // rate's size after a grant.
    let mut ceiling = ctx.config.sync.lease_max_size;
    loop {
        let left = on_store(ctx, inline, |r| r.numbers_left()).await?;
        let recent = ctx.replica.numbers_used_last_minute();
        let (count, low_water) = lease_plan(&ctx.config.sync, recent, ceiling);
        if left < low_water {
            let request = pb::LeaseRequest { count };
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
                    ctx.status.numbers_added.notify_waiters();
                    *ctx.status.lease_refused.lock() = None;
                    pause = LEASE_RETRY.0;
                    ceiling = ctx.config.sync.lease_max_size;
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
                    ceiling = (count / 2).max(ctx.config.sync.lease_size);
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = ctx.status.lease_wanted.notified() => {}
        }
    }
}

/// How many numbers to ask for and below how many left to ask: twice the numbers used in the
/// last minute (`recent`), at least `lease_size`, at most `ceiling`; lease again when fewer
/// than a minute's use are left (at least `lease_low_water`, at most half the lease).
fn lease_plan(sync: &SyncConfig, recent: u64, ceiling: u32) -> (u32, u64) {
    let wanted = recent.saturating_mul(2).min(u64::from(ceiling));
    let count = u32::try_from(wanted)
        .unwrap_or(ceiling)
        .max(sync.lease_size)
        .min(sync.lease_max_size);
    let low_water = recent
        .min(u64::from(count) / 2)
        .max(u64::from(sync.lease_low_water));
    (count, low_water)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A quiet site leases the configured size, a busy one twice its last minute up to the
    /// ceiling: a burst gets numbers enough without asking past the gateway's bound.
    #[test]
    fn the_lease_follows_the_recent_rate_within_its_bounds() {
        let sync = SyncConfig::default();
        assert_eq!(lease_plan(&sync, 0, 10_000), (500, 100));
        assert_eq!(lease_plan(&sync, 1_500, 10_000), (3_000, 1_500));
        assert_eq!(lease_plan(&sync, 50_000, 10_000), (10_000, 5_000));
        // After a refusal the ceiling is lower, never below lease_size.
        assert_eq!(lease_plan(&sync, 50_000, 2_000), (2_000, 1_000));
        assert_eq!(lease_plan(&sync, 50_000, 100), (500, 250));
    }
}
