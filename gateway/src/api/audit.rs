//! `hotline.v1.Audit`: the trail for staff (admin and auditor read it, page by page, and verify
//! it), and for sites only the latest signed checkpoint and the proof of their own entries.
//! A site certificate asking to read the trail gets `PERMISSION_DENIED`.

use std::sync::Arc;

use hotline_federation::audit::Entry;
use hotline_proto::v1 as pb;
use pb::audit_server::Audit;
use serde_json::Value;
use tonic::{Request, Response, Status};

use crate::audit::{read_entries, verify_store};
use crate::error::Error;
use crate::identity::{Identity, identity_of};
use crate::state::GatewayState;

/// Most entries one List answers.
const MAX_PAGE: u32 = 1000;
/// Most entries one List reads looking for matches, so a filter that matches nothing does not
/// scan the whole trail in one call; the answer's `next_seq` says where to go on.
const MAX_SCAN: usize = 20_000;
/// Most content digests one Prove answers (32 bytes each).
const MAX_PROOF: u64 = 100_000;

/// The Audit service.
#[derive(Debug, Clone)]
pub struct AuditApi {
    state: Arc<GatewayState>,
}

impl AuditApi {
    /// A service over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        AuditApi { state }
    }

    /// The staff member reading, as the trail names them; a site is refused.
    fn staff<T>(&self, request: &Request<T>, what: &str) -> Result<String, Error> {
        match identity_of(request, &self.state.config.federation)? {
            Identity::Staff { role, name } => Ok(format!("staff:{role}:{name}")),
            Identity::Site { site, .. } => Err(Error::PermissionDenied(format!(
                "site {site} presented a site certificate; {what} the audit trail needs a staff \
                 certificate (admin or auditor); a site may only fetch checkpoints and prove its \
                 own entries"
            ))),
        }
    }

    /// Records a staff read through group commit.
    async fn record(&self, actor: String, action: &str, detail: Value) -> Result<(), Status> {
        crate::audit::record(&self.state, actor, action, "audit", detail).await?;
        Ok(())
    }
}

/// Whether an entry matches a List request's filters.
fn matches(entry: &Entry, request: &pb::ListAuditRequest, state: &GatewayState) -> bool {
    let record = &entry.record;
    if !record.subject.starts_with(&request.subject_prefix) {
        return false;
    }
    if !request.actor.is_empty() && record.actor != request.actor {
        return false;
    }
    if request.from_ms != 0 && record.at_ms < request.from_ms {
        return false;
    }
    if request.to_ms != 0 && record.at_ms >= request.to_ms {
        return false;
    }
    if !request.tenant.is_empty() {
        let by_site = record
            .actor
            .strip_prefix("site:")
            .and_then(|site| {
                state
                    .shared
                    .registry()
                    .site_tenant(site)
                    .map(|t| t == request.tenant)
            })
            .unwrap_or(false);
        let named = serde_json::from_str::<Value>(&record.detail_json)
            .ok()
            .and_then(|detail| {
                detail
                    .get("tenant")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .is_some_and(|tenant| tenant == request.tenant);
        if !by_site && !named {
            return false;
        }
    }
    true
}

/// Refuses a time window whose end is not after its start.
pub fn check_window(request: &pb::ListAuditRequest) -> Result<(), Error> {
    if request.to_ms != 0 && request.to_ms <= request.from_ms {
        return Err(Error::InvalidArgument(format!(
            "to_ms ({}) must be after from_ms ({}), or 0 for no bound",
            request.to_ms, request.from_ms
        )));
    }
    Ok(())
}

/// One page of a List read (a synchronous store read, for `spawn_blocking`): from
/// `from_seq` (at least 1), at most `limit` matching entries out of at most [`MAX_SCAN`] read;
/// `next_seq` says where the next page starts (0 at the end). The `Audit` service and the staff
/// dashboard's audit browser both read through this, so they answer the same.
pub fn list_page(
    state: &GatewayState,
    request: &pb::ListAuditRequest,
) -> Result<pb::ListAuditResponse, Error> {
    let from = request.from_seq.max(1);
    let raw = read_entries(state.store.as_ref(), from, MAX_SCAN)?;
    let scanned = raw.len();
    let mut entries = Vec::new();
    let mut next_seq = 0;
    for (at, entry) in raw.into_iter().enumerate() {
        let entry = entry.map_err(|seq| {
            Error::Corrupt(format!(
                "audit entry {seq} does not decode; run Verify to see what is wrong"
            ))
        })?;
        if entries.len() == request.limit as usize {
            next_seq = entry.seq;
            break;
        }
        let seq = entry.seq;
        if matches(&entry, request, state) {
            entries.push(pb::AuditEntry::from(entry));
        }
        if at + 1 == MAX_SCAN && scanned == MAX_SCAN {
            next_seq = seq + 1;
        }
    }
    Ok(pb::ListAuditResponse { entries, next_seq })
}

#[tonic::async_trait]
impl Audit for AuditApi {
    async fn list(
        &self,
        request: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditResponse>, Status> {
        let staff = self.staff(&request, "reading")?;
        let request = request.into_inner();
        if request.limit == 0 || request.limit > MAX_PAGE {
            return Err(Error::InvalidArgument(format!(
                "limit: {} is not allowed; ask for 1 to {MAX_PAGE} entries",
                request.limit
            ))
            .into());
        }
        check_window(&request)?;
        let from = request.from_seq.max(1);
        if from == 1 {
            // The start of a read (a page after it belongs to the same read).
            let detail = serde_json::json!({
                "subject_prefix": request.subject_prefix,
                "tenant": request.tenant,
                "actor": request.actor,
                "from_ms": request.from_ms,
                "to_ms": request.to_ms,
            });
            self.record(staff, "audit.list", detail).await?;
        }
        let state = self.state.clone();
        let page = tokio::task::spawn_blocking(move || list_page(&state, &request))
            .await
            .map_err(|e| Error::Unavailable(format!("reading the trail failed: {e}")))??;
        Ok(Response::new(page))
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyAuditRequest>,
    ) -> Result<Response<pb::VerifyAuditResponse>, Status> {
        let staff = self.staff(&request, "verifying")?;
        let state = self.state.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            verify_store(state.store.as_ref(), &state.audit_key.public)
        })
        .await
        .map_err(|e| Error::Unavailable(format!("verifying the trail failed: {e}")))??;
        let answer = match &verdict.broken {
            None => pb::VerifyAuditResponse {
                intact: true,
                checked: verdict.checked,
                first_broken_seq: 0,
                problem: String::new(),
                kind: String::new(),
            },
            Some(broken) => pb::VerifyAuditResponse {
                intact: false,
                checked: verdict.checked,
                first_broken_seq: broken.seq,
                problem: broken.to_string(),
                kind: broken.problem.name().into(),
            },
        };
        if let Some(broken) = &verdict.broken {
            tracing::error!(%broken, "audit trail verification failed");
        }
        let detail = serde_json::json!({
            "intact": answer.intact,
            "checked": answer.checked,
            "first_broken_seq": answer.first_broken_seq,
        });
        // A broken trail is still appended to: the break stays where it is, and is named.
        self.record(staff, "audit.verify", detail).await?;
        Ok(Response::new(answer))
    }

    async fn checkpoint(
        &self,
        request: Request<pb::CheckpointRequest>,
    ) -> Result<Response<pb::CheckpointResponse>, Status> {
        identity_of(&request, &self.state.config.federation)?;
        let checkpoint = crate::writer::audit::latest_checkpoint(self.state.store.as_ref())?
            .map(pb::AuditCheckpoint::from);
        Ok(Response::new(pb::CheckpointResponse {
            checkpoint,
            public_key: self.state.audit_key.public.to_vec(),
        }))
    }

    async fn prove(
        &self,
        request: Request<pb::ProveRequest>,
    ) -> Result<Response<pb::ProveResponse>, Status> {
        let identity = identity_of(&request, &self.state.config.federation)?;
        let pb::ProveRequest { seq, size } = request.into_inner();
        let head = crate::writer::audit::load_head(self.state.store.as_ref())?;
        if seq == 0 || size < seq || size > head.seq {
            return Err(Error::InvalidArgument(format!(
                "seq {seq} and size {size}: need 1 <= seq <= size <= {} (the trail's size)",
                head.seq
            ))
            .into());
        }
        if size - seq > MAX_PROOF {
            return Err(Error::InvalidArgument(format!(
                "a proof spans at most {MAX_PROOF} entries; entry {seq} to {size} spans {}; \
                 prove against an earlier checkpoint",
                size - seq
            ))
            .into());
        }
        let denied = || {
            Status::from(Error::PermissionDenied(format!(
                "entry {seq} is not one of your site's entries; a site may prove only its own"
            )))
        };
        if let Identity::Site { tenant, .. } = &identity {
            // One unit per hundred entries read.
            let cost = 1 + ((size - seq) / 100) as usize;
            crate::api::take_read_quota(&self.state, tenant, cost, "a proof")?;
        }
        let state = self.state.clone();
        let entries = tokio::task::spawn_blocking(move || {
            read_entries(state.store.as_ref(), seq, (size - seq + 1) as usize)
        })
        .await
        .map_err(|e| Error::Unavailable(format!("reading the trail failed: {e}")))??;
        let mut entries = entries.into_iter();
        let first = match entries.next() {
            Some(Ok(entry)) if entry.seq == seq => entry,
            _ => {
                return Err(Error::FailedPrecondition(format!(
                    "audit entry {seq} is missing or damaged; staff can run Verify"
                ))
                .into());
            }
        };
        if let Identity::Site { site, .. } = &identity {
            if first.record.actor != format!("site:{site}") {
                // Whether a foreign entry exists is not told.
                return Err(denied());
            }
        }
        let mut digests = Vec::with_capacity((size - seq) as usize);
        for (expected, entry) in (seq + 1..=size).zip(entries) {
            match entry {
                Ok(entry) if entry.seq == expected => {
                    digests.push(entry.content_digest().to_vec());
                }
                _ => {
                    return Err(Error::FailedPrecondition(format!(
                        "audit entry {expected} is missing or damaged; staff can run Verify"
                    ))
                    .into());
                }
            }
        }
        if digests.len() as u64 != size - seq {
            return Err(Error::FailedPrecondition(format!(
                "the trail holds fewer entries than {size}; staff can run Verify"
            ))
            .into());
        }
        Ok(Response::new(pb::ProveResponse { digests }))
    }
}
