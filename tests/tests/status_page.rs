//! The customer's status page (issue 14, items 5 and 6) against a real gateway: real mTLS
//! pushes from sites, the web listener on a real loopback socket, answers compared byte for
//! byte.

use std::time::{Duration, Instant};

use hotline_federation::authority::Rule;
use hotline_federation::model::{BrandField, EntityKey, EntityKind, FieldValue, Visibility};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, collect_until, federation_config};
use hotline_tests::web::{CodeSite, HttpAnswer, StatusPageGateway};

/// The brand the tests publish from munich (in-house).
fn brand_change(extra: Vec<BrandField>) -> Change {
    let mut fields = vec![
        BrandField::DisplayName("Konzern IT-Hotline".into()),
        BrandField::HotlineNumber("+49 89 4711 0".into()),
        BrandField::Signature("Ihr IT-Service".into()),
        BrandField::AccentColor("#0b5394".into()),
        BrandField::AliasPatterns(vec!["advisor-#".into()]),
    ];
    fields.extend(extra);
    Change {
        key: EntityKey::new(EntityKind::Brand, "brand"),
        ops: fields
            .into_iter()
            .map(|f| FieldOp::Set(FieldValue::Brand(f)))
            .collect(),
        origin_site: "munich".into(),
        origin_seq: 0,
        hlc: Hlc::new(now_ms(), 0),
    }
}

/// A federation with its status page and a published brand; sites named as customers would
/// know them.
struct World {
    page: StatusPageGateway,
    munich: CodeSite,
    dortmund: CodeSite,
    erfurt: CodeSite,
    _pki: Pki,
    _data: tempfile::TempDir,
}

impl World {
    async fn start(tune: impl FnOnce(&mut GatewayConfig)) -> anyhow::Result<World> {
        let pki = Pki::new()?;
        let data = tempfile::tempdir()?;
        let mut config = federation_config(&pki, data.path());
        for site in &mut config.sites {
            site.name = Some(match site.id.as_str() {
                "goerlitz" => "Görlitz".into(),
                other => format!("Standort {other}"),
            });
        }
        for tenant in &mut config.tenants {
            if tenant.id == "twenty4help" {
                tenant.name = "Twenty4Help GmbH".into();
            }
        }
        tune(&mut config);
        let page = StatusPageGateway::start(config).await?;
        let mut munich = CodeSite::connect(&page.gateway, &pki, "inhouse", "munich").await?;
        let dortmund = CodeSite::connect(&page.gateway, &pki, "twenty4help", "dortmund").await?;
        let erfurt = CodeSite::connect(&page.gateway, &pki, "helpbycom", "erfurt").await?;
        ok(&munich.push(brand_change(Vec::new())).await?)?;
        Ok(World {
            page,
            munich,
            dortmund,
            erfurt,
            _pki: pki,
            _data: data,
        })
    }

    async fn status(
        &self,
        number: &str,
        code: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<HttpAnswer> {
        self.page
            .post_form("/status", &[("number", number), ("code", code)], headers)
            .await
    }
}

fn ok(result: &pb::ChangeResult) -> anyhow::Result<()> {
    match &result.outcome {
        Some(pb::change_result::Outcome::Accepted(_)) => Ok(()),
        other => anyhow::bail!("not accepted: {other:?}"),
    }
}

fn refused_rule(result: &pb::ChangeResult) -> Option<(Rule, String)> {
    match &result.outcome {
        Some(pb::change_result::Outcome::Rejected(r)) => {
            Rule::from_name(&r.rule).map(|rule| (rule, r.message.clone()))
        }
        _ => None,
    }
}

/// Every way the page could betray who handled the ticket.
const NEVER_SHOWN: &[&str] = &[
    "twenty4help",
    "Twenty4Help",
    "helpbycom",
    "dortmund",
    "Dortmund",
    "goerlitz",
    "Görlitz",
    "erfurt",
    "munich",
    "inhouse",
    "Advisor",
    "finance-hr",
    "Erika",
    "VPN drops",
];

/// A right code shows the status in the customer's words and the public history signed by
/// the brand, as HTML and as JSON; internal comments and everything about the handling site
/// stay out.
#[tokio::test]
async fn right_code_shows_status_and_public_history() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 1).await?;
    ok(&world
        .dortmund
        .comment(
            &number,
            Visibility::Public,
            "Wir haben Ihr VPN-Profil erneuert.",
        )
        .await?)?;
    ok(&world
        .dortmund
        .comment(&number, Visibility::Federation, "intern: Kunde ruft oft an")
        .await?)?;
    let answer = world.status(&number, &code, &[]).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for shown in [
        number.as_str(),
        "Eingegangen",
        "Wir haben Ihr VPN-Profil erneuert.",
        "Ihr IT-Service",
        "Konzern IT-Hotline",
        "+49 89 4711 0",
        "<html lang=\"de\">",
    ] {
        assert!(
            answer.body.contains(shown),
            "missing {shown:?}: {}",
            answer.body
        );
    }
    for hidden in NEVER_SHOWN.iter().chain(&["intern: Kunde"]) {
        assert!(!answer.body.contains(hidden), "page shows {hidden:?}");
    }
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let json = hotline_tests::web::request(
        world.page.web,
        "POST",
        "/api/status",
        &[("Content-Type", "application/json")],
        serde_json::json!({"number": number, "code": code.to_lowercase()})
            .to_string()
            .as_bytes(),
    )
    .await?;
    assert_eq!(json.status, 200, "{}", json.body);
    let view: serde_json::Value = serde_json::from_str(&json.body)?;
    assert_eq!(view["public_number"], number.as_str());
    assert_eq!(view["status"], "new");
    assert_eq!(view["messages"][0]["signed"], "Ihr IT-Service");
    assert_eq!(view["messages"].as_array().map(Vec::len), Some(1));
    for hidden in NEVER_SHOWN {
        assert!(!json.body.contains(hidden), "JSON shows {hidden:?}");
    }
    world.page.stop().await
}

/// A wrong code, a missing ticket, a deleted ticket and a malformed number get the same answer
/// byte for byte (all but Date), as HTML and as JSON, so the page tells an attacker nothing;
/// prints the mean time of wrong-code and missing-ticket answers.
#[tokio::test]
async fn wrong_missing_deleted_and_malformed_answer_alike() -> anyhow::Result<()> {
    let mut world = World::start(|c| c.web.attempts_per_client_per_minute = 1000).await?;
    let (number, _code) = world.dortmund.open_with_code("finance-hr", 2).await?;
    let (deleted, deleted_code) = world.dortmund.open_with_code("finance-hr", 3).await?;
    let delete = Change {
        key: EntityKey::new(EntityKind::Ticket, &deleted),
        ops: vec![FieldOp::Delete {
            reason: "test".into(),
        }],
        origin_site: String::new(),
        origin_seq: 0,
        hlc: Hlc::new(0, 0),
    };
    ok(&world.munich.push(delete).await?)?;
    let missing = number.replace("-0000", "-0009");
    let cases = [
        ("wrong code", number.as_str(), "AAAAA-AAAAA"),
        ("missing", missing.as_str(), "AAAAA-AAAAA"),
        ("deleted", deleted.as_str(), deleted_code.as_str()),
        ("malformed", "not a number", "AAAAA-AAAAA"),
    ];
    let mut answers = Vec::new();
    for (what, number, code) in cases {
        let html = world.status(number, code, &[]).await?;
        let json = hotline_tests::web::request(
            world.page.web,
            "POST",
            "/api/status",
            &[],
            serde_json::json!({"number": number, "code": code})
                .to_string()
                .as_bytes(),
        )
        .await?;
        answers.push((what, html.without_date(), json.without_date()));
    }
    assert_eq!(answers[0].1.0, 404);
    for (what, html, json) in &answers[1..] {
        assert_eq!(
            html, &answers[0].1,
            "{what} differs from a wrong code (HTML)"
        );
        assert_eq!(
            json, &answers[0].2,
            "{what} differs from a wrong code (JSON)"
        );
    }
    // Timing: every look-up is answered no sooner than the floor, whatever work was behind
    // it, so no answer to a wrong code or a missing ticket comes back early; print the means.
    let floor =
        Duration::from_millis(hotline_gateway::config::WebConfig::default().answer_floor_ms);
    let mut mean = Vec::new();
    for target in [number.as_str(), missing.as_str()] {
        let mut total = Duration::ZERO;
        for _ in 0..20 {
            let start = Instant::now();
            world.status(target, "BBBBB-BBBBB", &[]).await?;
            let took = start.elapsed();
            assert!(
                took >= floor,
                "{target} answered after {took:?}, before the floor {floor:?}"
            );
            total += took;
        }
        mean.push(total / 20);
    }
    println!(
        "mean answer (floor {floor:?}): wrong code {:?}, missing ticket {:?}",
        mean[0], mean[1]
    );
    world.page.stop().await
}

/// Over the per-client limit every look-up gets 429, and over the per-ticket failure limit the
/// right code is refused too, each with one page for existing and missing tickets; another
/// ticket stays reachable.
#[tokio::test]
async fn rate_limits_per_client_and_per_ticket() -> anyhow::Result<()> {
    let mut world = World::start(|c| {
        c.web.attempts_per_client_per_minute = 1000;
        c.web.failures_per_ticket_per_15_minutes = 3;
    })
    .await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 4).await?;
    let (other, other_code) = world.dortmund.open_with_code("finance-hr", 5).await?;
    let missing = number.replace("-0000", "-0009");
    for _ in 0..3 {
        assert_eq!(world.status(&number, "AAAAA-AAAAA", &[]).await?.status, 404);
        assert_eq!(
            world.status(&missing, "AAAAA-AAAAA", &[]).await?.status,
            404
        );
    }
    let existing = world.status(&number, &code, &[]).await?;
    let absent = world.status(&missing, "AAAAA-AAAAA", &[]).await?;
    assert_eq!(existing.status, 429, "{}", existing.body);
    assert_eq!(existing.without_date(), absent.without_date());
    assert_eq!(world.status(&other, &other_code, &[]).await?.status, 200);
    world.page.stop().await?;

    let mut world = World::start(|c| c.web.attempts_per_client_per_minute = 4).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 6).await?;
    for _ in 0..4 {
        world.status(&number, &code, &[]).await?;
    }
    let existing = world.status(&number, &code, &[]).await?;
    let absent = world.status(&missing, "AAAAA-AAAAA", &[]).await?;
    assert_eq!(existing.status, 429);
    assert_eq!(existing.without_date(), absent.without_date());
    assert!(existing.body.contains("Zu viele Versuche"));
    world.page.stop().await
}

/// The language follows `?lang=` first, then Accept-Language, then the ticket's language, and
/// the switch is on the page.
#[tokio::test]
async fn language_by_accept_language_and_by_switch() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 7).await?;
    let english = world
        .status(
            &number,
            &code,
            &[("Accept-Language", "en-GB,en;q=0.9,de;q=0.5")],
        )
        .await?;
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english.body.contains("Received"));
    assert!(
        english.body.contains("action=\"/status?lang=de\""),
        "switch to German missing"
    );
    let switched = world
        .page
        .post_form(
            "/status?lang=de",
            &[("number", &number), ("code", &code)],
            &[("Accept-Language", "en")],
        )
        .await?;
    assert!(switched.body.contains("<html lang=\"de\">"));
    assert!(switched.body.contains("Eingegangen"));
    let ticket_language = world.status(&number, &code, &[]).await?;
    assert!(ticket_language.body.contains("<html lang=\"de\">"));
    let form = world.page.get("/", &[("Accept-Language", "en-US")]).await?;
    assert!(form.body.contains("<html lang=\"en\">") && form.body.contains("Ticket number"));
    assert!(form.body.contains("href=\"/?lang=de\""));
    assert!(
        form.body.contains("<label for=\"number\">") && form.body.contains("<label for=\"code\">")
    );
    world.page.stop().await
}

/// A reply through the page becomes a public comment by the customer that the handling site
/// receives over its subscription; the page then shows it, signed "Sie".
#[tokio::test]
async fn reply_lands_as_public_comment_at_the_handling_site() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 8).await?;
    let cursor = world.page.gateway.head();
    let mut stream = world
        .dortmund
        .client
        .subscribe(pb::SubscribeRequest { cursor })
        .await?
        .into_inner();
    let body = "Das VPN bricht weiterhin ab, heute um 9 Uhr.";
    let answer = world
        .page
        .post_form(
            "/reply",
            &[("number", &number), ("code", &code), ("body", body)],
            &[],
        )
        .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .body
            .contains("Danke, Ihre Antwort ist bei uns angekommen.")
    );
    assert!(answer.body.contains(body) && answer.body.contains("Sie"));
    let events = collect_until(&mut stream, 1000, |events| {
        events.iter().any(|e| match &e.body {
            Some(pb::sync_event::Body::Change(c)) => {
                let change = Change::try_from(c.clone()).ok();
                change.is_some_and(|c| {
                    c.ops
                        .iter()
                        .any(|op| matches!(op, FieldOp::AddComment(x) if x.body == body))
                })
            }
            _ => false,
        })
    })
    .await?;
    let change = events
        .iter()
        .find_map(|e| match &e.body {
            Some(pb::sync_event::Body::Change(c)) => Change::try_from(c.clone())
                .ok()
                .filter(|c| c.key.id == number),
            _ => None,
        })
        .expect("the reply reached dortmund");
    let FieldOp::AddComment(comment) = &change.ops[0] else {
        panic!("not a comment: {change:?}")
    };
    assert_eq!(comment.author_alias, "customer");
    assert_eq!(comment.visibility, Visibility::Public);
    assert!(comment.id.starts_with("customer-"), "{}", comment.id);
    world.page.stop().await
}

/// A reply that names a partner, or is over the size limit, is refused with a clear message
/// and nothing is stored.
#[tokio::test]
async fn leaking_or_oversized_reply_is_refused_and_nothing_stored() -> anyhow::Result<()> {
    let mut world = World::start(|c| c.web.max_reply_bytes = 200).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 9).await?;
    let head = world.page.gateway.head();
    let long = "x".repeat(201);
    for (body, notice) in [
        (
            "Bitte an Twenty 4 Help weitergeben",
            "einen Namen, den wir in Nachrichten nicht annehmen",
        ),
        (
            "Gruss an das Team in Dortmund",
            "einen Namen, den wir in Nachrichten nicht annehmen",
        ),
        (
            long.as_str(),
            "höchstens 200 Zeichen. Nichts wurde gesendet.",
        ),
    ] {
        let answer = world
            .page
            .post_form(
                "/reply",
                &[("number", &number), ("code", &code), ("body", body)],
                &[],
            )
            .await?;
        assert_eq!(answer.status, 200);
        assert!(answer.body.contains(notice), "{}", answer.body);
    }
    assert_eq!(world.page.gateway.head(), head, "something was stored");
    let ticket = world
        .page
        .gateway
        .state
        .entity(&EntityKey::new(EntityKind::Ticket, &number))?;
    assert!(ticket.comments.is_empty());
    world.page.stop().await
}

/// Over real mTLS pushes, a public comment naming a partner in disguise is refused with
/// `customer_text_clean` while the same text as a federation comment is accepted; a term the
/// brand adds later is guarded from then on.
#[tokio::test]
async fn pushed_public_comment_naming_a_partner_is_refused() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (number, _) = world.dortmund.open_with_code("finance-hr", 10).await?;
    let text = "Ihr Team von Twenty 4 Help meldet sich morgen.";
    let refused = world
        .dortmund
        .comment(&number, Visibility::Public, text)
        .await?;
    let (rule, message) = refused_rule(&refused).expect("refused with a rule");
    assert_eq!(rule, Rule::CustomerTextClean);
    assert_eq!(rule.name(), "customer_text_clean");
    assert!(
        message.starts_with("body:") && message.contains("twenty4help"),
        "{message}"
    );
    ok(&world
        .dortmund
        .comment(&number, Visibility::Federation, text)
        .await?)?;
    let (plants, _) = world.erfurt.open_with_code("plants", 11).await?;
    ok(&world
        .erfurt
        .comment(&plants, Visibility::Public, "Grüße aus München")
        .await?)?;
    ok(&world
        .munich
        .push(brand_change(vec![BrandField::ForbiddenTerms(vec![
            "München".into(),
        ])]))
        .await?)?;
    let refused = world
        .erfurt
        .comment(&plants, Visibility::Public, "Grüße aus München")
        .await?;
    assert_eq!(
        refused_rule(&refused).map(|r| r.0),
        Some(Rule::CustomerTextClean)
    );
    world.page.stop().await
}

/// Pages of tickets handled by different partners never name a site, tenant or agent alias;
/// a stored public text that became a leak later (a new forbidden term) is withheld.
#[tokio::test]
async fn page_never_names_site_tenant_or_agent() -> anyhow::Result<()> {
    let mut world = World::start(|_| {}).await?;
    let (a, a_code) = world.dortmund.open_with_code("dealers-sales", 12).await?;
    let (b, b_code) = world.erfurt.open_with_code("dealers-sales", 13).await?;
    ok(&world
        .dortmund
        .comment(&a, Visibility::Public, "Ihr Zugang ist wieder frei.")
        .await?)?;
    ok(&world
        .erfurt
        .comment(&b, Visibility::Public, "Der Drucker ist im Münchner Netz.")
        .await?)?;
    ok(&world
        .munich
        .push(brand_change(vec![BrandField::ForbiddenTerms(vec![
            "Münchner".into(),
        ])]))
        .await?)?;
    let page_a = world.status(&a, &a_code, &[]).await?;
    let page_b = world.status(&b, &b_code, &[]).await?;
    for page in [&page_a, &page_b] {
        assert_eq!(page.status, 200);
        for hidden in NEVER_SHOWN.iter().chain(&["Münchner"]) {
            assert!(!page.body.contains(hidden), "page shows {hidden:?}");
        }
    }
    assert!(
        page_b
            .body
            .contains("(Diese Nachricht kann hier nicht angezeigt werden.)")
    );
    world.page.stop().await
}

/// Uploads `bytes` as `content_type` through `site`'s own connection; answers the reference a
/// comment names.
async fn upload(
    site: &mut CodeSite,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> anyhow::Result<hotline_federation::attachment::AttachmentRef> {
    use sha2::Digest;
    let sha256 = hotline_federation::attachment::hex(&sha2::Sha256::digest(bytes));
    let piece = pb::FilePiece {
        sha256: sha256.clone(),
        size: bytes.len() as u64,
        content_type: content_type.into(),
        offset: 0,
        data: bytes.to_vec(),
    };
    let answer = site
        .client
        .put_file(futures_util::stream::iter(vec![piece]))
        .await?
        .into_inner();
    anyhow::ensure!(answer.stored, "not stored: {answer:?}");
    Ok(hotline_federation::attachment::AttachmentRef {
        sha256,
        size: bytes.len() as u64,
        content_type: content_type.into(),
        filename: name.into(),
    })
}

/// A comment of `site` on ticket `id` carrying `files`.
fn comment_with(
    site: &CodeSite,
    id: &str,
    visibility: Visibility,
    body: &str,
    files: Vec<hotline_federation::attachment::AttachmentRef>,
) -> Change {
    let mut change = hotline_tests::changes::comment(
        id,
        &site.tenant,
        &site.site,
        0,
        &format!("{}-{}", site.site, now_ms()),
        visibility,
        body,
    );
    if let Some(FieldOp::AddComment(comment)) = change.ops.first_mut() {
        comment.attachments = files;
    }
    change
}

/// The customer sees the files of public messages, by name and size, and downloads them with
/// number and code; a file of an internal comment answers like a wrong code; a public file
/// whose name names a partner is refused by the leak guard.
#[tokio::test]
async fn public_files_show_and_download_internal_ones_do_not() -> anyhow::Result<()> {
    let mut world = World::start(|c| c.web.attempts_per_client_per_minute = 1000).await?;
    let (number, code) = world.dortmund.open_with_code("finance-hr", 7).await?;
    let guide = b"1. Open the VPN client.\n2. Choose 'Reconnect'.\n".to_vec();
    let public = upload(&mut world.dortmund, "vpn-guide.txt", "text/plain", &guide).await?;
    let internal_bytes = b"internal trace: VPN drops at the concentrator\n".to_vec();
    let internal = upload(
        &mut world.dortmund,
        "trace.txt",
        "text/plain",
        &internal_bytes,
    )
    .await?;
    let change = comment_with(
        &world.dortmund,
        &number,
        Visibility::Public,
        "Anbei die Anleitung.",
        vec![public.clone()],
    );
    ok(&world.dortmund.push(change).await?)?;
    let change = comment_with(
        &world.dortmund,
        &number,
        Visibility::Federation,
        "",
        vec![internal.clone()],
    );
    ok(&world.dortmund.push(change).await?)?;
    // A public file whose name names the partner is refused before it is stored.
    let mut leaking = public.clone();
    leaking.filename = "Twenty4Help-Anleitung.txt".into();
    let change = comment_with(
        &world.dortmund,
        &number,
        Visibility::Public,
        "",
        vec![leaking],
    );
    let refused = refused_rule(&world.dortmund.push(change).await?);
    assert_eq!(
        refused.as_ref().map(|(rule, _)| *rule),
        Some(Rule::CustomerTextClean),
        "{refused:?}"
    );

    let page = world.status(&number, &code, &[]).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("vpn-guide.txt"), "{}", page.body);
    assert!(!page.body.contains("trace.txt"), "{}", page.body);
    let json = hotline_tests::web::request(
        world.page.web,
        "POST",
        "/api/status",
        &[("Content-Type", "application/json")],
        serde_json::json!({"number": number, "code": code})
            .to_string()
            .as_bytes(),
    )
    .await?;
    let view: serde_json::Value = serde_json::from_str(&json.body)?;
    let files: Vec<&serde_json::Value> = view["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["files"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(files.len(), 1, "{}", json.body);
    assert_eq!(files[0]["filename"], "vpn-guide.txt");
    assert_eq!(files[0]["sha256"], public.sha256.as_str());

    let download = |sha: String, code: String| {
        let page = &world.page;
        let number = number.clone();
        async move {
            page.post_form(
                "/file",
                &[("number", &number), ("code", &code), ("sha256", &sha)],
                &[],
            )
            .await
        }
    };
    let got = download(public.sha256.clone(), code.clone()).await?;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.body.as_bytes(), guide.as_slice());
    assert!(
        got.header("content-disposition")
            .is_some_and(|v| v.contains("vpn-guide.txt")),
        "{:?}",
        got.headers
    );
    // The internal file, and the public one with a wrong code: the answer of a wrong code.
    let internal_answer = download(internal.sha256.clone(), code.clone()).await?;
    let wrong_code = download(public.sha256.clone(), "AAAAA-AAAAA".into()).await?;
    assert_eq!(internal_answer.status, 404);
    assert_eq!(internal_answer.without_date(), wrong_code.without_date());
    assert!(!internal_answer.body.contains("VPN drops"));
    world.page.stop().await
}
