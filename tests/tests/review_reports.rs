//! Review reports through a real gateway over real mTLS: produced on schedule for every focus
//! team even when nothing happened, kept across a restart without duplicates, listed for
//! staff; the quality sample is reproducible from its recorded seed, covers every partner and
//! no other period; scores through the RPC and the CLI appear in the re-rendered report;
//! auditors cannot score, sites cannot read, bad scores are refused with a clear message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hotline_federation::model::{
    EntityKey, EntityKind, FieldValue, ReviewCadence, StatusTransition, TicketField, TicketStatus,
};
use hotline_federation::review::sample::{ClosedTicket, draw};
use hotline_federation::review::{Period, report_id};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, push};
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, federation_config, lease};
use pb::reviews_client::ReviewsClient;
use tonic::transport::Channel;

const DAY: u64 = 86_400_000;

/// The gateway's clock in the schedule test: real time plus an offset the test moves.
static OFFSET: AtomicU64 = AtomicU64::new(0);

fn shifted_clock() -> u64 {
    now_ms() + OFFSET.load(Ordering::SeqCst)
}

async fn reviews(
    gateway: &RunningGateway,
    pki: &Pki,
    cert: &hotline::pki::IssuedCert,
) -> anyhow::Result<ReviewsClient<Channel>> {
    Ok(ReviewsClient::new(gateway.channel(pki, Some(cert)).await?))
}

async fn list(client: &mut ReviewsClient<Channel>) -> anyhow::Result<Vec<pb::ReportSummary>> {
    Ok(client
        .list(pb::ListReportsRequest::default())
        .await?
        .into_inner()
        .reports)
}

/// Polls the report list until `done` holds for it, for at most 20 seconds.
async fn wait_for_reports(
    client: &mut ReviewsClient<Channel>,
    done: impl Fn(&[pb::ReportSummary]) -> bool,
) -> anyhow::Result<Vec<pb::ReportSummary>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reports = list(client).await?;
        if done(&reports) {
            return Ok(reports);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "reports never came; have {:?}",
            reports.iter().map(|r| &r.id).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With nothing happening at all, a gateway checking every second produces last week's report
/// of each of the four focus teams at start, next week's once its clock passes the week's end,
/// and after a restart on the same store produces nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_come_on_schedule_and_survive_a_restart() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.review.check_interval_secs = 1;
    let alice = pki
        .ca
        .issue_staff(FEDERATION, "auditor", "alice", time::Duration::days(1))?;

    let gateway = RunningGateway::start_with_clock(config.clone(), shifted_clock).await?;
    let mut client = reviews(&gateway, &pki, &alice).await?;
    let last = Period::last_ended(ReviewCadence::Weekly, shifted_clock());
    let first = wait_for_reports(&mut client, |r| r.len() == 4).await?;
    assert!(first.iter().all(|r| r.period == last.label), "{first:?}");
    let report = client
        .get(pb::GetReportRequest {
            id: report_id("bank", &last),
            format: pb::ReportFormat::Markdown.into(),
        })
        .await?
        .into_inner()
        .body;
    assert!(report.contains("| tickets opened | 0 | - |"), "{report}");
    assert!(
        report.contains("No ticket was escalated in the period."),
        "{report}"
    );

    OFFSET.store(7 * DAY, Ordering::SeqCst);
    let this_week = last.next();
    let second = wait_for_reports(&mut client, |r| r.len() == 8).await?;
    assert_eq!(
        second
            .iter()
            .filter(|r| r.period == this_week.label)
            .count(),
        4,
        "{second:?}"
    );
    gateway.stop().await?;

    let gateway = RunningGateway::start_with_clock(config, shifted_clock).await?;
    assert_eq!(
        hotline_gateway::review::schedule::check_due(&gateway.state).await?,
        0
    );
    let mut client = reviews(&gateway, &pki, &alice).await?;
    let after = list(&mut client).await?;
    let mut ids: Vec<&str> = after.iter().map(|r| r.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 8, "{ids:?}");
    gateway.stop().await?;
    OFFSET.store(0, Ordering::SeqCst);
    Ok(())
}

/// A ticket of `team` opened and resolved at `site` of `tenant` at `resolved_at`.
fn resolved_ticket(
    id: &str,
    tenant: &str,
    site: &str,
    team: &str,
    seq: u64,
    resolved_at: u64,
) -> Change {
    let set = |f| FieldOp::Set(FieldValue::Ticket(f));
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops: vec![
            set(TicketField::PublicNumber(id.into())),
            set(TicketField::OriginTenant(tenant.into())),
            set(TicketField::FocusTeam(team.into())),
            set(TicketField::Category("vpn <b>".into())),
            set(TicketField::Status(StatusTransition {
                from: None,
                to: TicketStatus::Resolved,
            })),
            set(TicketField::OpenedAt(resolved_at - 3_600_000)),
            set(TicketField::ResolvedAt(resolved_at)),
            set(TicketField::FirstContact(seq % 2 == 0)),
            set(TicketField::HandlingSite(site.into())),
            set(TicketField::Subject("VPN drops".into())),
        ],
        origin_site: site.into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms(), 0),
    }
}

fn code(result: Result<impl std::fmt::Debug, tonic::Status>) -> (tonic::Code, String) {
    match result {
        Ok(answer) => panic!("expected a refusal, got {answer:?}"),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

/// Partners' tickets resolved last week are sampled per partner from the recorded seed (the
/// same draw recomputed here), never in-house's or another week's; an admin scores one over the
/// RPC and one with `hotline review score`, both show in the re-rendered report; bad scores,
/// an auditor's score and a site's read are refused with what was wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_is_scored_by_staff_only() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.review.enabled = false;
    config.review.sample_size = 2;
    let gateway = RunningGateway::start(config).await?;

    let last = Period::last_ended(ReviewCadence::Weekly, now_ms());
    let older = last.previous();
    let mut tickets = Vec::new();
    for (tenant, site, count) in [
        ("twenty4help", "dortmund", 3u64),
        ("twenty4help", "goerlitz", 1),
        ("inhouse", "munich", 2),
    ] {
        let mut client = gateway.site_client(&pki, tenant, site).await?;
        let block = lease(&mut client, 10).await?;
        let mut changes = Vec::new();
        for n in 0..count + 1 {
            // The last ticket of each site was resolved the week before: another period.
            let at = if n < count {
                last.start_ms + n * DAY + 1
            } else {
                older.start_ms + 5
            };
            let id = number(&block, n);
            changes.push(resolved_ticket(&id, tenant, site, "finance-hr", n + 1, at));
            tickets.push(ClosedTicket {
                id,
                team: "finance-hr".into(),
                tenant: tenant.into(),
                site: site.into(),
                resolved_at_ms: at,
            });
        }
        accepted(&client.push(push(&changes)).await?.into_inner())?;
    }

    let admin_cert = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let auditor_cert = pki
        .ca
        .issue_staff(FEDERATION, "auditor", "bob", time::Duration::days(1))?;
    let mut admin = reviews(&gateway, &pki, &admin_cert).await?;
    let generated = admin
        .generate(pb::GenerateReportRequest {
            focus_team: "finance-hr".into(),
            period: last.label.clone(),
        })
        .await?
        .into_inner();
    assert!(generated.created);
    let id = report_id("finance-hr", &last);
    let stored = hotline_gateway::review::read_report(&gateway.state, &id)?.expect("stored");
    let sample = &stored.report.sample;
    assert_eq!(sample, &draw(&last, "finance-hr", &tickets, 2, sample.seed));
    assert_eq!(sample.partners.len(), 1, "only the partner, not in-house");
    assert_eq!(sample.partners[0].closed, 4);
    let sampled: Vec<String> = sample.partners[0]
        .tickets
        .iter()
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(sampled.len(), 2);
    let other_week = &tickets[3].id;
    assert!(!sampled.contains(other_week));

    let criteria = |pairs: &[(&str, u32)]| -> Vec<pb::CriterionScore> {
        pairs
            .iter()
            .map(|(c, p)| pb::CriterionScore {
                criterion: (*c).into(),
                points: *p,
            })
            .collect()
    };
    let full = criteria(&[
        ("solution_correct", 2),
        ("brand_voice", 1),
        ("documentation_complete", 0),
    ]);
    let score = |ticket: &str, criteria: Vec<pb::CriterionScore>| pb::ScoreRequest {
        report_id: id.clone(),
        ticket: ticket.into(),
        criteria,
        note: "checked <the> call".into(),
    };
    for (request, expected) in [
        (
            score(other_week, full.clone()),
            "is not in this report's quality sample",
        ),
        (
            score(&sampled[0], criteria(&[("solution_correct", 2)])),
            "not scored: brand_voice, documentation_complete",
        ),
        (
            score(&sampled[0], criteria(&[("speed", 2)])),
            "\"speed\" is not on the scorecard; known: solution_correct",
        ),
        (
            score(&sampled[0], criteria(&[("solution_correct", 7)])),
            "7 points is out of range",
        ),
    ] {
        let (status, message) = code(admin.score(request).await);
        assert_eq!(status, tonic::Code::InvalidArgument, "{message}");
        assert!(message.contains(expected), "{message}");
    }

    let mut auditor = reviews(&gateway, &pki, &auditor_cert).await?;
    let (status, message) = code(auditor.score(score(&sampled[0], full.clone())).await);
    assert_eq!(status, tonic::Code::PermissionDenied);
    assert!(message.contains("auditor role"), "{message}");
    let site_cert = pki.site("twenty4help", "dortmund")?;
    let mut site = reviews(&gateway, &pki, &site_cert).await?;
    let (status, _) = code(site.list(pb::ListReportsRequest::default()).await);
    assert_eq!(status, tonic::Code::PermissionDenied);
    let (status, _) = code(
        site.get(pb::GetReportRequest {
            id: id.clone(),
            format: 0,
        })
        .await,
    );
    assert_eq!(status, tonic::Code::PermissionDenied);

    let answer = admin.score(score(&sampled[0], full)).await?.into_inner();
    assert_eq!(answer.unscored, 1);
    std::fs::write(pki.dir.path().join("alice.pem"), &admin_cert.cert_pem)?;
    std::fs::write(pki.dir.path().join("alice.key"), &admin_cert.key_pem)?;
    let printed = hotline::review::run(
        &format!("https://{}", gateway.addr),
        "localhost",
        pki.dir.path(),
        "alice",
        hotline::review::ReviewAction::Score {
            id: id.clone(),
            ticket: sampled[1].clone(),
            criteria: vec![
                "solution_correct=1".into(),
                "brand_voice=2".into(),
                "documentation_complete=2".into(),
            ],
            note: None,
        },
    )
    .await?;
    assert!(
        printed.contains("0 sampled tickets still unscored"),
        "{printed}"
    );

    let markdown = hotline::review::run(
        &format!("https://{}", gateway.addr),
        "localhost",
        pki.dir.path(),
        "alice",
        hotline::review::ReviewAction::Show {
            id: id.clone(),
            html: false,
        },
    )
    .await?;
    let row = format!("| {} | twenty4help |", sampled[0]);
    let line = markdown
        .lines()
        .find(|l| l.starts_with(&row))
        .unwrap_or_default();
    assert!(
        line.contains("| 2 | 1 | 0 | checked \\<the\\> call | alice,"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Every sampled ticket is scored."),
        "{markdown}"
    );
    let html = auditor
        .get(pb::GetReportRequest {
            id: id.clone(),
            format: pb::ReportFormat::Html.into(),
        })
        .await?
        .into_inner()
        .body;
    assert!(
        html.contains("vpn &lt;b&gt;") && !html.contains("<b>"),
        "{html}"
    );
    assert!(html.contains("checked &lt;the&gt; call"), "{html}");

    let again = admin
        .generate(pb::GenerateReportRequest {
            focus_team: "finance-hr".into(),
            period: last.label.clone(),
        })
        .await?
        .into_inner();
    assert!(!again.created);
    let kept = hotline_gateway::review::read_report(&gateway.state, &id)?.expect("stored");
    assert_eq!(kept.report.sample.seed, sample.seed);
    let (status, message) = code(
        admin
            .generate(pb::GenerateReportRequest {
                focus_team: "finance-hr".into(),
                period: last.next().label,
            })
            .await,
    );
    assert_eq!(status, tonic::Code::FailedPrecondition, "{message}");
    gateway.stop().await?;
    Ok(())
}
