//! The staff dashboard (issue 15, item 6) over real HTTP against a real gateway: one-time
//! sign-in links minted over mTLS, session cookies and expiry, the auditor's read-only role,
//! the sites' sync reports (each site reports only for itself), review reports scored through
//! the dashboard's forms, cross-site POSTs refused, and the audit browser with verify.

use std::time::Duration;

use hotline_federation::model::{
    EntityKey, EntityKind, FieldValue, StatusTransition, TicketField, TicketStatus,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::health::site_health;
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, federation_config};
use hotline_tests::sites::{RunningAdapter, adapter_config, eventually};
use hotline_tests::staff::{DashboardGateway, sampled_report};
use hotline_tests::web::{CodeSite, encode};

/// A dashboard gateway over a fresh PKI and store, tuned by `tune`.
async fn start(
    tune: impl FnOnce(&mut GatewayConfig),
) -> anyhow::Result<(DashboardGateway, Pki, tempfile::TempDir)> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    tune(&mut config);
    Ok((DashboardGateway::start(config).await?, pki, data))
}

/// A link opens one session with a cookie the browser keeps to itself (HttpOnly,
/// SameSite=Strict, Path=/staff); a second use, an unknown and a malformed token all get the
/// same answer byte for byte, so the page is no oracle for which links exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_link_works_once_and_refusals_look_alike() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let url = dash.mint(&pki, "alice", pb::DashboardRole::Admin).await?;
    assert!(url.contains("/staff/signin?token="), "{url}");
    let first = dash.get(&dash.path_of(&url)?, None).await?;
    assert_eq!(first.status, 303, "{}", first.body);
    assert_eq!(first.header("location"), Some("/staff/"));
    let cookie = first.header("set-cookie").unwrap_or_default().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/staff"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP listener: {cookie}");
    let id = cookie
        .split(';')
        .next()
        .and_then(|p| p.strip_prefix("hotline_staff="))
        .unwrap_or_default()
        .to_owned();
    assert_eq!(id.len(), 64, "256-bit session id as hex: {cookie}");

    let overview = dash.get("/staff/", Some(&id)).await?;
    assert_eq!(overview.status, 200, "{}", overview.body);
    assert!(overview.body.contains("alice (admin)"), "{}", overview.body);
    assert_eq!(overview.header("cache-control"), Some("no-store"));
    let csp = overview
        .header("content-security-policy")
        .unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(!overview.body.contains("<script"));

    let again = dash.get(&dash.path_of(&url)?, None).await?;
    let unknown = dash
        .get(&format!("/staff/signin?token={}", "ab".repeat(32)), None)
        .await?;
    let malformed = dash.get("/staff/signin?token=%3Cx%3E", None).await?;
    assert_eq!(again.status, 403);
    assert!(
        again.body.contains("used, expired or unknown"),
        "{}",
        again.body
    );
    assert!(again.header("set-cookie").is_none());
    assert_eq!(again.without_date(), unknown.without_date());
    assert_eq!(again.without_date(), malformed.without_date());
    dash.stop().await
}

/// A link past its TTL is refused like a used one, and a session ends after its idle time,
/// so a forgotten link or an unattended browser stops working on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_link_and_idle_session_are_refused() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|c| {
        c.dashboard.link_ttl_secs = 1;
        c.dashboard.session_idle_secs = 1;
        c.dashboard.session_max_secs = 60;
    })
    .await?;
    let used = dash.mint(&pki, "alice", pb::DashboardRole::Admin).await?;
    let late = dash.mint(&pki, "bob", pb::DashboardRole::Admin).await?;
    let id = dash
        .sign_in(&used)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    assert_eq!(dash.get("/staff/sites", Some(&id)).await?.status, 200);
    // The TTL and the idle time are both one second: wait them out.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let refused = dash.sign_in(&late).await?.expect_err("expired link");
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("used, expired or unknown"));
    let ended = dash.get("/staff/sites", Some(&id)).await?;
    assert_eq!(ended.status, 401, "{}", ended.body);
    assert_eq!(ended.header("cache-control"), Some("no-store"));
    dash.stop().await
}

/// An auditor's session reads every page but every POST under /staff/ is refused with 403
/// (except signing out, which ends its session); without a session a POST gets 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_session_is_read_only() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let auditor = dash.mint(&pki, "carol", pb::DashboardRole::Auditor).await?;
    let admin = dash.mint(&pki, "alice", pb::DashboardRole::Admin).await?;
    let carol = dash
        .sign_in(&auditor)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    let alice = dash
        .sign_in(&admin)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    for page in ["/staff/", "/staff/sites", "/staff/reviews", "/staff/audit"] {
        assert_eq!(dash.get(page, Some(&carol)).await?.status, 200, "{page}");
    }
    for path in [
        "/staff/sites",
        "/staff/",
        "/staff/reviews/score",
        "/staff/anything",
    ] {
        let refused = dash.post(path, Some(&carol)).await?;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        assert!(refused.body.contains("auditor role"), "{}", refused.body);
        // The admin passes the guard (and meets the route: no POST handler there).
        assert_ne!(dash.post(path, Some(&alice)).await?.status, 403, "{path}");
        assert_eq!(dash.post(path, None).await?.status, 401, "{path}");
    }
    let out = dash.post("/staff/signout", Some(&carol)).await?;
    assert_eq!(out.status, 200);
    assert!(
        out.header("set-cookie")
            .unwrap_or_default()
            .contains("Max-Age=0")
    );
    assert_eq!(dash.get("/staff/", Some(&carol)).await?.status, 401);
    dash.stop().await
}

/// Minting needs an admin certificate and a role: an auditor's certificate, a site's
/// certificate and a missing role are refused with clear errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_needs_an_admin_and_a_role() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let mut auditor = dash.admin(&pki, "auditor", "carol").await?;
    let request = |role: pb::DashboardRole| pb::MintDashboardLinkRequest {
        staff: "carol".into(),
        role: role as i32,
    };
    let refused = auditor
        .mint_dashboard_link(request(pb::DashboardRole::Auditor))
        .await
        .expect_err("auditor certificate");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let site = pki.site("twenty4help", "dortmund")?;
    let mut as_site =
        pb::admin_client::AdminClient::new(dash.gateway.channel(&pki, Some(&site)).await?);
    let refused = as_site
        .mint_dashboard_link(request(pb::DashboardRole::Admin))
        .await
        .expect_err("site certificate");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    let mut admin = dash.admin(&pki, "admin", "alice").await?;
    let refused = admin
        .mint_dashboard_link(request(pb::DashboardRole::Unspecified))
        .await
        .expect_err("no role");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("auditor"), "{refused:?}");
    dash.stop().await
}

/// A site's report lands under the site its certificate names and no other; a certificate
/// of an unregistered site cannot add an entry (the board stays bounded by the registry);
/// a report without a clock is refused. The sites page lists every registered site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn site_reports_count_only_for_the_calling_site() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let mut dortmund = dash
        .gateway
        .site_client(&pki, "twenty4help", "dortmund")
        .await?;
    let sent_at = now_ms();
    dortmund
        .report(pb::SiteReport {
            outbox_depth: 7,
            dead_letters: 3,
            cursor: 0,
            site_now_ms: sent_at + 120_000,
            retention_purged: 4,
            erased_dead_letters: Vec::new(),
        })
        .await?;
    let mut stranger = dash
        .gateway
        .site_client(&pki, "helpbycom", "leipzig")
        .await?;
    let refused = stranger
        .report(pb::SiteReport {
            outbox_depth: 1,
            dead_letters: 1,
            cursor: 0,
            site_now_ms: sent_at,
            retention_purged: 0,
            erased_dead_letters: Vec::new(),
        })
        .await
        .expect_err("unregistered site");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let refused = dortmund
        .report(pb::SiteReport::default())
        .await
        .expect_err("no clock");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(refused.message().contains("site_now_ms"), "{refused:?}");

    let state = &dash.gateway.state;
    assert_eq!(state.sites.len(), 1, "only dortmund is on the board");
    let health = site_health(state);
    let sites: Vec<&str> = health.iter().map(|h| h.site.as_str()).collect();
    assert_eq!(sites, ["dortmund", "erfurt", "goerlitz", "munich"]);
    let dortmund_health = &health[0];
    assert_eq!(dortmund_health.outbox_depth, Some(7));
    assert_eq!(dortmund_health.dead_letters, Some(3));
    assert_eq!(dortmund_health.retention_purged, Some(4));
    assert_eq!(dortmund_health.lag, Some(state.head()));
    let offset = dortmund_health.clock_offset_ms.unwrap_or_default();
    assert!((110_000..=120_000).contains(&offset), "{offset}");
    assert!(health[1..].iter().all(|h| h.outbox_depth.is_none()));

    let link = dash.mint(&pki, "alice", pb::DashboardRole::Auditor).await?;
    let id = dash
        .sign_in(&link)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    let page = dash.get("/staff/sites", Some(&id)).await?;
    for site in ["dortmund", "erfurt", "goerlitz", "munich"] {
        assert!(page.body.contains(site), "{site}: {}", page.body);
    }
    assert!(page.body.contains("class=\"num bad\">7<"), "{}", page.body);
    dash.stop().await
}

/// A real adapter's sync loop reports by itself: its cursor and clock reach the gateway and
/// its site shows as seen, without anyone asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapter_reports_its_sync_health() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let site_data = tempfile::tempdir()?;
    let mut config = adapter_config(
        &pki,
        "helpbycom",
        "erfurt",
        dash.gateway.addr,
        site_data.path(),
    )?;
    config.sync.report_interval_ms = 100;
    let adapter = RunningAdapter::start(config).await?;
    adapter.wait_for_numbers().await?;
    let state = dash.gateway.state.clone();
    eventually(10, "erfurt reported a cursor at the head", || {
        let state = state.clone();
        async move {
            let health = site_health(&state);
            let erfurt = health.iter().find(|h| h.site == "erfurt");
            Ok(erfurt.is_some_and(|h| {
                h.lag == Some(0) && h.outbox_depth == Some(0) && h.last_seen_ms.is_some()
            }))
        }
    })
    .await?;
    let erfurt = site_health(&state).into_iter().find(|h| h.site == "erfurt");
    let offset = erfurt.and_then(|h| h.clock_offset_ms).unwrap_or(i64::MAX);
    assert!(offset.abs() < 5_000, "same machine, same clock: {offset}");
    adapter.stop().await?;
    dash.stop().await
}

/// The overview counts first-contact resolution from resolved tickets per handling partner
/// and focus team, against the team's target, and says "no call data" for service level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_shows_fcr_per_partner_and_team() -> anyhow::Result<()> {
    let (dash, pki, _data) = start(|_| {}).await?;
    let mut dortmund = CodeSite::connect(&dash.gateway, &pki, "twenty4help", "dortmund").await?;
    for (seed, first) in [(1u8, true), (2, false)] {
        let (id, _) = dortmund.open_with_code("finance-hr", seed).await?;
        let result = dortmund.push(resolve(&id, first)).await?;
        assert!(
            matches!(
                result.outcome,
                Some(pb::change_result::Outcome::Accepted(_))
            ),
            "{result:?}"
        );
    }
    let link = dash.mint(&pki, "alice", pb::DashboardRole::Admin).await?;
    let id = dash
        .sign_in(&link)
        .await?
        .map_err(|a| anyhow::anyhow!("{a:?}"))?;
    let page = dash.get("/staff/", Some(&id)).await?;
    let row = page
        .body
        .split("<tr>")
        .find(|r| r.contains("<td>twenty4help</td><td>finance-hr</td>"))
        .unwrap_or_default();
    assert!(
        row.contains("no call data") && row.contains(">50.0 %<"),
        "{row}"
    );
    assert!(
        row.contains("class=\"num bad\""),
        "50 % is below the 75 % target: {row}"
    );
    for partner in ["inhouse", "twenty4help", "helpbycom"] {
        assert!(
            page.body.contains(&format!("<td>{partner}</td>")),
            "{partner}"
        );
    }
    assert!(page.body.contains("<svg"), "charts are drawn");
    dash.stop().await
}

/// A review-ready gateway: no scheduled reports (the test produces one), two tickets sampled.
async fn start_reviews() -> anyhow::Result<(DashboardGateway, Pki, tempfile::TempDir)> {
    start(|c| {
        c.review.enabled = false;
        c.review.sample_size = 2;
    })
    .await
}

/// Signs in through a fresh link for `staff` with `role`; the session id.
async fn session(
    dash: &DashboardGateway,
    pki: &Pki,
    staff: &str,
    role: pb::DashboardRole,
) -> anyhow::Result<String> {
    let link = dash.mint(pki, staff, role).await?;
    dash.sign_in(&link)
        .await?
        .map_err(|a| anyhow::anyhow!("sign-in refused: {a:?}"))
}

/// A score form's body for `ticket` with `points` per criterion.
fn score_form(ticket: &str, points: &[(&str, &str)], note: &str) -> String {
    let mut body = format!("ticket={}&note={}", encode(ticket), encode(note));
    for (criterion, value) in points {
        body.push_str(&format!("&c.{criterion}={}", encode(value)));
    }
    body
}

/// The reviews list shows a produced report linking to its page; an admin scores a sampled
/// ticket through the form and the re-rendered report shows it; a bad score says what was
/// wrong and stores nothing, so staff can score without the CLI and cannot store nonsense.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_are_listed_and_scored_through_the_form() -> anyhow::Result<()> {
    let (dash, pki, _data) = start_reviews().await?;
    let (id, sampled) = sampled_report(&dash, &pki).await?;
    assert_eq!(sampled.len(), 2, "{sampled:?}");
    let alice = session(&dash, &pki, "alice", pb::DashboardRole::Admin).await?;
    let list = dash.get("/staff/reviews", Some(&alice)).await?;
    assert_eq!(list.status, 200, "{}", list.body);
    let row = list
        .body
        .split("<tr>")
        .find(|r| r.contains(&id))
        .unwrap_or_default();
    assert!(
        row.contains(&format!("href=\"/staff/reviews/{id}\"")) && row.contains(">2</td>"),
        "{row}"
    );
    let path = format!("/staff/reviews/{id}");
    let page = dash.get(&path, Some(&alice)).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<article id=\"report\">"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<style>") && !page.body.contains("<script"));
    assert_eq!(page.body.matches("<form class=\"score\"").count(), 2);

    let score_path = format!("{path}/score");
    for (form, expected) in [
        (
            score_form(&sampled[0], &[("solution_correct", "7")], ""),
            "criterion solution_correct: &quot;7&quot; is not a score; allowed: 0 (no)",
        ),
        (
            score_form(&sampled[0], &[("solution_correct", "2")], ""),
            "not scored: brand_voice, documentation_complete",
        ),
        (
            score_form("NOT-SAMPLED", &[("solution_correct", "2")], ""),
            "is not in this report&#39;s quality sample",
        ),
    ] {
        let refused = dash
            .post_form(&score_path, Some(&alice), &form, Some(""))
            .await?;
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(
            refused.body.contains("Score not saved: "),
            "{}",
            refused.body
        );
        assert!(
            refused.body.contains(expected),
            "{expected}: {}",
            refused.body
        );
    }
    let stored = hotline_gateway::review::read_report(&dash.gateway.state, &id)?;
    assert!(
        stored.expect("stored").scores.is_empty(),
        "a refused score stores nothing"
    );

    let good = score_form(
        &sampled[0],
        &[
            ("solution_correct", "2"),
            ("brand_voice", "1"),
            ("documentation_complete", "0"),
        ],
        "checked <the> call",
    );
    let saved = dash
        .post_form(&score_path, Some(&alice), &good, Some(""))
        .await?;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let back = saved.header("location").unwrap_or_default().to_owned();
    assert!(back.starts_with(&format!("{path}?saved=")), "{back}");
    let after = dash.get(&back, Some(&alice)).await?;
    assert!(
        after
            .body
            .contains("<p class=\"ok\" role=\"status\" id=\"notice\">Score of")
    );
    let scored_row = format!(
        "<td>{}</td><td>twenty4help</td><td>goerlitz</td><td>2</td><td>1</td><td>0</td>\
         <td>checked &lt;the&gt; call</td><td>alice, ",
        sampled[0]
    );
    assert!(after.body.contains(&scored_row), "{}", after.body);
    dash.stop().await
}

/// An auditor reads the reviews and the report without scoring forms and gets 403 on the
/// score POST; a POST from another origin is refused even for an admin (and leaves a session
/// signed in), so a forged page cannot act in a staff member's name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditors_read_reviews_only_and_cross_origin_posts_are_refused() -> anyhow::Result<()> {
    let (dash, pki, _data) = start_reviews().await?;
    let (id, sampled) = sampled_report(&dash, &pki).await?;
    let carol = session(&dash, &pki, "carol", pb::DashboardRole::Auditor).await?;
    let alice = session(&dash, &pki, "alice", pb::DashboardRole::Admin).await?;
    let path = format!("/staff/reviews/{id}");
    assert!(
        dash.get("/staff/reviews", Some(&carol))
            .await?
            .body
            .contains(&id)
    );
    let page = dash.get(&path, Some(&carol)).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<article id=\"report\">"));
    assert!(
        !page.body.contains("<form class=\"score\""),
        "{}",
        page.body
    );
    let full = score_form(
        &sampled[0],
        &[
            ("solution_correct", "2"),
            ("brand_voice", "2"),
            ("documentation_complete", "2"),
        ],
        "",
    );
    let score_path = format!("{path}/score");
    let refused = dash
        .post_form(&score_path, Some(&carol), &full, Some(""))
        .await?;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("auditor role"));

    let evil = Some("https://evil.example");
    let forged = dash
        .post_form(&score_path, Some(&alice), &full, evil)
        .await?;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(
        forged
            .body
            .contains("came from origin &quot;https://evil.example&quot;"),
        "{}",
        forged.body
    );
    let out = dash
        .post_form("/staff/signout", Some(&alice), "", evil)
        .await?;
    assert_eq!(out.status, 403, "{}", out.body);
    assert_eq!(
        dash.get("/staff/", Some(&alice)).await?.status,
        200,
        "still signed in"
    );
    let stored = hotline_gateway::review::read_report(&dash.gateway.state, &id)?;
    assert!(stored.expect("stored").scores.is_empty(), "nothing stored");
    dash.stop().await
}

/// The audit page lists the dashboard's staff actions (the link minted, the sign-in, the
/// score) with their actors, filters by actor, and verify says the trail is intact, so an
/// auditor can check who did what from the browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_page_lists_staff_actions_filters_and_verifies() -> anyhow::Result<()> {
    let (dash, pki, _data) = start_reviews().await?;
    let (id, sampled) = sampled_report(&dash, &pki).await?;
    let alice = session(&dash, &pki, "alice", pb::DashboardRole::Admin).await?;
    let full = score_form(
        &sampled[1],
        &[
            ("solution_correct", "1"),
            ("brand_voice", "1"),
            ("documentation_complete", "1"),
        ],
        "",
    );
    let path = format!("/staff/reviews/{id}/score");
    assert_eq!(
        dash.post_form(&path, Some(&alice), &full, Some(""))
            .await?
            .status,
        303
    );
    let carol = session(&dash, &pki, "carol", pb::DashboardRole::Auditor).await?;

    let page = dash.get("/staff/audit", Some(&carol)).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    let rows: Vec<&str> = page.body.split("<tr>").skip(2).collect();
    let has = |actor: &str, action: &str, subject: &str| {
        rows.iter().any(|r| {
            r.contains(&format!(
                "<td>{actor}</td><td>{action}</td><td>{subject}</td>"
            ))
        })
    };
    assert!(
        has("staff:admin:alice", "dashboard.link_minted", "staff/carol"),
        "{}",
        page.body
    );
    assert!(has("staff:admin:alice", "dashboard.sign_in", "staff/alice"));
    assert!(has(
        "staff:auditor:carol",
        "dashboard.sign_in",
        "staff/carol"
    ));
    assert!(has(
        "staff:admin:alice",
        "review.score",
        &format!("review/{id}")
    ));
    assert!(
        !rows.iter().any(|r| r.contains("token")),
        "no token in the trail"
    );

    let mine = dash
        .get(
            &format!("/staff/audit?actor={}", encode("staff:auditor:carol")),
            Some(&carol),
        )
        .await?;
    let rows: Vec<&str> = mine.body.split("<tr>").skip(2).collect();
    assert!(rows.len() >= 2, "{}", mine.body);
    assert!(
        rows.iter()
            .all(|r| r.contains("<td>staff:auditor:carol</td>")),
        "{}",
        mine.body
    );
    let bad = dash
        .get("/staff/audit?from=yesterday", Some(&carol))
        .await?;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body
            .contains("from: &quot;yesterday&quot; is not a time; allowed: YYYY-MM-DD")
    );

    let verify = dash.get("/staff/audit/verify", Some(&carol)).await?;
    assert_eq!(verify.status, 200, "{}", verify.body);
    assert!(
        verify
            .body
            .contains("<p class=\"ok\" id=\"verdict\">Intact: "),
        "{}",
        verify.body
    );
    let after = dash
        .get("/staff/audit?actor=staff%3Aauditor%3Acarol", Some(&carol))
        .await?;
    assert!(
        after.body.contains("<td>audit.verify</td>"),
        "the verify run is recorded"
    );
    dash.stop().await
}

/// A change resolving ticket `id`, solved in the first contact or not.
fn resolve(id: &str, first_contact: bool) -> Change {
    let set = |f: TicketField| FieldOp::Set(FieldValue::Ticket(f));
    Change {
        key: EntityKey::new(EntityKind::Ticket, id),
        ops: vec![
            set(TicketField::Status(StatusTransition {
                from: Some(TicketStatus::New),
                to: TicketStatus::Resolved,
            })),
            set(TicketField::FirstContact(first_contact)),
            set(TicketField::ResolvedAt(now_ms())),
        ],
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    }
}
