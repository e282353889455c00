//! Pushing the outbox in order, and replacing refused local copies by the gateway's.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hotline_federation::EntityState;
use hotline_federation::authority::{Refusal, Rule};
use hotline_federation::model::EntityKey;
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tonic::transport::Channel;

use super::{SyncContext, now_ms, on_store, retry_after, status_error};
use crate::error::{Error, Result};
use crate::replica::Fetched;

/// How long an entity that had to wait for the gateway's copy waits before the next try.
const REFRESH_RETRY: Duration = Duration::from_secs(1);

/// Pushes the outbox in order; acknowledged entries leave it, refused ones are parked.
pub(super) async fn pusher(
    ctx: &SyncContext,
    mut client: FederationClient<Channel>,
    inline: bool,
) -> Result<()> {
    let mut refresh_after = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= refresh_after {
            // Refreshing never holds up pushing: an entity that must wait, or a gateway that
            // cannot answer, is tried again a little later.
            match refresh_stale(ctx, &mut client, inline).await {
                Ok(true) => {}
                Ok(false) => refresh_after = tokio::time::Instant::now() + REFRESH_RETRY,
                Err(error) => {
                    tracing::warn!(%error, "cannot replace refused local copies with the gateway's yet; pushing on");
                    refresh_after = tokio::time::Instant::now() + REFRESH_RETRY * 5;
                }
            }
        }
        let notified = ctx.outbox.notified();
        let size = ctx.config.sync.push_batch;
        let batch = on_store(ctx, inline, move |r| r.outbox(size)).await?;
        if batch.is_empty() {
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        // A change's files go first: the gateway takes a comment only with its files.
        for change in &batch {
            for op in &change.ops {
                if let hotline_federation::FieldOp::AddComment(comment) = op {
                    for file in &comment.attachments {
                        ctx.files.upload(&mut client, file).await?;
                    }
                }
            }
        }
        let request = pb::PushRequest {
            changes: batch.iter().cloned().map(Into::into).collect(),
        };
        let response = match client.push(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                // The whole batch was refused as malformed; park the change it names (our own
                // validation should have stopped it) so the rest can go.
                let index = status
                    .metadata()
                    .get("invalid-change-index")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|i| i.parse::<usize>().ok());
                let Some(change) = index.and_then(|i| batch.get(i)) else {
                    return Err(status_error("push", status));
                };
                let refusal = Refusal::new(Rule::WellFormed, status.message());
                let refused = vec![(change.clone(), refusal.to_wire())];
                on_store(ctx, inline, move |r| r.settle(&[], &refused, now_ms())).await?;
                continue;
            }
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                // Over the tenant's quota: wait as advised, keep the session.
                let advised = retry_after(&status)
                    .unwrap_or(Duration::from_secs(1))
                    .min(Duration::from_secs(10));
                tracing::info!(
                    retry_in_ms = advised.as_millis() as u64,
                    "push over the tenant's quota; waiting"
                );
                tokio::time::sleep(advised).await;
                continue;
            }
            Err(status) => return Err(status_error("push", status)),
        };
        let mut accepted = Vec::new();
        let mut refused = Vec::new();
        let mut receipts = Vec::new();
        let checkpoint = response.checkpoint;
        for (change, result) in batch.iter().zip(response.results) {
            match result.outcome {
                Some(pb::change_result::Outcome::Accepted(a)) => {
                    // The gateway's receipt: kept as evidence; a gateway without the audit
                    // trail sends none.
                    if let (true, Ok(hash)) = (
                        a.audit_seq > 0,
                        <[u8; 32]>::try_from(a.audit_hash.as_slice()),
                    ) {
                        let receipt = hotline_federation::audit::Receipt {
                            seq: a.audit_seq,
                            hash,
                        };
                        receipts.push((change.origin_seq, receipt));
                    }
                    if a.duplicate {
                        ctx.status.duplicates.fetch_add(1, Ordering::SeqCst);
                    }
                    accepted.push((change.clone(), a.duplicate));
                }
                Some(pb::change_result::Outcome::Rejected(r)) => {
                    tracing::warn!(origin_seq = change.origin_seq, rule = %r.rule, message = %r.message, "change refused; parked");
                    refused.push((change.clone(), r));
                }
                None => return Err(Error::Gateway("push result without outcome".into())),
            }
        }
        let pushed = accepted.len() as u64;
        let duplicates = accepted.iter().filter(|(_, duplicate)| *duplicate).count() as u64;
        let refused_count = refused.len() as u64;
        on_store(ctx, inline, move |r| {
            r.settle(&accepted, &refused, now_ms())?;
            r.keep_receipts(&receipts, checkpoint.as_ref())
        })
        .await?;
        ctx.status.pushed.fetch_add(pushed, Ordering::SeqCst);
        ctx.metrics.changes_pushed.inc_by(pushed - duplicates);
        ctx.metrics.changes_duplicate.inc_by(duplicates);
        ctx.metrics.changes_refused.inc_by(refused_count);
    }
}

/// Replaces the local copies of entities a refused change was applied to (or a duplicate
/// acknowledged for) by the gateway's, with the site's unpushed changes on top. `Ok(false)`
/// when some entity has to wait: a log entry the answer may miss touched it meanwhile.
async fn refresh_stale(
    ctx: &SyncContext,
    client: &mut FederationClient<Channel>,
    inline: bool,
) -> Result<bool> {
    loop {
        let size = ctx.config.sync.push_batch;
        let keys = on_store(ctx, inline, move |r| r.stale_entities(size)).await?;
        if keys.is_empty() {
            return Ok(true);
        }
        let response = client
            .fetch(pb::FetchRequest {
                keys: keys.iter().cloned().map(Into::into).collect(),
            })
            .await
            .map_err(|s| status_error("fetch", s))?
            .into_inner();
        let asked: BTreeSet<&EntityKey> = keys.iter().collect();
        let mut answer = Fetched {
            as_of: response.as_of,
            ..Fetched::default()
        };
        for state in response.states {
            let state = EntityState::try_from(state)?;
            if asked.contains(&state.key) {
                answer.states.push(state);
            }
        }
        for key in response.absent {
            let key = EntityKey::try_from(key)?;
            if asked.contains(&key) {
                answer.absent.push(key);
            }
        }
        // Entities the gateway deferred to keep its answer within one message stay stale and
        // are asked for again in the next round.
        let deferred_by_gateway = response
            .deferred
            .into_iter()
            .map(EntityKey::try_from)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let answered: BTreeSet<&EntityKey> = answer
            .states
            .iter()
            .map(|s| &s.key)
            .chain(&answer.absent)
            .chain(&deferred_by_gateway)
            .collect();
        if let Some(missing) = keys.iter().find(|k| !answered.contains(k)) {
            return Err(Error::Gateway(format!(
                "fetch answer names neither a state nor absence for {}/{}",
                missing.kind.as_str(),
                missing.id
            )));
        }
        let events = ctx.events.clone();
        let deferred =
            on_store(ctx, inline, move |r| r.refresh(&answer, &events, now_ms())).await?;
        ctx.events.notify.notify_one();
        tracing::info!(
            entities = keys.len() - deferred.len(),
            "replaced refused local copies with the gateway's"
        );
        if !deferred.is_empty() {
            return Ok(false);
        }
    }
}
