//! The knowledge search, the brand and the customer's first message at one site's API, with
//! the federation's data arriving as it would from the gateway (applied remote entries): what
//! an agent finds, what a customer is told, and what the leak guard refuses.

use crate::local_api;

use hotline_adapter::mapping::MappingConfig;
use hotline_adapter::replica::RemoteEntry;
use hotline_adapter::sync::now_ms;
use hotline_federation::access;
use hotline_federation::brand::Brand;
use hotline_federation::model::{
    ArticleDraft, ArticleField, ArticleState, Channel, EntityKey, EntityKind, FieldValue, Language,
    PolicyField, TicketField,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use local_api::LocalApi;

/// Stores `ops` on `key` as if the gateway had sent them (from munich, at `seq`).
fn arrive(api: &LocalApi, key: EntityKey, ops: Vec<FieldOp>, seq: u64) {
    let state = EntityState::delta(&Change {
        key,
        ops,
        origin_site: "munich".into(),
        origin_seq: seq,
        hlc: Hlc::new(now_ms() - 60_000 + seq, 0),
    });
    api.app
        .replica
        .apply_remote(
            &RemoteEntry {
                states: vec![state],
                ..RemoteEntry::default()
            },
            &api.app.events,
            now_ms(),
        )
        .expect("apply");
}

fn article(
    id: &str,
    version: u32,
    language: Language,
    title: &str,
    body: &str,
    tags: &[&str],
) -> Vec<FieldOp> {
    let set = |f| FieldOp::Set(FieldValue::Article(f));
    vec![
        set(ArticleField::Version(version)),
        set(ArticleField::Language(language)),
        set(ArticleField::Title(title.into())),
        set(ArticleField::Body(body.into())),
        set(ArticleField::Tags(
            tags.iter().map(|t| (*t).to_owned()).collect(),
        )),
        set(ArticleField::FocusTeams(vec![])),
        set(ArticleField::State(ArticleState::Published)),
        set(ArticleField::Draft(ArticleDraft::default())),
    ]
    .into_iter()
    .filter(|_| !id.is_empty())
    .collect()
}

fn article_key(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Article, id)
}

fn the_brand() -> Brand {
    let mut brand = Brand {
        version: 1,
        display_name: "IT Service Desk".into(),
        hotline_number: "+49 89 4711".into(),
        signature: "Ihr IT Service Desk".into(),
        forbidden_terms: vec!["Twenty4Help GmbH".into()],
        alias_patterns: vec!["t4h-###".into()],
        accent_color: "#0b5394".into(),
        ..Brand::default()
    };
    brand.greetings.insert(
        (Channel::Phone, Language::De),
        "IT Service Desk, guten Tag, was kann ich fuer Sie tun?".into(),
    );
    brand.templates.insert(
        ("ticket-opened".into(), Language::De),
        "Ihr Anliegen hat die Nummer {public_number}. Zugangscode: {access_code}. {signature}"
            .into(),
    );
    brand.templates.insert(
        ("greeting-named".into(), Language::De),
        "Guten Tag {customer_name}".into(),
    );
    brand.templates.insert(
        ("agent-note".into(), Language::De),
        "Es schreibt Ihnen {agent_alias}".into(),
    );
    brand
}

fn publish_brand(api: &LocalApi, seq: u64) {
    arrive(
        api,
        EntityKey::new(EntityKind::Brand, "brand"),
        the_brand().publish_ops(&Brand::default()),
        seq,
    );
}

/// Gives the site a focus team it handles and a block of ticket numbers, as the gateway would.
fn open_for_tickets(api: &LocalApi) {
    arrive(
        api,
        EntityKey::new(EntityKind::Policy, "finance-hr"),
        vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
            vec!["twenty4help".into()],
        )))],
        1,
    );
    api.app
        .replica
        .add_numbers(&pb::LeaseBlock {
            prefix: "ASZ".into(),
            year: 2026,
            first: 100,
            count: 10,
        })
        .expect("lease");
    api.app
        .replica
        .learn_guard_terms(vec![
            "twenty4help".into(),
            "helpbycom".into(),
            "dortmund".into(),
            "erfurt".into(),
            "munich".into(),
        ])
        .expect("guard terms");
}

/// "Drucker druckt nicht" finds the printer article at a partner site, with a snippet and the
/// words that matched; a newer version that arrives later is what the next search returns.
#[tokio::test]
async fn search_finds_published_articles_and_follows_new_versions() {
    let api = LocalApi::new(MappingConfig::default());
    arrive(
        &api,
        article_key("printer-de"),
        article(
            "printer-de",
            1,
            Language::De,
            "Druckerprobleme beheben",
            "Pruefen Sie Papier, Toner und die Warteschlange.",
            &["Drucker", "Printer"],
        ),
        1,
    );
    arrive(
        &api,
        article_key("vpn-en"),
        article(
            "vpn-en",
            1,
            Language::En,
            "VPN will not connect",
            "Restart the client.",
            &["VPN"],
        ),
        2,
    );
    let answer = api
        .call(
            "GET",
            "/v1/kb/search?q=Drucker%20druckt%20nicht&lang=de",
            b"",
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let hits = answer.json["hits"].as_array().expect("hits");
    assert_eq!(hits[0]["id"], "printer-de", "{}", answer.json);
    assert_eq!(hits[0]["version"], 1);
    assert!(!hits[0]["snippet"].as_str().unwrap_or_default().is_empty());
    assert!(
        hits[0]["matched_terms"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "Drucker")),
        "{}",
        answer.json
    );
    assert!(hits.iter().all(|h| h["language"] == "de"));

    arrive(
        &api,
        article_key("printer-de"),
        article(
            "printer-de",
            2,
            Language::De,
            "Druckerprobleme beheben",
            "Neu: den Druckertreiber ueber das Softwareportal neu installieren.",
            &["Drucker", "Printer", "Treiber"],
        ),
        3,
    );
    let answer = api
        .call("GET", "/v1/kb/search?q=Treiber&lang=de", b"")
        .await;
    assert_eq!(
        answer.json["hits"][0]["id"], "printer-de",
        "{}",
        answer.json
    );
    assert_eq!(answer.json["hits"][0]["version"], 2);
}

/// Drafts and retired articles are never searchable, and an article that has only a draft is
/// not found at all (in-house writes drafts before it publishes).
#[tokio::test]
async fn drafts_and_retired_articles_are_not_searchable() {
    let api = LocalApi::of_site("inhouse", "munich", MappingConfig::default());
    let set = |f| FieldOp::Set(FieldValue::Article(f));
    arrive(
        &api,
        article_key("draft-only"),
        vec![
            set(ArticleField::Version(0)),
            set(ArticleField::State(ArticleState::Draft)),
            set(ArticleField::Draft(ArticleDraft {
                language: Some(Language::En),
                title: "Zebra scanner pairing".into(),
                body: "Pair the zebra scanner.".into(),
                tags: vec![],
                focus_teams: vec![],
            })),
        ],
        1,
    );
    let mut retired = article("old-de", 3, Language::De, "Zebra Altgeraet", "Alt.", &[]);
    retired.push(FieldOp::Set(FieldValue::Article(ArticleField::State(
        ArticleState::Retired,
    ))));
    retired.retain(|op| {
        !matches!(
            op,
            FieldOp::Set(FieldValue::Article(ArticleField::State(
                ArticleState::Published
            )))
        )
    });
    arrive(&api, article_key("old-de"), retired, 2);
    let answer = api.call("GET", "/v1/kb/search?q=zebra", b"").await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(
        answer.json["hits"],
        serde_json::json!([]),
        "{}",
        answer.json
    );
}

/// Bad search parameters are 400 and say what is allowed.
#[tokio::test]
async fn bad_search_parameters_are_refused() {
    let api = LocalApi::new(MappingConfig::default());
    for (query, needle) in [
        ("", "q: a query is required"),
        ("?q=%20%20", "q: a query is required"),
        ("?q=vpn&lang=fr", "lang"),
        ("?q=vpn&limit=0", "limit"),
        ("?q=vpn&limit=51", "limit"),
        ("?q=vpn&sort=date", "allowed: q, lang, limit"),
    ] {
        let answer = api.call("GET", &format!("/v1/kb/search{query}"), b"").await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.json);
        let message = answer.json["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query}: {message}");
    }
}

/// The brand renders at a partner site: a greeting by channel and language, and a missing one
/// is 404 naming what exists, never a blank; a partner cannot publish the brand.
#[tokio::test]
async fn greetings_render_and_partners_cannot_publish() {
    let api = LocalApi::new(MappingConfig::default());
    let answer = api.call("GET", "/v1/brand", b"").await;
    assert_eq!(answer.status, 404, "{}", answer.json);
    publish_brand(&api, 1);
    let answer = api
        .call("GET", "/v1/brand/greeting?channel=phone&lang=de", b"")
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert!(
        answer.json["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("IT Service Desk")
    );
    let answer = api
        .call("GET", "/v1/brand/greeting?channel=chat&lang=en", b"")
        .await;
    assert_eq!(answer.status, 404, "{}", answer.json);
    assert!(
        answer.json["message"]
            .as_str()
            .unwrap_or_default()
            .contains("phone/de")
    );

    let body = br#"{"display_name": "Twenty4Help Desk", "hotline_number": "1"}"#;
    let answer = api.call("PUT", "/v1/brand", body).await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    assert_eq!(answer.json["rule"], "inhouse_owns_shared_kinds");
    let answer = api.call("GET", "/v1/brand", b"").await;
    assert_eq!(answer.json["display_name"], "IT Service Desk");
}

/// In-house publishes the brand in versions; a template with an unknown placeholder and a
/// greeting that names a partner are refused and change nothing.
#[tokio::test]
async fn inhouse_publishes_the_brand_in_versions() {
    let api = LocalApi::of_site("inhouse", "munich", MappingConfig::default());
    api.app
        .replica
        .learn_guard_terms(vec!["twenty4help".into(), "dortmund".into()])
        .expect("guard terms");
    let good = serde_json::json!({
        "display_name": "IT Service Desk",
        "hotline_number": "+49 89 4711",
        "greetings": [{"channel": "phone", "language": "en", "text": "IT Service Desk, hello"}],
        "templates": [{"name": "ticket-opened", "language": "en", "text": "Ticket {public_number}"}],
        "signature": "Your IT Service Desk",
        "forbidden_terms": ["Twenty4Help GmbH"],
        "alias_patterns": ["t4h-###"],
        "accent_color": "#0b5394"
    });
    for version in [1, 2] {
        let answer = api
            .call("PUT", "/v1/brand", good.to_string().as_bytes())
            .await;
        assert_eq!(answer.status, 200, "{}", answer.json);
        assert_eq!(answer.json["version"], version);
    }
    let mut unknown = good.clone();
    unknown["templates"][0]["text"] = "Ticket {ticket_id}".into();
    let answer = api
        .call("PUT", "/v1/brand", unknown.to_string().as_bytes())
        .await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    let message = answer.json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("templates[0]") && message.contains("ticket_id"),
        "{message}"
    );

    let mut leaky = good.clone();
    leaky["greetings"][0]["text"] = "Twenty 4 Help, hello".into();
    let answer = api
        .call("PUT", "/v1/brand", leaky.to_string().as_bytes())
        .await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    assert_eq!(answer.json["rule"], "customer_text_clean");
    let answer = api.call("GET", "/v1/brand", b"").await;
    assert_eq!(answer.json["version"], 2, "{}", answer.json);
}

/// A new ticket's answer carries the customer's access code once, which verifies against the
/// stored salted hash (the code itself is nowhere in the store's view of the ticket), and the
/// first customer message rendered from the brand with that code.
#[tokio::test]
async fn a_new_ticket_gets_an_access_code_and_its_first_message() {
    let api = LocalApi::new(MappingConfig::default());
    open_for_tickets(&api);
    publish_brand(&api, 2);
    let body = br#"{"customer_ref": "H-1", "focus_team": "finance-hr", "category": "vpn"}"#;
    let answer = api.call("POST", "/v1/tickets", body).await;
    assert_eq!(answer.status, 201, "{}", answer.json);
    let code = answer.json["access_code"]
        .as_str()
        .expect("code")
        .to_owned();
    let number = answer.json["number"].as_str().expect("number").to_owned();
    let message = answer.json["customer_message"].as_str().expect("message");
    assert!(
        message.contains(&code) && message.contains(&number),
        "{message}"
    );
    assert!(message.ends_with("Ihr IT Service Desk"), "{message}");

    let state = api
        .app
        .replica
        .entity(&EntityKey::new(EntityKind::Ticket, number.clone()))
        .expect("ticket");
    let Some(FieldValue::Ticket(TicketField::AccessCode(stored))) = state.value("access_code")
    else {
        panic!("no access code stored: {state:?}");
    };
    assert!(access::verify(stored, &code));
    assert!(!stored.contains(&code));
    let read = api.call("GET", &format!("/v1/tickets/{number}"), b"").await;
    assert!(read.json.get("access_code").is_none(), "{}", read.json);
}

/// Rendering a template for a ticket: a placeholder without a value (no customer name) is 422
/// naming it, an unknown template 404, and a result that names an agent by alias pattern is
/// refused by the leak guard.
#[tokio::test]
async fn rendering_never_gives_a_blank_or_a_leak() {
    let api = LocalApi::new(MappingConfig::default());
    open_for_tickets(&api);
    publish_brand(&api, 2);
    let body = br#"{"customer_ref": "H-2", "focus_team": "finance-hr", "category": "vpn"}"#;
    let created = api.call("POST", "/v1/tickets", body).await;
    let number = created.json["number"].as_str().expect("number").to_owned();
    let render = |template: &str, extra: &str| {
        format!(r#"{{"template": "{template}", "ticket": "{number}"{extra}}}"#)
    };
    let answer = api
        .call(
            "POST",
            "/v1/brand/render",
            render("greeting-named", "").as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    assert!(
        answer.json["message"]
            .as_str()
            .unwrap_or_default()
            .contains("customer_name")
    );
    let answer = api
        .call("POST", "/v1/brand/render", render("nope", "").as_bytes())
        .await;
    assert_eq!(answer.status, 404, "{}", answer.json);
    let answer = api
        .call(
            "POST",
            "/v1/brand/render",
            render("agent-note", r#", "agent_alias": "T4H 017""#).as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    assert_eq!(answer.json["rule"], "customer_text_clean");
    let answer = api
        .call(
            "POST",
            "/v1/brand/render",
            render("agent-note", r#", "agent_alias": "Frau Berg""#).as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["text"], "Es schreibt Ihnen Frau Berg");
}

/// A public comment that names a partner in disguise is refused at the site's API (422
/// `customer_text_clean` naming the term) and not stored; the same words in a federation
/// comment are accepted.
#[tokio::test]
async fn public_comments_pass_the_leak_guard() {
    let api = LocalApi::new(MappingConfig::default());
    open_for_tickets(&api);
    publish_brand(&api, 2);
    let body = br#"{"customer_ref": "H-3", "focus_team": "finance-hr", "category": "vpn"}"#;
    let created = api.call("POST", "/v1/tickets", body).await;
    let number = created.json["number"].as_str().expect("number").to_owned();
    let path = format!("/v1/tickets/{number}/comments");
    let leaky = |visibility: &str| {
        format!(
            r#"{{"author_alias": "A7", "visibility": "{visibility}", "body": "Ihr Fall liegt jetzt bei Help-By-Com in E r f u r t"}}"#
        )
    };
    let answer = api.call("POST", &path, leaky("public").as_bytes()).await;
    assert_eq!(answer.status, 422, "{}", answer.json);
    assert_eq!(answer.json["rule"], "customer_text_clean");
    let message = answer.json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("helpbycom") || message.contains("erfurt"),
        "{message}"
    );
    let read = api.call("GET", &format!("/v1/tickets/{number}"), b"").await;
    assert_eq!(
        read.json["comments"],
        serde_json::json!([]),
        "nothing stored"
    );
    let answer = api
        .call("POST", &path, leaky("federation").as_bytes())
        .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
}
