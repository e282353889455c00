//! Attacks on issue 14's promises: customer-visible text never names a tenant, site or agent in
//! any spelling; drafts never reach a partner; suggestions stay with their tenant and only
//! in-house decides; only in-house publishes; an access code is written once; the status page
//! tells a wrong code from a missing ticket by nothing. Each test asserts the correct
//! behaviour, so a failing test shows a hole; real gateways and adapters over mTLS on loopback.

use std::time::Duration;

use hotline_federation::authority::Rule;
use hotline_federation::model::{
    ArticleField, ArticleState, BrandField, Comment, EntityKey, EntityKind, FieldValue,
    SuggestionField, SuggestionState, TicketField, Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, federation_config};
use hotline_tests::sites::{RunningAdapter, eventually};
use hotline_tests::web::{CodeSite, HttpAnswer, StatusPageGateway};
use serde_json::{Value, json};

/// The rule a push was refused by, if it was refused with one.
fn refused_rule(result: &pb::ChangeResult) -> Option<Rule> {
    match &result.outcome {
        Some(pb::change_result::Outcome::Rejected(r)) => Rule::from_name(&r.rule),
        _ => None,
    }
}

fn accepted(result: &pb::ChangeResult) -> bool {
    matches!(
        &result.outcome,
        Some(pb::change_result::Outcome::Accepted(_))
    )
}

/// A federation whose partner tenant twenty4help is called "Twenty4Help GmbH" and site goerlitz
/// "Görlitz", with its status page, and a site of each tenant pushing over raw mTLS.
struct World {
    page: StatusPageGateway,
    munich: CodeSite,
    dortmund: CodeSite,
    erfurt: CodeSite,
    _pki: Pki,
    _data: tempfile::TempDir,
}

fn named(config: &mut GatewayConfig) {
    for site in &mut config.sites {
        if site.id == "goerlitz" {
            site.name = Some("Görlitz".into());
        }
    }
    for tenant in &mut config.tenants {
        if tenant.id == "twenty4help" {
            tenant.name = "Twenty4Help GmbH".into();
        }
    }
}

impl World {
    async fn start(tune: impl FnOnce(&mut GatewayConfig)) -> anyhow::Result<World> {
        let pki = Pki::new()?;
        let data = tempfile::tempdir()?;
        let mut config = federation_config(&pki, data.path());
        named(&mut config);
        tune(&mut config);
        let page = StatusPageGateway::start(config).await?;
        let munich = CodeSite::connect(&page.gateway, &pki, "inhouse", "munich").await?;
        let dortmund = CodeSite::connect(&page.gateway, &pki, "twenty4help", "dortmund").await?;
        let erfurt = CodeSite::connect(&page.gateway, &pki, "helpbycom", "erfurt").await?;
        Ok(World {
            page,
            munich,
            dortmund,
            erfurt,
            _pki: pki,
            _data: data,
        })
    }

    async fn status(&self, number: &str, code: &str) -> anyhow::Result<HttpAnswer> {
        self.page
            .post_form("/status", &[("number", number), ("code", code)], &[])
            .await
    }
}

/// Spellings of twenty4help ("Twenty4Help GmbH"), dortmund, goerlitz ("Görlitz") and erfurt a
/// customer reads as the name.
const DISGUISED: &[&str] = &[
    "Ihr Team von Twenty\u{200b}4\u{200c}Help",
    "Ihr Team von Twe\u{301}nty4He\u{301}lp",
    "Ihr Team von \u{422}w\u{435}nty4\u{41d}\u{435}l\u{440}",
    "Ihr Team von Twenty4\u{4bb}elp",
    "Ihr Team von \u{3a4}wenty4\u{397}elp",
    "Ihr Team von \u{ff34}\u{ff57}\u{ff45}\u{ff4e}\u{ff54}\u{ff59}\u{ff14}\u{ff28}\u{ff45}\u{ff4c}\u{ff50}",
    "Ihr Team von \u{1d413}\u{1d430}\u{1d41e}\u{1d427}\u{1d42d}\u{1d432}\u{1d7d2}\u{1d407}\u{1d41e}\u{1d425}\u{1d429}",
    "Ihr Team von \u{24c9}\u{24e6}\u{24d4}\u{24dd}\u{24e3}\u{24e8}4\u{24bd}\u{24d4}\u{24db}\u{24df}",
    "Ihr Team von Twenty&#52;Help",
    "Ihr Team von Twenty&#x34;Help",
    "Ihr Team von Tw&eacute;nty4Help",
    "Ihr Team von [Twenty4Help](https://example.com)",
    "Ihr Team von Twenty<b></b>4<i></i>Help",
    "Ihr Team von Twenty\n4\nHelp",
    "Ihr Team von 24 Help",
    "Ihr Team von Tw3nty four Help",
    "Ihr Team von twenty f0ur help",
    "Ihr Team von vierundzwanzig Help",
    "Ihr Team von T w e n t y 4 H e l p",
    "Ihr Team von \u{202e}pleH4ytnewT\u{202c}",
    "Grüße aus Dörtmund",
    "Grüße aus Erfürt",
    "Grüße aus Gorlitz",
    "Grüße aus G\u{f6}rlitz",
];

/// Leak-guard bypasses over a raw gRPC push to the gateway with a site's certificate: every
/// spelling of a partner or site name in a public comment is refused (`customer_text_clean`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disguised_names_are_refused_on_a_raw_push_to_the_gateway() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, _) = world.dortmund.open_with_code("finance-hr", 1).await?;
    let mut passed = Vec::new();
    for text in DISGUISED {
        let result = world
            .dortmund
            .comment(&number, Visibility::Public, text)
            .await?;
        if refused_rule(&result) != Some(Rule::CustomerTextClean) {
            passed.push(*text);
        }
    }
    assert!(
        passed.is_empty(),
        "the gateway let these through: {passed:#?}"
    );
    world.page.stop().await
}

/// Leak-guard bypasses at the adapter's API: every spelling of a partner or site name in a
/// public comment is 422 `customer_text_clean` before anything is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disguised_names_are_refused_at_the_adapter() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut config = federation_config(&pki, dirs[0].path());
    named(&mut config);
    let gateway = hotline_tests::harness::RunningGateway::start(config).await?;
    let site = RunningAdapter::for_site(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )
    .await?;
    site.wait_for_numbers().await?;
    eventually(10, "the site knows every name", || async {
        Ok(site
            .replica
            .guard_terms()?
            .iter()
            .any(|t| t == "Twenty4Help GmbH"))
    })
    .await?;
    let body = json!({ "customer_ref": "A14-1", "focus_team": "finance-hr", "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &body, 201).await?;
    let path = format!(
        "/v1/tickets/{}/comments",
        ticket["number"].as_str().unwrap_or_default()
    );
    let mut passed = Vec::new();
    for text in DISGUISED {
        let comment = json!({ "author_alias": "Advisor 7", "visibility": "public", "body": text });
        let (status, answer) = site.api.call("POST", &path, &comment).await?;
        if status != 422 || !answer.to_string().contains("customer_text_clean") {
            passed.push((*text, status));
        }
    }
    assert!(
        passed.is_empty(),
        "the adapter let these through: {passed:#?}"
    );
    site.stop().await?;
    gateway.stop().await
}

/// A name split across two public comments ("... Twenty4" then "Help ...") reads whole on the
/// status page, where the messages stand one under the other; the second half is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_split_across_two_public_comments_is_refused() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, _) = world.dortmund.open_with_code("finance-hr", 2).await?;
    let first = world
        .dortmund
        .comment(&number, Visibility::Public, "Ihr Team von Twenty")
        .await?;
    assert!(accepted(&first), "{first:?}");
    let second = world
        .dortmund
        .comment(&number, Visibility::Public, "4 Help meldet sich morgen")
        .await?;
    assert_eq!(
        refused_rule(&second),
        Some(Rule::CustomerTextClean),
        "the second half was stored: {second:?}"
    );
    world.page.stop().await
}

/// A site signing a public comment as the customer (exactly `customer`) over a raw push is
/// refused: the status page would show the site's words as the customer's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_cannot_sign_a_public_comment_as_the_customer() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, _) = world.dortmund.open_with_code("finance-hr", 3).await?;
    let change = Change {
        key: EntityKey::new(EntityKind::Ticket, &number),
        ops: vec![FieldOp::AddComment(Comment {
            id: "dortmund-90".into(),
            author_alias: "customer".into(),
            author_tenant: "twenty4help".into(),
            visibility: Visibility::Public,
            body: "Danke, Sie können das Ticket schließen.".into(),
            created_at_ms: now_ms(),
            attachments: Vec::new(),
        })],
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(0, 0),
    };
    let result = world.dortmund.push(change).await?;
    assert_eq!(refused_rule(&result), Some(Rule::CustomerTextClean));
    world.page.stop().await
}

/// Writes only in-house may make, pushed raw by a partner site with its own certificate: a new
/// access code on an existing ticket (even the opening site's), the brand, an article
/// published, another tenant's suggestion decided. All refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_cannot_rewrite_a_code_publish_or_decide_by_raw_push() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 4).await?;
    let change = |kind, id: &str, ops: Vec<FieldValue>| Change {
        key: EntityKey::new(kind, id),
        ops: ops.into_iter().map(FieldOp::Set).collect(),
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(0, 0),
    };
    let minted = hotline_federation::access::mint(&[7; hotline_federation::access::RANDOM_BYTES]);
    let rewrite = change(
        EntityKind::Ticket,
        &number,
        vec![FieldValue::Ticket(TicketField::AccessCode(minted.stored))],
    );
    let result = world.dortmund.push(rewrite).await?;
    assert_eq!(refused_rule(&result), Some(Rule::AccessCodeOnce));
    assert_eq!(world.status(&number, &code).await?.status, 200);
    assert_eq!(world.status(&number, &minted.code).await?.status, 404);

    let brand = change(
        EntityKind::Brand,
        "brand",
        vec![FieldValue::Brand(BrandField::DisplayName(
            "Twenty4Help".into(),
        ))],
    );
    assert!(!accepted(&world.dortmund.push(brand).await?));
    let article = change(
        EntityKind::Article,
        "vpn-en",
        vec![
            FieldValue::Article(ArticleField::Title("VPN".into())),
            FieldValue::Article(ArticleField::Body("Call Twenty4Help".into())),
            FieldValue::Article(ArticleField::State(ArticleState::Published)),
        ],
    );
    assert!(!accepted(&world.dortmund.push(article).await?));

    let proposal = change(
        EntityKind::Suggestion,
        "dortmund-77",
        vec![
            FieldValue::Suggestion(SuggestionField::ArticleId("vpn-en".into())),
            FieldValue::Suggestion(SuggestionField::BaseVersion(0)),
            FieldValue::Suggestion(SuggestionField::AuthorTenant("twenty4help".into())),
            FieldValue::Suggestion(SuggestionField::State(SuggestionState::Open)),
            FieldValue::Suggestion(SuggestionField::ProposedTitle("VPN".into())),
        ],
    );
    assert!(accepted(&world.dortmund.push(proposal).await?));
    let decide = |state| {
        change(
            EntityKind::Suggestion,
            "dortmund-77",
            vec![FieldValue::Suggestion(SuggestionField::State(state))],
        )
    };
    for state in [SuggestionState::Accepted, SuggestionState::Rejected] {
        assert!(!accepted(&world.erfurt.push(decide(state)).await?));
        assert!(!accepted(&world.dortmund.push(decide(state)).await?));
    }
    assert!(accepted(
        &world.munich.push(decide(SuggestionState::Rejected)).await?
    ));
    world.page.stop().await
}

/// A wrong code, a missing ticket and a malformed number answer alike on `/reply` too (bytes
/// and headers but Date, no cookie, never cached), and no sooner than the floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_answers_alike_for_wrong_code_missing_and_malformed() -> anyhow::Result<()> {
    let mut world = World::start(|c| c.web.attempts_per_client_per_minute = 1000).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 5).await?;
    let missing = number.replace("-0000", "-0009");
    let floor =
        Duration::from_millis(hotline_gateway::config::WebConfig::default().answer_floor_ms);
    let mut answers = Vec::new();
    for (number, code) in [
        (number.as_str(), "AAAAA-AAAAA"),
        (missing.as_str(), "AAAAA-AAAAA"),
        ("ASZ-2026-00000x", "AAAAA-AAAAA"),
        ("", ""),
    ] {
        let started = std::time::Instant::now();
        let answer = world
            .page
            .post_form(
                "/reply",
                &[("number", number), ("code", code), ("body", "Hallo?")],
                &[],
            )
            .await?;
        assert!(started.elapsed() >= floor, "answered before the floor");
        assert!(answer.header("set-cookie").is_none());
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        answers.push(answer.without_date());
    }
    assert_eq!(answers[0].0, 404);
    for other in &answers[1..] {
        assert_eq!(other, &answers[0]);
    }
    assert_eq!(world.status(&number, &code).await?.status, 200);
    world.page.stop().await
}

/// Many wrong codes for one ticket sent at once (a brute force spread over connections): the
/// per-ticket limit of 3 failures holds, so at most 3 of them are checked (404) and the rest
/// get 429, for an existing ticket exactly as for a missing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_codes_stay_within_the_per_ticket_limit() -> anyhow::Result<()> {
    let mut world = World::start(|c| {
        c.web.attempts_per_client_per_minute = 1000;
        c.web.failures_per_ticket_per_15_minutes = 3;
    })
    .await?;
    let (number, _) = world.dortmund.open_with_code("finance-hr", 6).await?;
    let missing = number.replace("-0000", "-0009");
    for target in [number.as_str(), missing.as_str()] {
        let attempts = (0..20).map(|i| {
            let code = format!("AAAA{}-AAAAA", (b'A' + i as u8) as char);
            let page = &world.page;
            async move {
                page.post_form("/status", &[("number", target), ("code", &code)], &[])
                    .await
            }
        });
        let answers = futures_util::future::join_all(attempts).await;
        let checked = answers
            .iter()
            .filter(|a| a.as_ref().is_ok_and(|a| a.status == 404))
            .count();
        assert!(
            checked <= 3,
            "{target}: {checked} wrong codes were checked against a limit of 3"
        );
    }
    world.page.stop().await
}

/// Starts the adapter of `site` of `tenant` in `dir` and waits for its first snapshot.
async fn adapter(
    pki: &Pki,
    gateway: std::net::SocketAddr,
    tenant: &str,
    site: &str,
    dir: &std::path::Path,
) -> anyhow::Result<RunningAdapter> {
    let site = RunningAdapter::for_site(pki, tenant, site, gateway, dir).await?;
    site.wait_for_numbers().await?;
    Ok(site)
}

/// Waits until `site` has applied the gateway's log up to its head.
async fn synced(
    site: &RunningAdapter,
    gateway: &hotline_tests::harness::RunningGateway,
) -> anyhow::Result<()> {
    eventually(20, "the site caught up", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await
}

/// Asserts that nothing `site` holds or answers contains `secret`: its replica, its article
/// list and the article, and its search.
async fn holds_no(site: &RunningAdapter, secret: &str, what: &str) -> anyhow::Result<()> {
    let replica = format!("{:?}", site.snapshot()?);
    assert!(
        !replica.contains(secret),
        "{what}: the replica holds {secret}"
    );
    for path in [
        "/v1/kb/articles".to_owned(),
        "/v1/kb/articles/vpn-en".to_owned(),
        "/v1/kb/articles/secret-en".to_owned(),
        format!("/v1/kb/search?q={secret}&lang=en"),
        "/v1/kb/search?q=Geheimplan&lang=en".to_owned(),
    ] {
        let (_, mut answer) = site.api.call("GET", &path, &Value::Null).await?;
        // A search answer repeats the query; only its hits count.
        if let Some(hits) = answer.get("hits").cloned() {
            answer = hits;
        }
        assert!(
            !answer.to_string().contains(secret) && !answer.to_string().contains("Geheimplan"),
            "{what}: GET {path} shows the draft: {answer}"
        );
    }
    Ok(())
}

/// Drafts never reach a partner: one written while the partner is online (live tail), one
/// written while it is offline (catch-up on restart), and a never-published article, seen by a
/// site that starts afterwards (snapshot); none is in the replica, the API or the search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drafts_never_reach_a_partner_by_tail_catch_up_or_snapshot() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway =
        hotline_tests::harness::RunningGateway::start(federation_config(&pki, dirs[0].path()))
            .await?;
    let munich = adapter(&pki, gateway.addr, "inhouse", "munich", dirs[1].path()).await?;
    let article = json!({ "id": "vpn-en", "language": "en", "title": "Connecting to the VPN",
        "body": "Start the client and sign in.", "tags": ["VPN"], "focus_teams": [] });
    munich
        .api
        .expect("POST", "/v1/kb/articles", &article, 201)
        .await?;
    munich
        .api
        .expect("POST", "/v1/kb/articles/vpn-en/publish", &Value::Null, 200)
        .await?;
    let dortmund = adapter(
        &pki,
        gateway.addr,
        "twenty4help",
        "dortmund",
        dirs[2].path(),
    )
    .await?;
    let draft = |secret: &str| {
        json!({ "language": "en", "title": format!("VPN {secret}"),
            "body": format!("Geheimplan {secret}: the new gateway."), "tags": [secret] })
    };
    munich
        .api
        .expect(
            "PUT",
            "/v1/kb/articles/vpn-en/draft",
            &draft("Xylophon1"),
            200,
        )
        .await?;
    synced(&munich, &gateway).await?;
    synced(&dortmund, &gateway).await?;
    holds_no(&dortmund, "Xylophon1", "live tail").await?;
    dortmund.stop().await?;

    munich
        .api
        .expect(
            "PUT",
            "/v1/kb/articles/vpn-en/draft",
            &draft("Xylophon2"),
            200,
        )
        .await?;
    let secret = json!({ "id": "secret-en", "language": "en", "title": "Xylophon3 plan",
        "body": "Geheimplan Xylophon3", "tags": [], "focus_teams": [] });
    munich
        .api
        .expect("POST", "/v1/kb/articles", &secret, 201)
        .await?;
    synced(&munich, &gateway).await?;
    let dortmund = adapter(
        &pki,
        gateway.addr,
        "twenty4help",
        "dortmund",
        dirs[2].path(),
    )
    .await?;
    let erfurt = adapter(&pki, gateway.addr, "helpbycom", "erfurt", dirs[3].path()).await?;
    for (site, what) in [(&dortmund, "catch-up"), (&erfurt, "snapshot")] {
        synced(site, &gateway).await?;
        for secret in ["Xylophon1", "Xylophon2", "Xylophon3"] {
            holds_no(site, secret, what).await?;
        }
        let (_, held) = site
            .api
            .call("GET", "/v1/kb/articles/vpn-en", &Value::Null)
            .await?;
        assert!(
            held.to_string().contains("Start the client"),
            "{what}: {held}"
        );
    }
    for site in [dortmund, erfurt, munich] {
        site.stop().await?;
    }
    gateway.stop().await
}

/// A partner reads only its own tenant's suggestions: another tenant's site gets 404 for the
/// id and does not list it, and may not accept it through its API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_neither_reads_nor_decides_another_tenants_suggestion() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway =
        hotline_tests::harness::RunningGateway::start(federation_config(&pki, dirs[0].path()))
            .await?;
    let dortmund = adapter(
        &pki,
        gateway.addr,
        "twenty4help",
        "dortmund",
        dirs[1].path(),
    )
    .await?;
    let erfurt = adapter(&pki, gateway.addr, "helpbycom", "erfurt", dirs[2].path()).await?;
    let proposal = json!({ "article_id": "printer-en", "title": "Printer offline",
        "body": "Turn it off and on. Quokka7", "language": "en" });
    let made = dortmund
        .api
        .expect("POST", "/v1/kb/suggestions", &proposal, 201)
        .await?;
    let id = made["id"].as_str().unwrap_or_default().to_owned();
    synced(&dortmund, &gateway).await?;
    synced(&erfurt, &gateway).await?;
    let (status, _) = erfurt
        .api
        .call("GET", &format!("/v1/kb/suggestions/{id}"), &Value::Null)
        .await?;
    assert_eq!(status, 404);
    let (_, list) = erfurt
        .api
        .call("GET", "/v1/kb/suggestions", &Value::Null)
        .await?;
    assert!(!list.to_string().contains("Quokka7"), "{list}");
    let (status, _) = erfurt
        .api
        .call(
            "POST",
            &format!("/v1/kb/suggestions/{id}/accept"),
            &Value::Null,
        )
        .await?;
    assert!((400..500).contains(&status), "erfurt accepted it: {status}");
    let (status, _) = dortmund
        .api
        .call(
            "POST",
            &format!("/v1/kb/suggestions/{id}/accept"),
            &Value::Null,
        )
        .await?;
    assert!(
        (400..500).contains(&status),
        "dortmund accepted its own: {status}"
    );
    dortmund.stop().await?;
    erfurt.stop().await?;
    gateway.stop().await
}
