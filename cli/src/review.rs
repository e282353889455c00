//! `hotline review`: the gateway's review reports from the command line, with a staff
//! certificate from a `hotline pki` directory: list them, show one (Markdown or HTML), score a
//! sampled ticket, produce an ended period's report now.

use hotline_proto::v1 as pb;
use pb::reviews_client::ReviewsClient;

use crate::admin::{channel, refused};

/// What `hotline review` does.
#[derive(Debug, clap::Subcommand)]
pub enum ReviewAction {
    /// Lists review reports, newest period first.
    List {
        /// Only this focus team.
        #[arg(long)]
        team: Option<String>,
        /// Only this period, e.g. 2026-W27, 2026-W27-W28 or 2026-07.
        #[arg(long)]
        period: Option<String>,
    },
    /// Prints one report with its scores (Markdown unless --html).
    Show {
        /// Report id, e.g. finance-hr.2026-W27.
        id: String,
        /// Print the HTML page instead.
        #[arg(long)]
        html: bool,
    },
    /// Scores a sampled ticket of a report (admin certificate).
    Score {
        /// Report id.
        id: String,
        /// The sampled ticket's public number.
        #[arg(long)]
        ticket: String,
        /// One criterion's points, `id=0|1|2` (0 no, 1 partly, 2 yes); repeat for every
        /// criterion of the scorecard.
        #[arg(long = "criterion", value_name = "ID=POINTS")]
        criteria: Vec<String>,
        /// An optional remark.
        #[arg(long)]
        note: Option<String>,
    },
    /// Produces the report of an ended period now, unless it exists (admin certificate).
    Generate {
        /// Focus team.
        #[arg(long)]
        team: String,
        /// Period label of the team's cadence.
        #[arg(long)]
        period: String,
    },
}

/// Reads `id=points` arguments; a malformed one is refused with the expected form.
pub fn parse_criteria(args: &[String]) -> anyhow::Result<Vec<pb::CriterionScore>> {
    args.iter()
        .map(|arg| {
            let (id, points) = arg.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--criterion {arg:?} must look like ID=POINTS, e.g. solution_correct=2")
            })?;
            let points: u32 = points.trim().parse().map_err(|_| {
                anyhow::anyhow!(
                    "--criterion {arg:?}: {points:?} is not a number of points; allowed: 0 (no), 1 (partly), 2 (yes)"
                )
            })?;
            Ok(pb::CriterionScore {
                criterion: id.trim().to_owned(),
                points,
            })
        })
        .collect()
}

fn date(ms: u64) -> String {
    hotline_federation::calendar::iso_date(ms)
}

/// One line per report.
pub fn format_reports(reports: &[pb::ReportSummary]) -> String {
    if reports.is_empty() {
        return "no review reports yet\n".into();
    }
    reports
        .iter()
        .map(|r| {
            format!(
                "{:<32} {:<18} {:<14} {} to {}  scored {}/{}\n",
                r.id,
                r.focus_team,
                r.period,
                date(r.start_ms),
                date(r.end_ms.saturating_sub(1)),
                r.scored,
                r.sampled
            )
        })
        .collect()
}

/// Runs one `hotline review` action as staff member `staff`; answers what to print.
pub async fn run(
    gateway: &str,
    server_name: &str,
    pki: &std::path::Path,
    staff: &str,
    action: ReviewAction,
) -> anyhow::Result<String> {
    let mut client = ReviewsClient::new(channel(gateway, server_name, pki, staff).await?);
    Ok(match action {
        ReviewAction::List { team, period } => {
            let reports = client
                .list(pb::ListReportsRequest {
                    focus_team: team.unwrap_or_default(),
                    period: period.unwrap_or_default(),
                })
                .await
                .map_err(refused)?
                .into_inner()
                .reports;
            format_reports(&reports)
        }
        ReviewAction::Show { id, html } => {
            let format = if html {
                pb::ReportFormat::Html
            } else {
                pb::ReportFormat::Markdown
            };
            client
                .get(pb::GetReportRequest {
                    id,
                    format: format.into(),
                })
                .await
                .map_err(refused)?
                .into_inner()
                .body
        }
        ReviewAction::Score {
            id,
            ticket,
            criteria,
            note,
        } => {
            let criteria = parse_criteria(&criteria)?;
            let answer = client
                .score(pb::ScoreRequest {
                    report_id: id.clone(),
                    ticket: ticket.clone(),
                    criteria,
                    note: note.unwrap_or_default(),
                })
                .await
                .map_err(refused)?
                .into_inner();
            format!(
                "scored {ticket} in {id}; {} sampled tickets still unscored\n",
                answer.unscored
            )
        }
        ReviewAction::Generate { team, period } => {
            let answer = client
                .generate(pb::GenerateReportRequest {
                    focus_team: team,
                    period,
                })
                .await
                .map_err(refused)?
                .into_inner();
            let summary = answer.summary.unwrap_or_default();
            format!(
                "{} {}\n",
                if answer.created {
                    "produced"
                } else {
                    "already there:"
                },
                summary.id
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `id=points` arguments are read; a missing `=` or a word for points is refused with the
    /// expected form, so a typo never sends a half score.
    #[test]
    fn criteria_arguments_are_checked() {
        let ok = parse_criteria(&["solution_correct=2".into(), "brand_voice = 0".into()]).unwrap();
        assert_eq!(ok[1].criterion, "brand_voice");
        assert_eq!(ok[1].points, 0);
        let err = parse_criteria(&["solution_correct".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ID=POINTS"), "{err}");
        let err = parse_criteria(&["solution_correct=yes".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowed: 0 (no)"), "{err}");
    }
}
