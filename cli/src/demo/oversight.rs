//! What staff see of the demo's day on the gateway: service level and first-contact resolution
//! per partner and focus team against the team's targets, one review report per focus team
//! written to files, a dashboard sign-in link, and the audit trail verified against a freshly
//! signed checkpoint. Everything is read from the running gateway's own state, as its Reports,
//! Reviews and Audit services and its Admin service's `MintDashboardLink` do.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hotline_federation::calendar::{Period, PeriodKind};
use hotline_federation::review::{self, render};
use hotline_federation::service::{FigureQuery, FigureRow, Figures, GroupBy, Targets};
use hotline_gateway::identity::StaffRole;
use hotline_gateway::state::GatewayState;

use super::federation::{Federation, SITES};

/// The staff member the demo's dashboard link signs in (its certificate is in the demo PKI).
pub const DASHBOARD_STAFF: &str = "demo-admin";

/// One row of the figures table: a tenant's calls and tickets in one focus team.
#[derive(Clone, Debug)]
pub struct TeamFigures {
    /// The tenant (partner or in-house).
    pub tenant: String,
    /// The focus team.
    pub team: String,
    /// The counts over the simulated day.
    pub figures: Figures,
    /// The team's targets.
    pub targets: Targets,
}

impl TeamFigures {
    /// True when the service level or the first-contact resolution is below its target.
    pub fn below_target(&self) -> bool {
        let below =
            |rate: Option<f64>, target: u32| rate.is_some_and(|r| r * 100.0 < target as f64);
        below(
            self.figures.service_level(),
            self.targets.service_level_percent,
        ) || below(
            self.figures.first_contact_resolution(),
            self.targets.first_contact_percent,
        )
    }
}

/// One focus team's review report, written as Markdown and HTML.
#[derive(Clone, Debug)]
pub struct ReviewFiles {
    /// The focus team's name.
    pub team_name: String,
    /// The period's label, e.g. `2026-W48`.
    pub period: String,
    /// The Markdown file.
    pub markdown: PathBuf,
    /// The HTML file.
    pub html: PathBuf,
}

/// The audit trail's verdict at the end of the day.
#[derive(Clone, Debug)]
pub struct AuditCheck {
    /// Entries verified.
    pub checked: u64,
    /// The first break, `None` when the trail is intact.
    pub broken: Option<String>,
    /// Entries the latest signed checkpoint covers.
    pub checkpoint_size: u64,
    /// The hash of its last entry, hex (first 16 digits).
    pub checkpoint_head: String,
    /// The gateway's public key, hex (first 16 digits).
    pub public_key: String,
}

/// What the gateway shows of the day.
#[derive(Clone, Debug)]
pub struct Oversight {
    /// Figures per tenant and focus team.
    pub figures: Vec<TeamFigures>,
    /// Review reports, one per focus team.
    pub reviews: Vec<ReviewFiles>,
    /// The dashboard sign-in link.
    pub dashboard: String,
    /// The audit verdict.
    pub audit: AuditCheck,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads figures, writes the review reports under `dir/reviews`, mints the dashboard link and
/// verifies the audit trail; the day ran from `day_start_ms` until now.
pub async fn gather(fed: &Federation, dir: &Path, day_start_ms: u64) -> anyhow::Result<Oversight> {
    let state = fed.gateway.clone();
    let now = state.now_ms();
    let figures = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || day_figures(&state, day_start_ms, now)).await??
    };
    let reviews = write_reviews(&state, &dir.join("reviews"), now).await?;
    let dashboard = dashboard_link(&state)?;
    let audit = verify_audit(&state).await?;
    Ok(Oversight {
        figures,
        reviews,
        dashboard,
        audit,
    })
}

/// The figures of every tenant's focus teams over the UTC days the simulated day touches,
/// merged per (tenant, team): the same numbers `hotline report service-level` reads.
fn day_figures(
    state: &GatewayState,
    day_start_ms: u64,
    now: u64,
) -> anyhow::Result<Vec<TeamFigures>> {
    let first = Period::containing(PeriodKind::Day, day_start_ms);
    let last = Period::containing(PeriodKind::Day, now);
    let days = if first == last {
        vec![first]
    } else {
        vec![first, last]
    };
    let mut tenants: Vec<&str> = SITES.iter().map(|(_, tenant, _)| *tenant).collect();
    tenants.dedup();
    let mut merged: BTreeMap<(usize, String), TeamFigures> = BTreeMap::new();
    for (order, tenant) in tenants.iter().enumerate() {
        for day in &days {
            let query = FigureQuery {
                period: *day,
                split: None,
                by: GroupBy::FocusTeam,
                focus_team: None,
                tenant: Some((*tenant).to_owned()),
            };
            let rows: Vec<FigureRow> = hotline_gateway::figures::service_figures(state, &query)?;
            for row in rows {
                merged
                    .entry((order, row.group.clone()))
                    .and_modify(|f| f.figures.merge_following(&row.figures))
                    .or_insert(TeamFigures {
                        tenant: (*tenant).to_owned(),
                        team: row.group,
                        figures: row.figures,
                        targets: row.targets,
                    });
            }
        }
    }
    Ok(merged.into_values().collect())
}

/// Builds each focus team's review report for its period holding today (the simulated day's
/// tickets were opened now) and writes it as Markdown and HTML under `out`. The period has
/// not ended, so the report is written to files only, not stored as the schedule's reports are.
async fn write_reviews(
    state: &Arc<GatewayState>,
    out: &Path,
    now: u64,
) -> anyhow::Result<Vec<ReviewFiles>> {
    let state = state.clone();
    let out = out.to_owned();
    let task = move || -> anyhow::Result<Vec<ReviewFiles>> {
        std::fs::create_dir_all(&out)?;
        let mut written = Vec::new();
        for team in hotline_gateway::review::teams(&state)? {
            let period = review::Period::containing(team.cadence, now);
            let report = hotline_gateway::review::build_report(&state, &team, period)?;
            let stem = format!("{}-{}", team.id, report.period.label);
            let markdown = out.join(format!("{stem}.md"));
            let html = out.join(format!("{stem}.html"));
            std::fs::write(&markdown, render::markdown(&report, &[]))?;
            std::fs::write(&html, render::html(&report, &[]))?;
            written.push(ReviewFiles {
                team_name: team.name,
                period: report.period.label,
                markdown,
                html,
            });
        }
        Ok(written)
    };
    tokio::task::spawn_blocking(task).await?
}

/// A one-time sign-in link to the staff dashboard for [`DASHBOARD_STAFF`] as admin, minted as
/// the Admin service's `MintDashboardLink` does, on the web listener's public URL.
fn dashboard_link(state: &GatewayState) -> anyhow::Result<String> {
    let base = state.config.web.public_url.trim().trim_end_matches('/');
    anyhow::ensure!(
        !base.is_empty(),
        "the demo gateway has no web.public_url, so there is no dashboard to link to"
    );
    let link = state
        .staff_sessions
        .mint(DASHBOARD_STAFF, StaffRole::Admin, state.now_ms())?;
    Ok(format!("{base}/staff/signin?token={}", link.token))
}

/// Signs a checkpoint of the trail as it stands, then verifies the whole stored trail against
/// its head counter and that checkpoint, as `hotline audit verify` has the gateway do.
async fn verify_audit(state: &Arc<GatewayState>) -> anyhow::Result<AuditCheck> {
    state.writer.checkpoint(state.audit_key.secret()).await?;
    let reader = state.clone();
    let (verdict, checkpoint) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = reader.store.as_ref();
        let verdict = hotline_gateway::audit::verify_store(store, &reader.audit_key.public)?;
        let checkpoint = hotline_gateway::writer::audit::latest_checkpoint(store)?;
        Ok((verdict, checkpoint))
    })
    .await??;
    let checkpoint =
        checkpoint.ok_or_else(|| anyhow::anyhow!("the gateway signed no audit checkpoint"))?;
    Ok(AuditCheck {
        checked: verdict.checked,
        broken: verdict.broken.map(|b| b.to_string()),
        checkpoint_size: checkpoint.checkpoint.size,
        checkpoint_head: hex(&checkpoint.checkpoint.head[..8]),
        public_key: hex(&state.audit_key.public[..8]),
    })
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// Prints the figures table, the report files and the audit verdict.
pub fn print(o: &Oversight) {
    println!("  service (computed by the gateway; targets of each focus team; * below target):");
    println!(
        "    {:<12} {:<17} {:>7} {:>8} {:>7} {:>14} {:>7} {:>14} {:>7}",
        "partner",
        "focus team",
        "offered",
        "answered",
        "handle",
        "service level",
        "target",
        "first contact",
        "target"
    );
    for row in &o.figures {
        let f = &row.figures;
        let t = &row.targets;
        let handle = f
            .average_handling_time()
            .map_or_else(|| "-".into(), |s| format!("{s:.0} s"));
        println!(
            "    {:<12} {:<17} {:>7} {:>8} {:>7} {:>14} {:>6}% {:>14} {:>6}%{}",
            row.tenant,
            row.team,
            f.offered,
            f.answered,
            handle,
            rate(f.service_level()),
            t.service_level_percent,
            rate(f.first_contact_resolution()),
            t.first_contact_percent,
            if row.below_target() { "  *" } else { "" }
        );
    }
    println!("  reviews:   one report per focus team for its period so far (Markdown and HTML):");
    let titles: Vec<String> = o
        .reviews
        .iter()
        .map(|r| format!("{} {}", r.team_name, r.period))
        .collect();
    let width = titles.iter().map(|t| t.chars().count()).max().unwrap_or(0);
    for (title, r) in titles.iter().zip(&o.reviews) {
        println!(
            "    {title:<width$}  {}  {}",
            r.markdown.display(),
            r.html.display()
        );
    }
    let a = &o.audit;
    match &a.broken {
        None => println!(
            "  audit:     verify: intact, {} entries; checkpoint of {} entries signed, head {}, key {}",
            a.checked, a.checkpoint_size, a.checkpoint_head, a.public_key
        ),
        Some(broken) => println!(
            "  audit:     verify: BROKEN after {} entries: {broken}",
            a.checked
        ),
    }
}
