//! `hotline.v1.Reviews`: review reports and quality scores for in-house staff. Reading needs a
//! staff certificate (admin or auditor); scoring and producing a report need the admin role;
//! site certificates are refused. The work is in [`crate::review`].

use std::collections::BTreeMap;
use std::sync::Arc;

use hotline_federation::review::Score;
use hotline_federation::review::scorecard::MAX_POINTS;
use hotline_proto::v1 as pb;
use pb::reviews_server::Reviews;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::identity::{Identity, StaffRole, identity_of};
use crate::review::{self, ReportFilter, StoredReport};
use crate::state::GatewayState;

/// The Reviews service.
#[derive(Debug, Clone)]
pub struct ReviewsApi {
    state: Arc<GatewayState>,
}

impl ReviewsApi {
    /// A service over `state`.
    pub fn new(state: Arc<GatewayState>) -> Self {
        ReviewsApi { state }
    }

    /// The staff member calling; `admin` asks for the admin role, otherwise auditors pass too.
    fn staff<T>(&self, request: &Request<T>, admin: bool) -> Result<String, Error> {
        match identity_of(request, &self.state.config.federation)? {
            Identity::Staff {
                role: StaffRole::Admin,
                name,
            } => Ok(name),
            Identity::Staff {
                role: StaffRole::Auditor,
                name,
            } if !admin => Ok(name),
            Identity::Staff {
                role: StaffRole::Auditor,
                name,
            } => Err(Error::PermissionDenied(format!(
                "{name} holds the auditor role, which reads review reports only; scoring and \
                 producing reports need an admin certificate"
            ))),
            Identity::Site { site, .. } => Err(Error::PermissionDenied(format!(
                "site {site} presented a site certificate; review reports are for in-house \
                 staff certificates (admin or auditor) only"
            ))),
        }
    }

    /// Runs a synchronous store read off the async runtime.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&GatewayState) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Status> {
        let state = self.state.clone();
        let done = tokio::task::spawn_blocking(move || work(&state))
            .await
            .map_err(|e| Error::Unavailable(format!("review read failed: {e}")))?;
        Ok(done?)
    }
}

/// A stored report as the wire's summary.
pub fn summary(stored: &StoredReport) -> pb::ReportSummary {
    let report = &stored.report;
    pb::ReportSummary {
        id: report.id.clone(),
        focus_team: report.team.clone(),
        period: report.period.label.clone(),
        start_ms: report.period.start_ms,
        end_ms: report.period.end_ms,
        generated_at_ms: report.generated_at_ms,
        sampled: stored.sampled() as u32,
        scored: stored.scored() as u32,
    }
}

fn optional(text: String) -> Option<String> {
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[tonic::async_trait]
impl Reviews for ReviewsApi {
    async fn list(
        &self,
        request: Request<pb::ListReportsRequest>,
    ) -> Result<Response<pb::ListReportsResponse>, Status> {
        self.staff(&request, false)?;
        let pb::ListReportsRequest { focus_team, period } = request.into_inner();
        let filter = ReportFilter {
            team: optional(focus_team),
            period: optional(period),
        };
        let reports = self
            .read(move |state| review::list_reports(state, &filter))
            .await?;
        Ok(Response::new(pb::ListReportsResponse {
            reports: reports.iter().map(summary).collect(),
        }))
    }

    async fn get(
        &self,
        request: Request<pb::GetReportRequest>,
    ) -> Result<Response<pb::GetReportResponse>, Status> {
        self.staff(&request, false)?;
        let pb::GetReportRequest { id, format } = request.into_inner();
        let format = match pb::ReportFormat::try_from(format) {
            Ok(pb::ReportFormat::Html) => pb::ReportFormat::Html,
            Ok(pb::ReportFormat::Markdown | pb::ReportFormat::Unspecified) => {
                pb::ReportFormat::Markdown
            }
            Err(_) => {
                return Err(Error::InvalidArgument(format!(
                    "format {format} is not known; known: 1 (Markdown), 2 (HTML)"
                ))
                .into());
            }
        };
        let stored = self
            .read(move |state| review::require_report(state, &id))
            .await?;
        let body = match format {
            pb::ReportFormat::Html => stored.html(),
            _ => stored.markdown(),
        };
        Ok(Response::new(pb::GetReportResponse {
            summary: Some(summary(&stored)),
            body,
            format: format.into(),
        }))
    }

    async fn score(
        &self,
        request: Request<pb::ScoreRequest>,
    ) -> Result<Response<pb::ScoreResponse>, Status> {
        let by = self.staff(&request, true)?;
        let pb::ScoreRequest {
            report_id,
            ticket,
            criteria,
            note,
        } = request.into_inner();
        let mut points = BTreeMap::new();
        for pb::CriterionScore {
            criterion,
            points: p,
        } in criteria
        {
            let value = u8::try_from(p)
                .ok()
                .filter(|v| *v <= MAX_POINTS)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "criterion {criterion}: {p} points is out of range; allowed: 0 (no), \
                         1 (partly), 2 (yes)"
                    ))
                })?;
            if points.insert(criterion.clone(), value).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "criterion {criterion:?} is scored twice; score each criterion once"
                ))
                .into());
            }
        }
        let score = Score {
            ticket,
            points,
            note: optional(note),
            by: by.clone(),
            at_ms: self.state.now_ms(),
        };
        let actor = format!("staff:{}:{by}", StaffRole::Admin);
        let stored = review::score(&self.state, &report_id, score, actor, "rpc").await?;
        Ok(Response::new(pb::ScoreResponse {
            markdown: stored.markdown(),
            unscored: (stored.sampled() - stored.scored()) as u32,
        }))
    }

    async fn generate(
        &self,
        request: Request<pb::GenerateReportRequest>,
    ) -> Result<Response<pb::GenerateReportResponse>, Status> {
        self.staff(&request, true)?;
        let pb::GenerateReportRequest { focus_team, period } = request.into_inner();
        let (stored, created) = review::generate(&self.state, &focus_team, &period).await?;
        Ok(Response::new(pb::GenerateReportResponse {
            summary: Some(summary(&stored)),
            created,
        }))
    }
}
