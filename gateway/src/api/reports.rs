//! `hotline.v1.Reports`: service figures. Staff certificates (admin, auditor) read every
//! tenant's figures; a site certificate reads only its own tenant's: rows of other tenants
//! never appear, and asking for another tenant is `PERMISSION_DENIED`.

use std::sync::Arc;

use hotline_federation::wire::query_from_wire;
use hotline_proto::v1 as pb;
use pb::reports_server::Reports;
use tonic::{Request, Response, Status};

use crate::api::quoted;
use crate::error::Error;
use crate::figures::service_figures;
use crate::identity::{Identity, identity_of};
use crate::state::GatewayState;

/// What one report costs a site of its tenant's read quota, in entities: a report scans every
/// ticket, so a partner tool can poll its figures (about 30 a second at the default quota) but
/// cannot turn the gateway into its batch job.
const REPORT_COST: usize = 64;

/// The Reports service.
#[derive(Debug, Clone)]
pub struct ReportsApi {
    state: Arc<GatewayState>,
}

impl ReportsApi {
    /// A service over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        ReportsApi { state }
    }
}

#[tonic::async_trait]
impl Reports for ReportsApi {
    #[tracing::instrument(skip_all)]
    async fn service_level(
        &self,
        request: Request<pb::ServiceLevelRequest>,
    ) -> Result<Response<pb::ServiceLevelResponse>, Status> {
        let identity = identity_of(&request, &self.state.config.federation)?;
        let mut query = query_from_wire(request.into_inner()).map_err(Error::from)?;
        if let Identity::Site { tenant, site } = identity {
            match &query.tenant {
                Some(asked) if *asked != tenant => {
                    return Err(Error::PermissionDenied(format!(
                        "site {site} of tenant {tenant} reads its own tenant's figures only, not \
                         those of {}",
                        quoted(asked)
                    ))
                    .into());
                }
                _ => query.tenant = Some(tenant.clone()),
            }
            crate::api::take_read_quota(
                &self.state,
                &tenant,
                REPORT_COST,
                "a service-level report",
            )?;
        }
        let state = self.state.clone();
        let rows = tokio::task::spawn_blocking(move || service_figures(&state, &query))
            .await
            .map_err(|e| Error::Unavailable(format!("figures task failed: {e}")))??;
        Ok(Response::new(pb::ServiceLevelResponse {
            rows: rows.into_iter().map(Into::into).collect(),
        }))
    }
}
