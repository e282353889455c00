//! `hotline.v1.Federation`: Push, Subscribe and Lease for partner and in-house sites.

use std::collections::BTreeSet;
use std::sync::Arc;

use hotline_federation::Change;
use hotline_federation::model::EntityKey;
use hotline_federation::visibility::redact;
use hotline_proto::v1 as pb;
use pb::federation_server::Federation;
use prost::Message;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::api::quoted;
use crate::error::Error;
use crate::identity::{Identity, identity_of, vouched_identity_of};
use crate::quota::Holding;
use crate::state::GatewayState;
use crate::subscribe::{self, Subscription};
use crate::writer::Outcome;
use hotline_federation::authority::Caller;

/// The response metadata key that names the malformed change of a push refused as a whole
/// (`INVALID_ARGUMENT`): its index in the request, in decimal.
pub const INVALID_CHANGE_INDEX: &str = "invalid-change-index";

/// The Federation service.
#[derive(Debug, Clone)]
pub struct FederationApi {
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
    /// Whether a [`crate::identity::Vouched`] connection identity counts (only for services
    /// built by [`crate::server::serve_incoming`]).
    vouched: bool,
}

impl FederationApi {
    /// A service over `state`; subscriptions end when `shutdown` is cancelled. Callers are
    /// identified by their client certificate only.
    pub fn new(state: Arc<GatewayState>, shutdown: CancellationToken) -> Self {
        FederationApi {
            state,
            shutdown,
            vouched: false,
        }
    }

    /// Like [`FederationApi::new`], but a caller without a client certificate is identified by
    /// the [`crate::identity::Vouched`] identity its connection carries.
    pub(crate) fn with_vouched_identities(
        state: Arc<GatewayState>,
        shutdown: CancellationToken,
    ) -> Self {
        FederationApi {
            state,
            shutdown,
            vouched: true,
        }
    }

    /// The calling site, from its certificate (or vouched identity); refuses staff and
    /// unregistered sites.
    fn caller<T>(&self, request: &Request<T>) -> Result<(String, String), Error> {
        let federation = &self.state.config.federation;
        let identity = if self.vouched {
            vouched_identity_of(request, federation)?
        } else {
            identity_of(request, federation)?
        };
        match identity {
            Identity::Site { tenant, site } => {
                match self.state.shared.registry().site_tenant(&site) {
                    Some(registered) if registered == tenant => Ok((tenant, site)),
                    Some(registered) => Err(Error::PermissionDenied(format!(
                        "site {site:?} is registered for tenant {registered:?}, but the certificate says {tenant:?}"
                    ))),
                    None => Err(Error::PermissionDenied(format!(
                        "site {site:?} is not registered with this gateway; ask the in-house team to add it"
                    ))),
                }
            }
            Identity::Staff { .. } => Err(Error::PermissionDenied(
                "staff certificates cannot sync; the Federation service is for sites".into(),
            )),
        }
    }
}

impl FederationApi {
    /// Notes for the sync health that registered `site` called just now.
    fn seen(&self, site: &str) {
        let now = self.state.now_ms();
        self.state
            .sites
            .seen(&self.state.shared.registry(), site, now);
    }
}

/// How long a tenant at its subscription limit is advised to wait before it tries again, ms.
const SUBSCRIBE_RETRY_MS: u128 = 1_000;

/// A quota's wait in whole milliseconds, rounded up (at least 1), so a client that waits as
/// advised finds its tokens there.
pub(crate) fn wait_ms(wait: std::time::Duration) -> u128 {
    wait.as_micros().div_ceil(1000).max(1)
}

/// `RESOURCE_EXHAUSTED` with `message` and the advice to retry in `wait_ms` (metadata
/// `retry-after-ms`, which clients read instead of parsing the message).
pub(crate) fn exhausted(message: String, wait_ms: u128) -> Status {
    let mut status: Status = Error::ResourceExhausted(message).into();
    if let Ok(value) = wait_ms.to_string().parse() {
        status.metadata_mut().insert("retry-after-ms", value);
    }
    status
}

/// A writer outcome as the wire's `ChangeResult`.
pub fn result_to_wire(origin_seq: u64, outcome: Outcome) -> pb::ChangeResult {
    receipted_to_wire(origin_seq, outcome, None)
}

/// A writer outcome as the wire's `ChangeResult`, with the receipt of an accepted change.
pub fn receipted_to_wire(
    origin_seq: u64,
    outcome: Outcome,
    receipt: Option<hotline_federation::audit::Receipt>,
) -> pb::ChangeResult {
    use pb::change_result::Outcome as W;
    let outcome = match outcome {
        Outcome::Accepted {
            global_seq,
            duplicate,
        } => W::Accepted(pb::Accepted {
            global_seq,
            duplicate,
            audit_seq: receipt.map_or(0, |r| r.seq),
            audit_hash: receipt.map_or_else(Vec::new, |r| r.hash.to_vec()),
        }),
        Outcome::Rejected(refusal) => W::Rejected(refusal.to_wire()),
    };
    pb::ChangeResult {
        origin_seq,
        outcome: Some(outcome),
    }
}

#[tonic::async_trait]
impl Federation for FederationApi {
    #[tracing::instrument(skip_all, fields(tenant, site, changes))]
    async fn push(
        &self,
        request: Request<pb::PushRequest>,
    ) -> Result<Response<pb::PushResponse>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str());
        let limits = &self.state.config.limits;
        let size = request.get_ref().encoded_len();
        if size > limits.max_push_bytes {
            self.state.shared.metrics.count_push_refused("too_large");
            return Err(Error::InvalidArgument(format!(
                "push of {size} bytes is larger than the limit of {} bytes; send smaller batches",
                limits.max_push_bytes
            ))
            .into());
        }
        let pb::PushRequest { changes } = request.into_inner();
        span.record("changes", changes.len());
        if changes.is_empty() || changes.len() > limits.max_push_changes {
            self.state.shared.metrics.count_push_refused("batch_size");
            return Err(Error::InvalidArgument(format!(
                "a push holds 1 to {} changes, this one holds {}",
                limits.max_push_changes,
                changes.len()
            ))
            .into());
        }
        let changes = changes
            .into_iter()
            .enumerate()
            .map(|(i, wire)| {
                Change::try_from(wire).map_err(|e| {
                    let mut status: Status = Error::InvalidArgument(format!(
                        "changes[{i}]: {e}; nothing of this push was stored"
                    ))
                    .into();
                    // The index as a field of its own, so no client parses the message.
                    if let Ok(value) = i.to_string().parse() {
                        status.metadata_mut().insert(INVALID_CHANGE_INDEX, value);
                    }
                    status
                })
            })
            .collect::<Result<Vec<_>, Status>>()
            .inspect_err(|_| {
                self.state
                    .shared
                    .metrics
                    .count_push_refused("invalid_change")
            })?;
        if let Err(wait) = self.state.quotas.take(&tenant, changes.len()) {
            self.state.shared.metrics.count_push_refused("quota");
            let wait_ms = wait_ms(wait);
            return Err(exhausted(
                format!(
                    "tenant {tenant} pushes above its quota of {} changes/s; retry in {wait_ms} ms \
                     (nothing of this push was stored)",
                    self.state.quotas.rate()
                ),
                wait_ms,
            ));
        }
        self.seen(&site);
        let seqs: Vec<u64> = changes.iter().map(|c| c.origin_seq).collect();
        let outcomes = self
            .state
            .writer
            .push_with_receipts(Caller::Site { tenant, site }, changes)
            .await?;
        self.state
            .shared
            .metrics
            .count_push(outcomes.iter().map(|(outcome, _)| outcome));
        let results = seqs
            .into_iter()
            .zip(outcomes)
            .map(|(seq, (o, receipt))| receipted_to_wire(seq, o, receipt))
            .collect();
        let checkpoint = self
            .state
            .shared
            .checkpoint()
            .map(pb::AuditCheckpoint::from);
        Ok(Response::new(pb::PushResponse {
            results,
            checkpoint,
        }))
    }

    type SubscribeStream = Holding<Subscription>;

    #[tracing::instrument(skip_all, fields(tenant, site, cursor))]
    async fn subscribe(
        &self,
        request: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let pb::SubscribeRequest { cursor } = request.into_inner();
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str())
            .record("cursor", cursor);
        let Some(slot) = self.state.subscriptions.acquire(&tenant) else {
            return Err(exhausted(
                format!(
                    "tenant {tenant} holds {} open subscriptions, its limit; close one (each \
                     site needs one) or retry in {SUBSCRIBE_RETRY_MS} ms",
                    self.state.subscriptions.limit()
                ),
                SUBSCRIBE_RETRY_MS,
            ));
        };
        self.seen(&site);
        let stream = subscribe::start(
            self.state.clone(),
            tenant,
            site,
            cursor,
            self.shutdown.child_token(),
        );
        Ok(Response::new(Holding::new(stream, slot)))
    }

    #[tracing::instrument(skip_all, fields(tenant, site, count))]
    async fn lease(
        &self,
        request: Request<pb::LeaseRequest>,
    ) -> Result<Response<pb::LeaseResponse>, Status> {
        let (_tenant, site) = self.caller(&request)?;
        let pb::LeaseRequest { count } = request.into_inner();
        let max = self.state.config.limits.max_lease;
        if count == 0 || count > max {
            return Err(Error::InvalidArgument(format!(
                "count {count} is out of range; allowed: 1 to {max}"
            ))
            .into());
        }
        let grant = self.state.writer.lease(site, count).await?;
        self.state.shared.metrics.count_lease(grant.count);
        Ok(Response::new(pb::LeaseResponse {
            block: Some(pb::LeaseBlock {
                prefix: grant.prefix,
                year: grant.year,
                first: grant.first,
                count: grant.count,
            }),
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, site, keys))]
    async fn fetch(
        &self,
        request: Request<pb::FetchRequest>,
    ) -> Result<Response<pb::FetchResponse>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let pb::FetchRequest { keys: wire } = request.into_inner();
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str())
            .record("keys", wire.len());
        let max = self.state.config.limits.max_push_changes;
        if wire.is_empty() || wire.len() > max {
            return Err(Error::InvalidArgument(format!(
                "a fetch names 1 to {max} entities, this one names {}",
                wire.len()
            ))
            .into());
        }
        if let Err(wait) = self.state.fetch_quotas.take(&tenant, wire.len()) {
            let wait_ms = wait_ms(wait);
            return Err(exhausted(
                format!(
                    "tenant {tenant} fetches above its quota of {} entities/s; retry in {wait_ms} ms",
                    self.state.fetch_quotas.rate()
                ),
                wait_ms,
            ));
        }
        let mut asked = Vec::with_capacity(wire.len());
        let mut seen = BTreeSet::new();
        for (i, key) in wire.into_iter().enumerate() {
            let key = EntityKey::try_from(key)
                .map_err(|e| Error::InvalidArgument(format!("keys[{i}]: {e}")))?;
            if !seen.insert(key.clone()) {
                return Err(Error::InvalidArgument(format!(
                    "keys[{i}]: {}/{} is named twice; name each entity once",
                    key.kind.as_str(),
                    quoted(&key.id)
                ))
                .into());
            }
            asked.push(key);
        }
        // The states are judged by the rules they were written by (`writer::rules`): read
        // again if a group that changes the rules or erases was written meanwhile.
        let budget = self.state.config.limits.max_message_bytes / 2;
        let state = &self.state;
        let ((as_of, states, absent, deferred), _, _) = state
            .shared
            .read_under_rules(|directory| {
                // The head is read before the states: every entry up to it is in them (later
                // ones may be too, which a site joins again harmlessly).
                let as_of = state.head();
                // The answer stays within one message: once the states fill half the limit,
                // the rest are deferred (the site asks for them again). One entity always fits
                // (its bounds keep it below the smallest allowed limit).
                let (mut states, mut absent, mut deferred) = (Vec::new(), Vec::new(), Vec::new());
                let mut size = 0;
                for key in &asked {
                    if size >= budget {
                        deferred.push(pb::EntityKey::from(key.clone()));
                        continue;
                    }
                    let entity = state.entity(key)?;
                    match redact(&tenant, &entity, directory).filter(|_| !entity.is_empty()) {
                        Some(view) => {
                            let view = pb::EntityState::from(view);
                            size += view.encoded_len();
                            states.push(view);
                        }
                        None => absent.push(pb::EntityKey::from(key.clone())),
                    }
                }
                Ok((as_of, states, absent, deferred))
            })
            .await?;
        Ok(Response::new(pb::FetchResponse {
            as_of,
            states,
            absent,
            deferred,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant, site))]
    async fn file_status(
        &self,
        request: Request<pb::FileStatusRequest>,
    ) -> Result<Response<pb::FileStatusResponse>, Status> {
        let (_, site) = self.caller(&request)?;
        let (state, sha256) = (self.state.clone(), request.into_inner().sha256);
        let (stored, offset) = tokio::task::spawn_blocking(move || {
            crate::files::while_held(&state.shared.files, &sha256, || {
                crate::files::status(state.store.as_ref(), &sha256, &site, state.now_ms())
            })
        })
        .await
        .map_err(|e| Status::internal(format!("file status task: {e}")))??;
        Ok(Response::new(pb::FileStatusResponse { stored, offset }))
    }

    #[tracing::instrument(skip_all, fields(tenant, site))]
    async fn put_file(
        &self,
        request: Request<tonic::Streaming<pb::FilePiece>>,
    ) -> Result<Response<pb::PutFileResponse>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str());
        self.seen(&site);
        let max = self.state.config.limits.max_file_bytes;
        let mut pieces = request.into_inner();
        let mut last: Option<(String, u64, u64)> = None;
        while let Some(piece) = pieces.message().await? {
            if let Some((sha256, _, _)) = &last {
                if *sha256 != piece.sha256 {
                    return Err(Status::invalid_argument(
                        "every piece of one PutFile names the same file; upload another file \
                         with another call",
                    ));
                }
            }
            let (state, site) = (self.state.clone(), site.clone());
            let (sha256, size) = (piece.sha256.clone(), piece.size);
            let received = tokio::task::spawn_blocking(move || {
                crate::files::while_held(&state.shared.files, &piece.sha256, || {
                    crate::files::put_piece(
                        state.store.as_ref(),
                        &site,
                        max,
                        state.now_ms(),
                        &piece,
                    )
                })
            })
            .await
            .map_err(|e| Status::internal(format!("upload task: {e}")))??;
            last = Some((sha256, size, received));
        }
        let Some((sha256, size, received)) = last else {
            return Err(Status::invalid_argument("PutFile needs at least one piece"));
        };
        let state = self.state.clone();
        let stored = received == size
            && tokio::task::spawn_blocking(move || {
                crate::files::while_held(&state.shared.files, &sha256, || {
                    crate::files::finish(state.store.as_ref(), &site, &sha256, state.now_ms())
                })
            })
            .await
            .map_err(|e| Status::internal(format!("upload task: {e}")))??;
        Ok(Response::new(pb::PutFileResponse { stored, received }))
    }

    type GetFileStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::FileChunk, Status>> + Send + 'static>,
    >;

    #[tracing::instrument(skip_all, fields(tenant, site))]
    async fn get_file(
        &self,
        request: Request<pb::GetFileRequest>,
    ) -> Result<Response<Self::GetFileStream>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str());
        let pb::GetFileRequest { sha256, offset } = request.into_inner();
        // Judged by the rules the store was written by: looked up again if a group that
        // changes the rules or erases was written meanwhile (`writer::rules`).
        let rules = &self.state.shared.rules;
        let mut tries = 0..crate::writer::rules::TRIES;
        let readable = loop {
            if tries.next().is_none() {
                return Err(crate::writer::rules::RulesEpoch::kept_changing().into());
            }
            let epoch = rules.stable().await?;
            let directory = self.state.shared.directory();
            let (state, tenant, asked) = (self.state.clone(), tenant.clone(), sha256.clone());
            let found = tokio::task::spawn_blocking(move || {
                crate::files::readable(&state, &tenant, &asked, &directory)
            })
            .await
            .map_err(|e| Status::internal(format!("file lookup task: {e}")))??;
            if rules.holds(epoch) {
                break found;
            }
        };
        let Some((digest, meta)) = readable else {
            return Err(Status::not_found(format!(
                "no file {sha256:?} that your site may read; a file is readable while a comment \
                 your site sees carries it"
            )));
        };
        if offset > meta.size {
            return Err(Status::invalid_argument(format!(
                "offset {offset} is past the end of the file ({} bytes)",
                meta.size
            )));
        }
        let size = meta.size;
        let stream = crate::files::pieces(self.state.clone(), digest, offset, size);
        let stream = futures_util::StreamExt::map(stream, move |piece| match piece {
            Ok((offset, data)) => Ok(pb::FileChunk { size, offset, data }),
            Err(Error::Unavailable(message)) => Err(Status::not_found(message)),
            Err(error) => Err(error.into()),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(tenant, site))]
    async fn report(
        &self,
        request: Request<pb::SiteReport>,
    ) -> Result<Response<pb::SiteReportResponse>, Status> {
        let (tenant, site) = self.caller(&request)?;
        let span = tracing::Span::current();
        span.record("tenant", tenant.as_str())
            .record("site", site.as_str());
        let mut wire = request.into_inner();
        let erased = std::mem::take(&mut wire.erased_dead_letters);
        let report = crate::health::SiteReport::try_from(wire)?;
        let now = self.state.now_ms();
        self.state
            .sites
            .report(&self.state.shared.registry(), &site, report, now);
        let state = self.state.clone();
        let erase_dead_letters = tokio::task::spawn_blocking(move || {
            crate::erasure::letters_to_erase(state.store.as_ref(), &site, &erased)
        })
        .await
        .map_err(|e| Status::internal(format!("report task: {e}")))??;
        Ok(Response::new(pb::SiteReportResponse {
            gateway_now_ms: now,
            erase_dead_letters,
        }))
    }
}
