//! Telling the gateway how this site's side of the sync stands (`Federation.Report`): outbox
//! depth, parked dead letters, cursor, clock and retention purges, every `sync.report_interval_ms`, for the
//! staff dashboard's sync health. A refused or failed report is logged and never ends the
//! session: pushing and receiving matter more.

use std::time::Duration;

use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::{SyncContext, now_ms, on_store};
use crate::error::Result;

/// Reports to the gateway at the configured interval, the first time at once.
pub(super) async fn reporter(
    ctx: &SyncContext,
    mut client: FederationClient<Channel>,
    inline: bool,
) -> Result<()> {
    let every = Duration::from_millis(ctx.config.sync.report_interval_ms);
    // Dead letters erased as the gateway asked, confirmed with the next report.
    let mut erased = Vec::new();
    loop {
        let (cursor, outbox_depth, dead_letters, (retention_purged, _)) =
            on_store(ctx, inline, |r| {
                Ok((
                    r.cursor()?,
                    r.outbox_depth() as u64,
                    r.parked()?.len() as u64,
                    r.retention_purges()?,
                ))
            })
            .await?;
        let report = pb::SiteReport {
            outbox_depth,
            dead_letters,
            cursor,
            site_now_ms: now_ms(),
            retention_purged,
            erased_dead_letters: erased.clone(),
        };
        match client.report(report).await {
            Ok(answer) => {
                let asked = answer.into_inner().erase_dead_letters;
                erased = if asked.is_empty() {
                    Vec::new()
                } else {
                    tracing::info!(
                        letters = asked.len(),
                        "erasing dead letters an erasure rewrote at the gateway"
                    );
                    // A failure is logged and asked again with the next report; reporting never
                    // ends the session.
                    match on_store(ctx, inline, move |r| r.erase_parked(&asked, now_ms())).await {
                        Ok(done) => done,
                        Err(error) => {
                            tracing::error!(%error, "cannot erase the dead letters the gateway named; trying again with the next report");
                            Vec::new()
                        }
                    }
                };
            }
            Err(status) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "the gateway took no sync report; trying again later");
            }
        }
        tokio::time::sleep(every).await;
    }
}
