//! Issue 15's new surfaces attacked from outside, as a hostile partner and a hostile customer
//! would: the Reports and Audit services under a partner's certificate, the in-house-only
//! customer rating from a site's side and from the status page, the staff dashboard's
//! sign-in links and sessions, `Federation.Report` for someone else, and the operations port
//! and audit trail as places customer data could leak to.

use hotline_federation::calendar::{Period, PeriodKind, iso_date};
use hotline_federation::model::{
    CallEvent, CallOutcome, CustomerRating, EntityKey, EntityKind, FieldValue, StatusTransition,
    TicketField, TicketStatus, Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{FEDERATION, Pki, federation_config, subscribe_until};
use hotline_tests::staff::DashboardGateway;
use hotline_tests::web::{CodeSite, HttpAnswer, encode, request};
use pb::audit_client::AuditClient;
use pb::reports_client::ReportsClient;
use tonic::Code;
use tonic::transport::Channel;

/// A gateway with its web listener over a fresh PKI and store; the status page's rate limits
/// are raised so that many attempts in one test are judged on their content, not their count.
async fn start() -> anyhow::Result<(DashboardGateway, Pki, tempfile::TempDir)> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config: GatewayConfig = federation_config(&pki, data.path());
    config.web.attempts_per_client_per_minute = 10_000;
    config.web.failures_per_ticket_per_15_minutes = 10_000;
    config.web.answer_floor_ms = 1;
    Ok((DashboardGateway::start(config).await?, pki, data))
}

/// A channel presenting a staff certificate of `role`.
async fn staff_channel(board: &DashboardGateway, pki: &Pki, role: &str) -> anyhow::Result<Channel> {
    let cert = pki
        .ca
        .issue_staff(FEDERATION, role, "carol", time::Duration::days(1))?;
    board.gateway.channel(pki, Some(&cert)).await
}

/// A change setting ticket field `field` of ticket `id`.
fn set(id: &str, field: TicketField) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops: vec![FieldOp::Set(FieldValue::Ticket(field))],
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    }
}

/// The change resolving a new ticket.
fn resolve(id: &str) -> Change {
    set(
        id,
        TicketField::Status(StatusTransition {
            from: Some(TicketStatus::New),
            to: TicketStatus::Resolved,
        }),
    )
}

/// The refusal rule of a change result, or a failure when it was accepted.
fn refused_rule(result: &pb::ChangeResult) -> anyhow::Result<String> {
    match &result.outcome {
        Some(pb::change_result::Outcome::Rejected(r)) => Ok(r.rule.clone()),
        other => anyhow::bail!("the change was not refused: {other:?}"),
    }
}

/// Fails unless the change was accepted.
fn ensure_accepted(result: &pb::ChangeResult) -> anyhow::Result<()> {
    match &result.outcome {
        Some(pb::change_result::Outcome::Accepted(_)) => Ok(()),
        other => anyhow::bail!("the change was refused: {other:?}"),
    }
}

/// `POST path` on the web listener with a form.
async fn post_form(
    board: &DashboardGateway,
    path: &str,
    form: &[(&str, &str)],
) -> anyhow::Result<HttpAnswer> {
    let body = form
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    request(board.web, "POST", path, &headers, body.as_bytes()).await
}

/// Rates ticket `number` with `code` on the status page.
async fn rate(
    board: &DashboardGateway,
    number: &str,
    code: &str,
    score: &str,
    remark: &str,
) -> anyhow::Result<HttpAnswer> {
    let form = [
        ("number", number),
        ("code", code),
        ("score", score),
        ("remark", remark),
    ];
    post_form(board, "/rate", &form).await
}

/// The words the status page uses when it stored a rating.
const SAVED: &str = "Bewertung ist bei uns angekommen";

/// `count` call events of today at `site`, pushed into its own call log.
async fn push_calls(
    site: &mut CodeSite,
    team: &str,
    count: u32,
) -> anyhow::Result<pb::ChangeResult> {
    let now = now_ms();
    let change = Change {
        key: EntityKey::new(
            EntityKind::CallLog,
            format!("{}.{}", site.site, iso_date(now)),
        ),
        ops: (0..count)
            .map(|n| {
                FieldOp::AddCallEvent(CallEvent {
                    id: format!("{}-{team}-{n}", site.site),
                    site: site.site.clone(),
                    outcome: CallOutcome::ALL[0],
                    wait_seconds: 10,
                    at_ms: now - 1_000,
                    focus_team: Some(team.into()),
                    ticket_number: None,
                    talk_seconds: 60,
                    wrap_seconds: 5,
                })
            })
            .collect(),
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now, 0),
    };
    site.push(change).await
}

/// The Reports answer for one combination of filters.
async fn figures(
    reports: &mut ReportsClient<Channel>,
    by: pb::FigureGrouping,
    team: &str,
    tenant: &str,
    split: &str,
) -> Result<Vec<pb::FigureRow>, tonic::Status> {
    Ok(reports
        .service_level(pb::ServiceLevelRequest {
            period: Period::containing(PeriodKind::Day, now_ms()).to_string(),
            by: by as i32,
            focus_team: team.into(),
            tenant: tenant.into(),
            split: split.into(),
        })
        .await?
        .into_inner()
        .rows)
}

/// A partner asking Reports by every grouping, with other tenants' focus teams, an hourly
/// split and odd spellings of other tenants, sees only its own calls and tickets or an error.
#[tokio::test]
async fn partner_figures_never_hold_another_tenants_facts() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let mut munich = CodeSite::connect(&board.gateway, &pki, "inhouse", "munich").await?;
    let mut erfurt = CodeSite::connect(&board.gateway, &pki, "helpbycom", "erfurt").await?;
    let mut dortmund = CodeSite::connect(&board.gateway, &pki, "twenty4help", "dortmund").await?;
    ensure_accepted(&push_calls(&mut munich, "bank", 5).await?)?;
    ensure_accepted(&push_calls(&mut munich, "dealers-sales", 3).await?)?;
    ensure_accepted(&push_calls(&mut erfurt, "plants", 4).await?)?;
    ensure_accepted(&push_calls(&mut dortmund, "finance-hr", 2).await?)?;
    for (site, team) in [(&mut munich, "dealers-sales"), (&mut erfurt, "plants")] {
        let (number, _) = site.open_with_code(team, 1).await?;
        ensure_accepted(&site.push(resolve(&number)).await?)?;
    }
    dortmund.open_with_code("dealers-sales", 2).await?;

    let foreign = ["munich", "erfurt", "inhouse", "helpbycom", "bank", "plants"];
    let mut staff = ReportsClient::new(staff_channel(&board, &pki, "auditor").await?);
    let all = figures(&mut staff, pb::FigureGrouping::Site, "", "", "").await?;
    let groups: Vec<&str> = all.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, ["dortmund", "erfurt", "munich"], "{all:?}");

    let partner = pki.site("twenty4help", "goerlitz")?;
    let mut reports = ReportsClient::new(board.gateway.channel(&pki, Some(&partner)).await?);
    let groupings = [
        pb::FigureGrouping::Site,
        pb::FigureGrouping::Tenant,
        pb::FigureGrouping::FocusTeam,
    ];
    for by in groupings {
        for team in ["", "finance-hr", "dealers-sales", "bank", "plants"] {
            for tenant in ["", "twenty4help"] {
                for split in ["", "hour"] {
                    let what = format!("{by:?} team {team:?} tenant {tenant:?} split {split:?}");
                    let rows = match figures(&mut reports, by, team, tenant, split).await {
                        Ok(rows) => rows,
                        Err(e) if e.code() == Code::PermissionDenied => continue,
                        Err(e) => anyhow::bail!("{what}: {e:?}"),
                    };
                    let offered: u64 = rows
                        .iter()
                        .map(|r| r.figures.unwrap_or_default().offered)
                        .sum();
                    let resolved: u64 = rows
                        .iter()
                        .map(|r| r.figures.unwrap_or_default().resolved)
                        .sum();
                    let own = if matches!(team, "" | "finance-hr") {
                        2
                    } else {
                        0
                    };
                    assert_eq!((offered, resolved), (own, 0), "{what}: {rows:?}");
                    for row in &rows {
                        assert!(!foreign.contains(&row.group.as_str()), "{what}: {row:?}");
                    }
                }
            }
        }
    }
    let long = "inhouse".repeat(40);
    for tenant in [
        "inhouse",
        "helpbycom",
        "INHOUSE",
        "Inhouse",
        " inhouse",
        "inhouse ",
        "in house",
        "*",
        "%",
        "inhouse,helpbycom",
        "nobody",
        "inhouse\u{0}",
        "ınhouse",
        &long,
    ] {
        for by in groupings {
            match figures(&mut reports, by, "", tenant, "").await {
                Err(e) if matches!(e.code(), Code::PermissionDenied | Code::InvalidArgument) => {
                    for name in ["munich", "erfurt"] {
                        assert!(!e.message().contains(name), "{tenant:?}: {e:?}");
                    }
                }
                other => panic!("tenant {tenant:?} by {by:?} was answered: {other:?}"),
            }
        }
    }
    let odd = reports
        .service_level(pb::ServiceLevelRequest {
            period: Period::containing(PeriodKind::Day, now_ms()).to_string(),
            by: 99,
            ..pb::ServiceLevelRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(odd.code(), Code::InvalidArgument, "{odd:?}");
    board.stop().await
}

/// A site can prove only entries it made itself: another tenant's, a customer's, a staff
/// member's and the gateway's entries are all refused alike, and Report cannot be made by
/// staff or by a certificate that names a site of another tenant.
#[tokio::test]
async fn sites_prove_only_their_own_entries_and_report_only_for_themselves() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let mut munich = CodeSite::connect(&board.gateway, &pki, "inhouse", "munich").await?;
    let mut dortmund = CodeSite::connect(&board.gateway, &pki, "twenty4help", "dortmund").await?;
    munich.open_with_code("bank", 1).await?;
    let (number, code) = dortmund.open_with_code("finance-hr", 2).await?;
    let looked = post_form(&board, "/status", &[("number", &number), ("code", &code)]).await?;
    assert_eq!(looked.status, 200, "{}", looked.body);
    let mut staff = AuditClient::new(staff_channel(&board, &pki, "auditor").await?);
    let entries = staff
        .list(pb::ListAuditRequest {
            limit: 1000,
            ..pb::ListAuditRequest::default()
        })
        .await?
        .into_inner()
        .entries;
    let head = entries.iter().map(|e| e.seq).max().unwrap_or(0);
    let first_of = |prefix: &str| {
        entries
            .iter()
            .find(|e| e.actor.starts_with(prefix))
            .map(|e| e.seq)
    };

    let dortmund_cert = pki.site("twenty4help", "dortmund")?;
    let mut audit = AuditClient::new(board.gateway.channel(&pki, Some(&dortmund_cert)).await?);
    let own = first_of("site:dortmund").expect("dortmund's push is in the trail");
    audit
        .prove(pb::ProveRequest {
            seq: own,
            size: head,
        })
        .await?;
    let mut messages = Vec::new();
    for actor in ["site:munich", "customer", "gateway", "staff:"] {
        let Some(seq) = first_of(actor) else { continue };
        let refused = audit
            .prove(pb::ProveRequest { seq, size: head })
            .await
            .unwrap_err();
        assert_eq!(
            refused.code(),
            Code::PermissionDenied,
            "{actor}: {refused:?}"
        );
        assert!(!refused.message().contains(actor), "{refused:?}");
        messages.push(refused.message().replace(&seq.to_string(), "N"));
    }
    assert!(messages.len() >= 2, "too few foreign entries: {entries:?}");
    messages.dedup();
    assert_eq!(
        messages.len(),
        1,
        "refusals differ by whose entry it is: {messages:?}"
    );
    for (seq, size) in [
        (0, head),
        (own, head + 1_000),
        (head, own.saturating_sub(1)),
    ] {
        let bad = audit
            .prove(pb::ProveRequest { seq, size })
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument, "{seq} {size}: {bad:?}");
    }
    let listed = audit
        .list(pb::ListAuditRequest {
            limit: 10,
            tenant: "twenty4help".into(),
            ..pb::ListAuditRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(listed.code(), Code::PermissionDenied, "{listed:?}");

    let report = pb::SiteReport {
        outbox_depth: 7,
        dead_letters: 3,
        cursor: 1,
        site_now_ms: now_ms(),
        retention_purged: 0,
        erased_dead_letters: Vec::new(),
    };
    let admin = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let impostor = pki.site("twenty4help", "munich")?;
    for cert in [&admin, &impostor] {
        let mut client = pb::federation_client::FederationClient::new(
            board.gateway.channel(&pki, Some(cert)).await?,
        );
        let refused = client.report(report.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    }
    board.stop().await
}

/// No site writes, clears or reads the customer's rating: a partner opening a ticket with a
/// rating is refused, and after a customer rates, neither the handling partner nor any other
/// sees the score or remark through Fetch or Subscribe, while in-house does.
#[tokio::test]
async fn the_rating_never_reaches_a_partner() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let mut dortmund = CodeSite::connect(&board.gateway, &pki, "twenty4help", "dortmund").await?;
    let (number, code) = dortmund.open_with_code("dealers-sales", 3).await?;
    ensure_accepted(&dortmund.push(resolve(&number)).await?)?;
    let remark = "Blaubeerkuchen war lecker";
    let rated = rate(&board, &number, &code, "2", remark).await?;
    assert!(rated.body.contains(SAVED), "{}", rated.body);

    let forged = CustomerRating {
        score: 5,
        remark: String::new(),
        at_ms: now_ms(),
    };
    ensure_accepted(
        &dortmund
            .comment(&number, Visibility::Tenant, "nachgefragt")
            .await?,
    )?;
    let block = hotline_tests::harness::lease(&mut dortmund.client, 1).await?;
    let fresh = hotline_tests::changes::number(&block, 0);
    let mut opening =
        hotline_tests::changes::open_ticket(&fresh, "twenty4help", "dortmund", "dealers-sales", 0);
    opening
        .ops
        .push(FieldOp::Set(FieldValue::Ticket(TicketField::Rating(
            forged.clone(),
        ))));
    let refused = dortmund.push(opening).await?;
    assert_eq!(refused_rule(&refused)?, "rating_by_customer");
    let overwrite = dortmund
        .push(set(&number, TicketField::Rating(forged)))
        .await?;
    assert_eq!(refused_rule(&overwrite)?, "rating_by_customer");
    let delete = Change {
        ops: vec![FieldOp::Delete {
            reason: "clear the rating".into(),
        }],
        ..set(&number, TicketField::Category("vpn".into()))
    };
    assert!(refused_rule(&dortmund.push(delete).await?).is_ok());

    let head = board.gateway.head();
    let key: pb::EntityKey = EntityKey::new(EntityKind::Ticket, &number).into();
    for (tenant, site) in [
        ("twenty4help", "dortmund"),
        ("twenty4help", "goerlitz"),
        ("helpbycom", "erfurt"),
        ("inhouse", "munich"),
    ] {
        let mut client = board.gateway.site_client(&pki, tenant, site).await?;
        let fetched = client
            .fetch(pb::FetchRequest {
                keys: vec![key.clone()],
            })
            .await?
            .into_inner();
        let events = subscribe_until(&mut client, 0, head).await?;
        let seen = format!("{fetched:?} {events:?}");
        let inhouse = tenant == "inhouse";
        assert_eq!(seen.contains("Blaubeerkuchen"), inhouse, "{site}: {seen}");
        assert_eq!(seen.contains("Rating"), inhouse, "{site}: {seen}");
    }
    let again = rate(&board, &number, &code, "5", "").await?;
    assert!(again.body.contains("bereits bewertet"), "{}", again.body);
    board.stop().await
}

/// On the status page a rating needs the ticket's own code, a resolved ticket, a score 1-5
/// and a clean short remark; names of partners are not echoed; six racing ratings store one.
#[tokio::test]
async fn the_status_page_rating_resists_a_hostile_customer() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let mut dortmund = CodeSite::connect(&board.gateway, &pki, "twenty4help", "dortmund").await?;
    let (a, a_code) = dortmund.open_with_code("finance-hr", 5).await?;
    let (b, b_code) = dortmund.open_with_code("finance-hr", 6).await?;
    let (open, open_code) = dortmund.open_with_code("finance-hr", 7).await?;
    for id in [&a, &b] {
        ensure_accepted(&dortmund.push(resolve(id)).await?)?;
    }
    let mut answers = Vec::new();
    for (number, code) in [
        (&a, &b_code),
        (&a, &"AAAA-BBBB-CCCC".to_owned()),
        (&b, &a_code),
    ] {
        let answer = rate(&board, number, code, "5", "").await?;
        assert!(
            !answer.body.contains(SAVED),
            "{number} {code}: {}",
            answer.body
        );
        answers.push(answer);
    }
    let (gone, gone_code) = dortmund.open_with_code("finance-hr", 9).await?;
    ensure_accepted(&dortmund.push(resolve(&gone)).await?)?;
    let mut munich = CodeSite::connect(&board.gateway, &pki, "inhouse", "munich").await?;
    let delete = Change {
        ops: vec![FieldOp::Delete {
            reason: "duplicate".into(),
        }],
        ..set(&gone, TicketField::Category("vpn".into()))
    };
    ensure_accepted(&munich.push(delete).await?)?;
    let deleted = rate(&board, &gone, &gone_code, "5", "").await?;
    assert!(!deleted.body.contains(SAVED), "{}", deleted.body);
    let early = rate(&board, &open, &open_code, "5", "").await?;
    assert!(
        early.body.contains("sobald es gelöst ist"),
        "{}",
        early.body
    );
    for score in ["0", "6", "abc", "", "-1", "5.0", "4 ", "99999999999", "1e0"] {
        let answer = rate(&board, &a, &a_code, score, "").await?;
        assert!(
            answer.body.contains("von 1 bis 5"),
            "{score:?}: {}",
            answer.body
        );
        answers.push(answer);
    }
    let (long, huge) = ("x".repeat(1_001), "y".repeat(64 * 1024));
    for remark in [long.as_str(), &huge, "gut\u{7}gemacht", "gut\u{1b}[31m"] {
        let answer = rate(&board, &a, &a_code, "5", remark).await?;
        assert!(!answer.body.contains(SAVED), "{remark:?}: {}", answer.body);
        answers.push(answer);
    }
    for remark in [
        "Danke an twenty4help",
        "Gruss nach dortmund",
        "goerlitz war super",
    ] {
        let answer = rate(&board, &a, &a_code, "5", remark).await?;
        assert!(!answer.body.contains(SAVED), "{remark:?}: {}", answer.body);
        answers.push(answer);
    }
    for answer in &answers {
        for name in ["twenty4help", "dortmund", "goerlitz"] {
            assert!(!answer.body.contains(name), "{name} in {}", answer.body);
        }
    }

    let racing = [1, 2, 3, 4, 5, 5].into_iter().map(|score| {
        let (board, a, a_code) = (&board, &a, &a_code);
        async move { rate(board, a, a_code, &score.to_string(), "").await }
    });
    let raced = futures_util::future::join_all(racing).await;
    let mut saved = 0;
    for answer in raced {
        let answer = answer?;
        if answer.body.contains(SAVED) {
            saved += 1;
        } else {
            assert!(answer.body.contains("bereits bewertet"), "{}", answer.body);
        }
    }
    assert_eq!(saved, 1, "racing ratings stored {saved} times");
    let b_rated = rate(&board, &b, &b_code, "3", "").await?;
    assert!(b_rated.body.contains(SAVED), "{}", b_rated.body);

    let mut staff = ReportsClient::new(staff_channel(&board, &pki, "auditor").await?);
    let rows = figures(&mut staff, pb::FigureGrouping::Tenant, "", "", "").await?;
    let ratings: u64 = rows
        .iter()
        .map(|r| r.figures.unwrap_or_default().ratings)
        .sum();
    assert_eq!(ratings, 2, "{rows:?}");
    board.stop().await
}

/// A dashboard session cannot be forged or moved: the link's token is no cookie, a session id
/// is no link, guessed tokens and other cookie names get nowhere, and sign-out ends it.
#[tokio::test]
async fn dashboard_sessions_cannot_be_forged_or_moved() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let url = board.mint(&pki, "alice", pb::DashboardRole::Admin).await?;
    let token = url
        .split("token=")
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in {url}"))?;
    let session = board
        .sign_in(&url)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    assert_eq!(board.get("/staff/audit", Some(&session)).await?.status, 200);

    let (zeros, huge) = ("0".repeat(64), "a".repeat(129));
    let pages = ["/staff/", "/staff/sites", "/staff/reviews", "/staff/audit"];
    for page in pages {
        for cookie in [
            None,
            Some(token.as_str()),
            Some(zeros.as_str()),
            Some(huge.as_str()),
        ] {
            let answer = board.get(page, cookie).await?;
            assert_eq!(answer.status, 401, "{page} {cookie:?}: {}", answer.body);
        }
    }
    for header in [
        format!("hotline_staffx={session}"),
        format!("Hotline_Staff={session}"),
        format!("x_hotline_staff={session}"),
    ] {
        let answer = request(
            board.web,
            "GET",
            "/staff/audit",
            &[("Cookie", header.as_str())],
            b"",
        )
        .await?;
        assert_eq!(answer.status, 401, "{header}: {}", answer.body);
    }
    for path in [
        "/staff/audit/",
        "/Staff/audit",
        "/staff/%61udit",
        "/staff/../staff/audit",
    ] {
        let answer = board.get(path, None).await?;
        assert_ne!(answer.status, 200, "{path}: {}", answer.body);
    }
    let link_refusal = board
        .get(&format!("/staff/signin?token={session}"), None)
        .await?;
    assert_eq!(link_refusal.status, 403, "{}", link_refusal.body);
    let mut refusals = vec![link_refusal.without_date()];
    for n in 0..8u64 {
        let guess = format!("{:064x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let answer = board
            .get(&format!("/staff/signin?token={guess}"), None)
            .await?;
        refusals.push(answer.without_date());
    }
    refusals.dedup();
    assert_eq!(
        refusals.len(),
        1,
        "guessed tokens answered differently: {refusals:?}"
    );
    assert!(refusals[0].1.iter().all(|(name, _)| name != "set-cookie"));

    let out = board.post("/staff/signout", Some(&session)).await?;
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(board.get("/staff/", Some(&session)).await?.status, 401);
    assert_eq!(board.post("/staff/", Some(&session)).await?.status, 401);
    assert!(
        board.sign_in(&url).await?.is_err(),
        "the link opened a second session"
    );
    board.stop().await
}

/// Customer data (subject, name, e-mail, reference, comment, access code, rating remark)
/// never shows on the operations port's /metrics nor in the audit trail's entries.
#[tokio::test]
async fn customer_data_stays_out_of_metrics_and_the_audit_trail() -> anyhow::Result<()> {
    let (board, pki, _data) = start().await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let ops = listener.local_addr()?;
    let task = tokio::spawn(hotline_gateway::ops::run(
        listener,
        board.gateway.state.clone(),
        stop.clone(),
    ));
    let mut dortmund = CodeSite::connect(&board.gateway, &pki, "twenty4help", "dortmund").await?;
    let (number, code) = dortmund.open_with_code("finance-hr", 8).await?;
    ensure_accepted(
        &dortmund
            .comment(&number, Visibility::Public, "Sonnenblumenfeld")
            .await?,
    )?;
    for given in [code.as_str(), "ZZZZ-ZZZZ-ZZZZ"] {
        post_form(&board, "/status", &[("number", &number), ("code", given)]).await?;
    }
    ensure_accepted(&dortmund.push(resolve(&number)).await?)?;
    let leaking = "Erika Mustermann dankt twenty4help in dortmund, Blaubeerkuchen";
    let refused = rate(&board, &number, &code, "5", leaking).await?;
    assert!(!refused.body.contains(SAVED), "{}", refused.body);
    let rated = rate(&board, &number, &code, "4", "Blaubeerkuchen").await?;
    assert!(rated.body.contains(SAVED), "{}", rated.body);

    let secrets = [
        "VPN drops every hour",
        "Erika",
        "Mustermann",
        "erika.mustermann@example.com",
        "E-104711",
        "Sonnenblumenfeld",
        "Blaubeerkuchen",
        code.as_str(),
    ];
    let metrics = hotline_tests::exposition::get(ops, "/metrics").await?;
    assert_eq!(metrics.status, 200);
    hotline_tests::exposition::parse(&metrics.body)?;
    for secret in secrets.iter().chain([&number.as_str()]) {
        assert!(
            !metrics.body.contains(secret),
            "{secret} in {}",
            metrics.body
        );
    }
    let mut staff = AuditClient::new(staff_channel(&board, &pki, "admin").await?);
    let entries = staff
        .list(pb::ListAuditRequest {
            limit: 1000,
            ..pb::ListAuditRequest::default()
        })
        .await?
        .into_inner()
        .entries;
    for action in ["status_page.rating.accepted", "status_page.rating.refused"] {
        assert!(
            entries.iter().any(|e| e.action == action),
            "{action}: {entries:?}"
        );
    }
    for entry in &entries {
        let text = format!("{} {} {}", entry.action, entry.subject, entry.detail_json);
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {entry:?}");
        }
    }
    stop.cancel();
    task.await??;
    board.stop().await
}

/// Reviews are for staff: every site certificate, the in-house site's too, is refused each
/// of List, Get, Score and Generate, and an auditor may neither score nor generate.
#[tokio::test]
async fn reviews_refuse_sites_and_auditors_writes() -> anyhow::Result<()> {
    use pb::reviews_client::ReviewsClient;
    let (board, pki, _data) = start().await?;
    let score = || pb::ScoreRequest {
        report_id: "finance-hr.2026-W01".into(),
        ticket: "ASZ-2026-000001".into(),
        criteria: Vec::new(),
        note: String::new(),
    };
    let generate = || pb::GenerateReportRequest {
        focus_team: "finance-hr".into(),
        period: "2026-W01".into(),
    };
    for (tenant, site) in [("twenty4help", "dortmund"), ("inhouse", "munich")] {
        let cert = pki.site(tenant, site)?;
        let mut reviews = ReviewsClient::new(board.gateway.channel(&pki, Some(&cert)).await?);
        let answers = [
            reviews.list(pb::ListReportsRequest::default()).await.err(),
            reviews
                .get(pb::GetReportRequest {
                    id: "finance-hr.2026-W01".into(),
                    format: 0,
                })
                .await
                .err(),
            reviews.score(score()).await.err(),
            reviews.generate(generate()).await.err(),
        ];
        for answer in answers {
            let refused = answer.ok_or_else(|| anyhow::anyhow!("{site} was answered"))?;
            assert_eq!(
                refused.code(),
                Code::PermissionDenied,
                "{site}: {refused:?}"
            );
            assert!(refused.message().contains("staff"), "{refused:?}");
        }
    }
    let mut auditor = ReviewsClient::new(staff_channel(&board, &pki, "auditor").await?);
    auditor.list(pb::ListReportsRequest::default()).await?;
    for refused in [
        auditor.score(score()).await.unwrap_err(),
        auditor.generate(generate()).await.unwrap_err(),
    ] {
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        assert!(refused.message().contains("admin"), "{refused:?}");
    }
    board.stop().await
}
