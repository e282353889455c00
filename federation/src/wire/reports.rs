//! Conversions of service figures (`hotline.v1.Reports`) between the wire and
//! [`crate::service`]; the request's text fields are read in [`query_from_wire`].

use hotline_proto::v1 as pb;

use super::{non_empty, required};
use crate::calendar::{Period, PeriodKind};
use crate::error::{Error, Result, quote};
use crate::service::{Backlog, FigureQuery, FigureRow, Figures, GroupBy, Targets};

impl From<Figures> for pb::ServiceFigures {
    fn from(f: Figures) -> Self {
        pb::ServiceFigures {
            offered: f.offered,
            answered: f.answered,
            answered_in_target: f.answered_in_target,
            abandoned: f.abandoned,
            transferred: f.transferred,
            unresolved_calls: f.unresolved_calls,
            answer_wait_seconds: f.answer_wait_seconds,
            handling_seconds: f.handling_seconds,
            resolved: f.resolved,
            resolved_first_contact: f.resolved_first_contact,
            reopened: f.reopened,
            escalations: f.escalations,
            backlog: Some(pb::BacklogFigures {
                under_1d: f.backlog.under_1d,
                d1_to_3d: f.backlog.d1_to_3d,
                d3_to_7d: f.backlog.d3_to_7d,
                over_7d: f.backlog.over_7d,
            }),
            ratings: f.ratings,
            rating_sum: f.rating_sum,
        }
    }
}

impl From<pb::ServiceFigures> for Figures {
    fn from(f: pb::ServiceFigures) -> Self {
        let pb::ServiceFigures {
            offered,
            answered,
            answered_in_target,
            abandoned,
            transferred,
            unresolved_calls,
            answer_wait_seconds,
            handling_seconds,
            resolved,
            resolved_first_contact,
            reopened,
            escalations,
            backlog,
            ratings,
            rating_sum,
        } = f;
        let pb::BacklogFigures {
            under_1d,
            d1_to_3d,
            d3_to_7d,
            over_7d,
        } = backlog.unwrap_or_default();
        Figures {
            offered,
            answered,
            answered_in_target,
            abandoned,
            transferred,
            unresolved_calls,
            answer_wait_seconds,
            handling_seconds,
            resolved,
            resolved_first_contact,
            reopened,
            escalations,
            backlog: Backlog {
                under_1d,
                d1_to_3d,
                d3_to_7d,
                over_7d,
            },
            ratings,
            rating_sum,
        }
    }
}

impl From<FigureRow> for pb::FigureRow {
    fn from(row: FigureRow) -> Self {
        pb::FigureRow {
            group: row.group,
            period: row.period,
            period_start_ms: row.period_start_ms,
            figures: Some(row.figures.into()),
            targets: Some(pb::FigureTargets {
                answer_seconds: row.targets.answer_seconds,
                service_level_percent: row.targets.service_level_percent,
                first_contact_percent: row.targets.first_contact_percent,
            }),
        }
    }
}

impl TryFrom<pb::FigureRow> for FigureRow {
    type Error = Error;

    fn try_from(row: pb::FigureRow) -> Result<Self> {
        let pb::FigureRow {
            group,
            period,
            period_start_ms,
            figures,
            targets,
        } = row;
        let pb::FigureTargets {
            answer_seconds,
            service_level_percent,
            first_contact_percent,
        } = required("row.targets", targets)?;
        Ok(FigureRow {
            group,
            period,
            period_start_ms,
            figures: required("row.figures", figures)?.into(),
            targets: Targets {
                answer_seconds,
                service_level_percent,
                first_contact_percent,
            },
        })
    }
}

impl From<GroupBy> for pb::FigureGrouping {
    fn from(by: GroupBy) -> Self {
        match by {
            GroupBy::Site => pb::FigureGrouping::Site,
            GroupBy::Tenant => pb::FigureGrouping::Tenant,
            GroupBy::FocusTeam => pb::FigureGrouping::FocusTeam,
        }
    }
}

/// The query a `ServiceLevelRequest` asks for; the tenant filter is returned as written (the
/// gateway decides what the caller may read).
pub fn query_from_wire(request: pb::ServiceLevelRequest) -> Result<FigureQuery> {
    let pb::ServiceLevelRequest {
        period,
        by,
        focus_team,
        tenant,
        split,
    } = request;
    let by = match pb::FigureGrouping::try_from(by) {
        Ok(pb::FigureGrouping::Site) => GroupBy::Site,
        Ok(pb::FigureGrouping::Tenant) => GroupBy::Tenant,
        Ok(pb::FigureGrouping::FocusTeam) => GroupBy::FocusTeam,
        Ok(pb::FigureGrouping::Unspecified) | Err(_) => {
            return Err(Error::invalid(
                "by",
                format!("{by} is not a grouping; allowed: site, tenant, focus_team"),
            ));
        }
    };
    let split = match split.as_str() {
        "" => None,
        "hour" => Some(PeriodKind::Hour),
        "day" => Some(PeriodKind::Day),
        other => {
            return Err(Error::invalid(
                "split",
                format!("{} is not known; allowed: hour, day or empty", quote(other)),
            ));
        }
    };
    let focus_team = non_empty(focus_team);
    if let Some(team) = &focus_team {
        crate::ids::check_slug("focus_team", team)?;
    }
    let tenant = non_empty(tenant);
    if let Some(tenant) = &tenant {
        crate::ids::check_slug("tenant", tenant)?;
    }
    let period = Period::parse(&period)?;
    if let Some(kind) = split {
        period.split(kind)?;
    }
    Ok(FigureQuery {
        period,
        split,
        by,
        focus_team,
        tenant,
    })
}
