//! Service figures through the real `hotline.v1.Reports` RPC over mTLS: a generated call stream
//! pushed by four sites comes back as figures equal to ones counted here with plain loops, and a
//! partner certificate reads its own tenant's figures only.

use std::collections::BTreeMap;

use hotline_federation::calendar::{Period, PeriodKind, iso_date};
use hotline_federation::model::{
    CallEvent, CallOutcome, EntityKey, EntityKind, FieldValue, StatusTransition, TicketField,
    TicketStatus,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, open_ticket, push};
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, federation_config};

const HOUR: u64 = 3_600_000;
const SITES: [(&str, &str, &[&str]); 4] = [
    ("munich", "inhouse", &["bank", "plants", "finance-hr"]),
    ("dortmund", "twenty4help", &["finance-hr", "dealers-sales"]),
    ("goerlitz", "twenty4help", &["finance-hr"]),
    ("erfurt", "helpbycom", &["plants", "dealers-sales"]),
];

/// A small deterministic generator (no seed to keep: the stream is the same every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Hundreds of call events of yesterday over every site, team and hour.
fn call_stream(day_start: u64) -> Vec<CallEvent> {
    let mut random = Lcg(7);
    let mut events = Vec::new();
    for (site, _, teams) in SITES {
        for n in 0..120 {
            let outcome = CallOutcome::ALL[random.next(4) as usize];
            let team = match random.next(5) {
                0 => None,
                i => Some(teams[i as usize % teams.len()].to_owned()),
            };
            events.push(CallEvent {
                id: format!("{site}-{n}"),
                site: site.into(),
                outcome,
                wait_seconds: random.next(60) as u32,
                at_ms: day_start + random.next(24 * HOUR),
                focus_team: team,
                ticket_number: None,
                talk_seconds: random.next(600) as u32,
                wrap_seconds: random.next(120) as u32,
            });
        }
    }
    events
}

/// The call figures of one group, counted the plain way: (offered, answered, answered within
/// 25 s, abandoned, wait seconds of answered calls, talk + wrap seconds of answered calls).
type Counted = (u64, u64, u64, u64, u64, u64);

fn count(events: &[CallEvent], group: impl Fn(&CallEvent) -> String) -> BTreeMap<String, Counted> {
    let mut out: BTreeMap<String, Counted> = BTreeMap::new();
    for e in events {
        let c = out.entry(group(e)).or_default();
        c.0 += 1;
        if e.outcome == CallOutcome::Answered {
            c.1 += 1;
            if e.wait_seconds <= 25 {
                c.2 += 1;
            }
            c.4 += u64::from(e.wait_seconds);
            c.5 += u64::from(e.talk_seconds + e.wrap_seconds);
        }
        if e.outcome == CallOutcome::Abandoned {
            c.3 += 1;
        }
    }
    out
}

fn tenant_of(site: &str) -> String {
    SITES.iter().find(|s| s.0 == site).unwrap().1.to_owned()
}

fn counted(rows: &[pb::FigureRow]) -> BTreeMap<String, Counted> {
    rows.iter()
        .map(|r| {
            let f = r.figures.unwrap_or_default();
            (
                r.group.clone(),
                (
                    f.offered,
                    f.answered,
                    f.answered_in_target,
                    f.abandoned,
                    f.answer_wait_seconds,
                    f.handling_seconds,
                ),
            )
        })
        .collect()
}

async fn report(
    client: &mut pb::reports_client::ReportsClient<tonic::transport::Channel>,
    period: &str,
    by: pb::FigureGrouping,
    tenant: &str,
) -> Result<Vec<pb::FigureRow>, tonic::Status> {
    client
        .service_level(pb::ServiceLevelRequest {
            period: period.into(),
            by: by as i32,
            focus_team: String::new(),
            tenant: tenant.into(),
            split: String::new(),
        })
        .await
        .map(|r| r.into_inner().rows)
}

/// Each site pushes its own events into its call log of the day, 40 events a change.
async fn push_calls(
    gateway: &RunningGateway,
    pki: &Pki,
    events: &[CallEvent],
    day: Period,
) -> anyhow::Result<()> {
    for (site, tenant, _) in SITES {
        let mut client = gateway.site_client(pki, tenant, site).await?;
        let mine: Vec<CallEvent> = events.iter().filter(|e| e.site == site).cloned().collect();
        let changes: Vec<Change> = mine
            .chunks(40)
            .enumerate()
            .map(|(i, chunk)| Change {
                key: EntityKey::new(
                    EntityKind::CallLog,
                    format!("{site}.{}", iso_date(day.start_ms)),
                ),
                ops: chunk.iter().cloned().map(FieldOp::AddCallEvent).collect(),
                origin_site: site.into(),
                origin_seq: i as u64 + 1,
                hlc: Hlc::new(now_ms(), i as u32),
            })
            .collect();
        accepted(&client.push(push(&changes)).await?.into_inner())?;
    }
    Ok(())
}

fn status(id: &str, site: &str, seq: u64, from: TicketStatus, to: TicketStatus) -> Change {
    let mut ops = vec![FieldOp::Set(FieldValue::Ticket(TicketField::Status(
        StatusTransition {
            from: Some(from),
            to,
        },
    )))];
    if to == TicketStatus::Resolved {
        ops.push(FieldOp::Set(FieldValue::Ticket(TicketField::FirstContact(
            true,
        ))));
    }
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops,
        origin_site: site.into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), seq as u32),
    }
}

/// A dortmund ticket of finance-hr opened and solved at once today: a twenty4help resolution
/// with first contact.
async fn resolve_one_today(gateway: &RunningGateway, pki: &Pki) -> anyhow::Result<()> {
    let mut dortmund = gateway.site_client(pki, "twenty4help", "dortmund").await?;
    let block = hotline_tests::harness::lease(&mut dortmund, 10).await?;
    let ticket = hotline_tests::changes::number(&block, 0);
    let changes = [
        open_ticket(&ticket, "twenty4help", "dortmund", "finance-hr", 100),
        status(
            &ticket,
            "dortmund",
            101,
            TicketStatus::New,
            TicketStatus::Resolved,
        ),
    ];
    accepted(&dortmund.push(push(&changes)).await?.into_inner())?;
    Ok(())
}

/// Figures from hundreds of generated call events over four sites, three tenants, every team
/// and 24 hours equal the ones counted here by site, tenant and team, as an auditor reads them
/// over mTLS; hours add up to the day; a resolved first-contact ticket counts for its tenant.
#[tokio::test]
async fn figures_match_an_independent_count() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let yesterday = Period::containing(PeriodKind::Day, now_ms() - 86_400_000);
    let events = call_stream(yesterday.start_ms);
    push_calls(&gateway, &pki, &events, yesterday).await?;
    resolve_one_today(&gateway, &pki).await?;

    let auditor = pki
        .ca
        .issue_staff(FEDERATION, "auditor", "carol", time::Duration::days(1))?;
    let mut staff =
        pb::reports_client::ReportsClient::new(gateway.channel(&pki, Some(&auditor)).await?);
    let day = yesterday.to_string();
    let team = |e: &CallEvent| e.focus_team.clone().unwrap_or_else(|| "(unknown)".into());
    let expected = [
        (pb::FigureGrouping::Site, count(&events, |e| e.site.clone())),
        (
            pb::FigureGrouping::Tenant,
            count(&events, |e| tenant_of(&e.site)),
        ),
        (pb::FigureGrouping::FocusTeam, count(&events, team)),
    ];
    for (by, want) in &expected {
        let rows = report(&mut staff, &day, *by, "").await?;
        assert_eq!(counted(&rows), *want, "{by:?}");
        assert!(rows.iter().all(|r| r.period == day));
    }
    // The hours of the day add up to the day.
    let hourly = staff
        .service_level(pb::ServiceLevelRequest {
            period: day.clone(),
            by: pb::FigureGrouping::Tenant as i32,
            focus_team: String::new(),
            tenant: String::new(),
            split: "hour".into(),
        })
        .await?
        .into_inner()
        .rows;
    let mut summed: BTreeMap<String, Counted> = BTreeMap::new();
    for (group, c) in hourly
        .iter()
        .map(|r| counted(std::slice::from_ref(r)))
        .flat_map(|m| m.into_iter())
    {
        let s = summed.entry(group).or_default();
        *s = (
            s.0 + c.0,
            s.1 + c.1,
            s.2 + c.2,
            s.3 + c.3,
            s.4 + c.4,
            s.5 + c.5,
        );
    }
    assert_eq!(summed, expected[1].1);
    assert!(hourly.len() > 24, "rows of many hours: {}", hourly.len());

    // Today's ticket: one resolution with first contact for twenty4help.
    let today = Period::containing(PeriodKind::Day, now_ms()).to_string();
    let rows = report(&mut staff, &today, pb::FigureGrouping::Tenant, "").await?;
    let t4h = rows
        .iter()
        .find(|r| r.group == "twenty4help")
        .expect("twenty4help row");
    let f = t4h.figures.unwrap_or_default();
    assert_eq!(
        (f.resolved, f.resolved_first_contact, f.reopened),
        (1, 1, 0)
    );
    gateway.stop().await
}

/// A partner certificate reads its own tenant's figures with every grouping and never another
/// tenant's; naming another tenant is PERMISSION_DENIED; staff see all three tenants.
#[tokio::test]
async fn partner_reads_only_its_own_figures() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let yesterday = Period::containing(PeriodKind::Day, now_ms() - 86_400_000);
    let events = call_stream(yesterday.start_ms);
    push_calls(&gateway, &pki, &events, yesterday).await?;
    let day = yesterday.to_string();
    let partner = pki.site("twenty4help", "goerlitz")?;
    let mut reports =
        pb::reports_client::ReportsClient::new(gateway.channel(&pki, Some(&partner)).await?);
    let own: Vec<CallEvent> = events
        .iter()
        .filter(|e| tenant_of(&e.site) == "twenty4help")
        .cloned()
        .collect();
    let team = |e: &CallEvent| e.focus_team.clone().unwrap_or_else(|| "(unknown)".into());
    for (by, want) in [
        (pb::FigureGrouping::Site, count(&own, |e| e.site.clone())),
        (
            pb::FigureGrouping::Tenant,
            count(&own, |e| tenant_of(&e.site)),
        ),
        (pb::FigureGrouping::FocusTeam, count(&own, team)),
    ] {
        for filter in ["", "twenty4help"] {
            let rows = report(&mut reports, &day, by, filter).await?;
            assert_eq!(counted(&rows), want, "{by:?} {filter:?}");
        }
        for other in ["helpbycom", "inhouse"] {
            let refused = report(&mut reports, &day, by, other).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
        }
    }
    let sites = report(&mut reports, &day, pb::FigureGrouping::Site, "").await?;
    let names: Vec<&str> = sites.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(names, ["dortmund", "goerlitz"]);

    let admin = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut staff =
        pb::reports_client::ReportsClient::new(gateway.channel(&pki, Some(&admin)).await?);
    let tenants = report(&mut staff, &day, pb::FigureGrouping::Tenant, "").await?;
    let names: Vec<&str> = tenants.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(names, ["helpbycom", "inhouse", "twenty4help"]);
    let bad = report(&mut staff, "2026-13", pb::FigureGrouping::Tenant, "")
        .await
        .unwrap_err();
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("yyyy-Www"), "{}", bad.message());
    gateway.stop().await
}

/// A partner cannot poll its figures without limit (each report scans every ticket): past its
/// tenant's read quota it gets RESOURCE_EXHAUSTED with the advised wait, while staff are not
/// counted against any tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_draw_on_the_partners_read_quota() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.tenant_fetches_per_second = 1;
    config.limits.tenant_fetch_burst = config.limits.max_push_changes as u64;
    let gateway = RunningGateway::start(config.clone()).await?;
    let partner = pki.site("twenty4help", "goerlitz")?;
    let mut reports =
        pb::reports_client::ReportsClient::new(gateway.channel(&pki, Some(&partner)).await?);
    let day = Period::containing(PeriodKind::Day, now_ms()).to_string();
    let allowed = config.limits.max_push_changes / 64;
    for n in 0..allowed {
        report(&mut reports, &day, pb::FigureGrouping::Site, "")
            .await
            .map_err(|e| anyhow::anyhow!("report {n} of the burst refused: {e}"))?;
    }
    let refused = report(&mut reports, &day, pb::FigureGrouping::Site, "")
        .await
        .expect_err("the burst is spent");
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused}");
    assert!(refused.metadata().get("retry-after-ms").is_some());
    assert!(refused.message().contains("quota"), "{}", refused.message());
    let admin = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut staff =
        pb::reports_client::ReportsClient::new(gateway.channel(&pki, Some(&admin)).await?);
    report(&mut staff, &day, pb::FigureGrouping::Tenant, "").await?;
    gateway.stop().await
}

/// The metrics gauges' rows (refreshed every minute) are the staff overview's service levels
/// and targets without a pass over the tickets: for a day of calls and no tickets they equal
/// the overview's rows whole; for a day with a resolved ticket they keep every service level
/// and target but count no resolution, which only reading the tickets would give.
#[tokio::test]
async fn the_gauges_service_levels_are_the_overviews_without_the_tickets() -> anyhow::Result<()> {
    use hotline_gateway::web::staff::overview::{OverviewRow, gather, gather_service_levels};
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let yesterday = Period::containing(PeriodKind::Day, now_ms() - 86_400_000);
    push_calls(&gateway, &pki, &call_stream(yesterday.start_ms), yesterday).await?;
    resolve_one_today(&gateway, &pki).await?;
    let state = gateway.state.clone();
    let today = Period::containing(PeriodKind::Day, now_ms());
    let (whole, calls, whole_today, calls_today) = tokio::task::spawn_blocking(move || {
        anyhow::Ok((
            gather(&state, yesterday)?,
            gather_service_levels(&state, yesterday)?,
            gather(&state, today)?,
            gather_service_levels(&state, today)?,
        ))
    })
    .await??;

    assert!(
        calls.iter().filter(|r| r.service_level.is_some()).count() >= 3,
        "yesterday's calls give service levels: {calls:?}"
    );
    assert_eq!(
        calls, whole,
        "a day without tickets reads the same either way"
    );

    let row = |rows: &[OverviewRow], partner: &str| {
        rows.iter()
            .find(|r| r.partner == partner && r.focus_team == "finance-hr")
            .cloned()
    };
    let counted = row(&whole_today, "twenty4help").expect("the overview has the resolution");
    assert_eq!((counted.resolved, counted.fcr), (1, Some(1.0)));
    let gauged = row(&calls_today, "twenty4help").expect("a handler keeps its row");
    assert_eq!((gauged.resolved, gauged.fcr), (0, None), "no ticket read");
    assert_eq!(
        (gauged.service_level, gauged.sl_target),
        (counted.service_level, counted.sl_target)
    );
    gateway.stop().await
}
