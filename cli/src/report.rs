//! `hotline report service-level`: service figures from the gateway's Reports service, as a
//! table (default), CSV or JSON. Staff certificates read every tenant; a site certificate its
//! own tenant's figures.

use std::fmt::Write as _;
use std::path::Path;

use clap::ValueEnum;
use hotline_federation::service::{FigureRow, GroupBy};
use hotline_proto::v1 as pb;
use pb::reports_client::ReportsClient;

use crate::admin::{channel, refused};

/// How rows are grouped.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum By {
    /// One row per site.
    Site,
    /// One row per tenant.
    Tenant,
    /// One row per focus team.
    FocusTeam,
}

/// How the report is printed.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// Comma separated, with a header row.
    Csv,
    /// One JSON array of rows with counts and rates.
    Json,
}

/// What `hotline report service-level` asks for.
#[derive(Clone, Debug, clap::Args)]
pub struct ServiceLevelArgs {
    /// The period (UTC): 2026-07, 2026-W27, 2026-07-14 or 2026-07-14T09.
    #[arg(long)]
    pub period: String,
    /// Rows by site, tenant or focus team.
    #[arg(long, value_enum, default_value = "tenant")]
    pub by: By,
    /// Only this focus team.
    #[arg(long)]
    pub focus_team: Option<String>,
    /// Only this tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// One row per hour or day of the period.
    #[arg(long, value_parser = ["hour", "day"])]
    pub split: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// Asks the gateway and returns the printed report.
pub async fn service_level(
    url: &str,
    server_name: &str,
    pki: &Path,
    name: &str,
    args: ServiceLevelArgs,
) -> anyhow::Result<String> {
    let mut client = ReportsClient::new(channel(url, server_name, pki, name).await?);
    let by = match args.by {
        By::Site => GroupBy::Site,
        By::Tenant => GroupBy::Tenant,
        By::FocusTeam => GroupBy::FocusTeam,
    };
    let rows = client
        .service_level(pb::ServiceLevelRequest {
            period: args.period,
            by: pb::FigureGrouping::from(by) as i32,
            focus_team: args.focus_team.unwrap_or_default(),
            tenant: args.tenant.unwrap_or_default(),
            split: args.split.unwrap_or_default(),
        })
        .await
        .map_err(refused)?
        .into_inner()
        .rows
        .into_iter()
        .map(FigureRow::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(render(&rows, args.format))
}

/// A share as a percentage with one decimal, or `-` without data.
fn percent(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{:.1}", v * 100.0))
}

/// A mean with one decimal, or `-` without data.
fn mean(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

const COLUMNS: [&str; 16] = [
    "group",
    "period",
    "offered",
    "answered",
    "sl_pct",
    "sl_target_pct",
    "asa_s",
    "abandon_pct",
    "aht_s",
    "fcr_pct",
    "fcr_target_pct",
    "reopen_pct",
    "escalations",
    "backlog",
    "csat",
    "ratings",
];

fn cells(row: &FigureRow) -> [String; 16] {
    let f = &row.figures;
    [
        row.group.clone(),
        row.period.clone(),
        f.offered.to_string(),
        f.answered.to_string(),
        percent(f.service_level()),
        row.targets.service_level_percent.to_string(),
        mean(f.average_speed_of_answer()),
        percent(f.abandonment_rate()),
        mean(f.average_handling_time()),
        percent(f.first_contact_resolution()),
        row.targets.first_contact_percent.to_string(),
        percent(f.reopen_rate()),
        f.escalations.to_string(),
        f.backlog.total().to_string(),
        mean(f.satisfaction()),
        f.ratings.to_string(),
    ]
}

/// The rows in `format`.
pub fn render(rows: &[FigureRow], format: Format) -> String {
    match format {
        Format::Table => {
            let all: Vec<[String; 16]> = rows.iter().map(cells).collect();
            let mut widths = COLUMNS.map(str::len);
            for row in &all {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.len());
                }
            }
            let mut out = String::new();
            let line = |out: &mut String, row: &[String]| {
                let text: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .enumerate()
                    .map(|(i, (c, w))| {
                        if i < 2 {
                            format!("{c:<w$}")
                        } else {
                            format!("{c:>w$}")
                        }
                    })
                    .collect();
                let _ = writeln!(out, "{}", text.join("  ").trim_end());
            };
            line(&mut out, &COLUMNS.map(str::to_owned));
            for row in &all {
                line(&mut out, row);
            }
            if rows.is_empty() {
                out.push_str("(no calls or tickets in this period)\n");
            }
            out
        }
        Format::Csv => {
            let mut out = COLUMNS.join(",") + "\n";
            for row in rows {
                let quoted: Vec<String> = cells(row)
                    .iter()
                    .map(|c| {
                        if c.contains([',', '"']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                out.push_str(&quoted.join(","));
                out.push('\n');
            }
            out
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|row| {
                    let f = &row.figures;
                    serde_json::json!({
                        "group": row.group,
                        "period": row.period,
                        "period_start_ms": row.period_start_ms,
                        "counts": f,
                        "targets": row.targets,
                        "service_level": f.service_level(),
                        "average_speed_of_answer_s": f.average_speed_of_answer(),
                        "abandonment_rate": f.abandonment_rate(),
                        "average_handling_time_s": f.average_handling_time(),
                        "first_contact_resolution": f.first_contact_resolution(),
                        "reopen_rate": f.reopen_rate(),
                        "satisfaction": f.satisfaction(),
                    })
                })
                .collect();
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use hotline_federation::service::{Figures, Targets};

    use super::*;

    fn row() -> FigureRow {
        FigureRow {
            group: "twenty4help".into(),
            period_start_ms: 1_782_864_000_000,
            period: "2026-07".into(),
            figures: Figures {
                offered: 200,
                answered: 180,
                answered_in_target: 150,
                abandoned: 20,
                answer_wait_seconds: 3_600,
                handling_seconds: 54_000,
                resolved: 40,
                resolved_first_contact: 30,
                reopened: 2,
                ratings: 4,
                rating_sum: 18,
                ..Figures::default()
            },
            targets: Targets::default(),
        }
    }

    /// The table shows the rates as percentages and means next to their targets, and CSV keeps
    /// the same columns, so the README's sample and a spreadsheet read the same numbers.
    #[test]
    fn table_and_csv_show_rates() {
        let table = render(&[row()], Format::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("group"), "{table}");
        assert!(
            lines[1].contains("75.0") && lines[1].contains("20.0"),
            "{table}"
        );
        assert!(
            lines[1].contains("300.0") && lines[1].contains("4.5"),
            "{table}"
        );
        let csv = render(&[row()], Format::Csv);
        assert_eq!(
            csv.lines().nth(1),
            Some("twenty4help,2026-07,200,180,75.0,80,20.0,10.0,300.0,75.0,75,5.0,0,0,4.5,4")
        );
        let json: serde_json::Value =
            serde_json::from_str(&render(&[row()], Format::Json)).unwrap();
        assert_eq!(json[0]["service_level"], 0.75);
        println!("{table}");
    }
}
