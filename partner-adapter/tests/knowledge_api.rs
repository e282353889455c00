//! The knowledge API of one site in this process: articles written, published, retired and
//! imported in-house; partners refused every article write by the federation's rule and never
//! shown a draft; suggestions proposed by any site and decided in-house only.

use crate::local_api;

use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::{Mapping, MappingConfig};
use hotline_federation::model::{
    ArticleDraft, ArticleField, ArticleState, EntityKey, EntityKind, FieldValue, Language,
};
use hotline_federation::{Change, FieldOp};
use local_api::{Answer, LocalApi};
use serde_json::{Value, json};

fn munich() -> LocalApi {
    LocalApi::of_site("inhouse", "munich", MappingConfig::default())
}

fn dortmund() -> LocalApi {
    LocalApi::new(MappingConfig::default())
}

fn body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("json")
}

fn vpn(id: &str, title: &str) -> Value {
    json!({ "id": id, "language": "en", "title": title,
            "body": "Restart the VPN client.", "tags": ["VPN"], "focus_teams": ["finance-hr"] })
}

/// Asserts an error answer with `status` and `code` whose message contains `needle`.
#[track_caller]
fn refused(answer: &Answer, status: u16, code: &str, needle: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["code"], code, "{}", answer.json);
    let message = answer.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
}

/// In-house writes a new article as a draft, publishes it as version 1, drafts version 2 over
/// it and publishes that: the published fields change only on publishing, the draft is what
/// gets published, once, and an id cannot be created twice.
#[tokio::test]
async fn an_article_goes_from_draft_to_published_versions() {
    let api = munich();
    let created = api
        .call("POST", "/v1/kb/articles", &body(vpn("vpn-en", "VPN")))
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["state"], "draft");
    assert_eq!(created.json["version"], 0);
    assert_eq!(created.json["draft"]["title"], "VPN");
    assert!(created.json.get("title").is_none(), "{}", created.json);
    let again = api
        .call("POST", "/v1/kb/articles", &body(vpn("vpn-en", "VPN")))
        .await;
    refused(&again, 409, "conflict", "exists already");

    let published = api
        .call("POST", "/v1/kb/articles/vpn-en/publish", b"")
        .await;
    assert_eq!(published.status, 200, "{}", published.json);
    assert_eq!(published.json["version"], 1);
    assert_eq!(published.json["state"], "published");
    assert_eq!(published.json["title"], "VPN");
    assert_eq!(published.json["focus_teams"], json!(["finance-hr"]));
    assert!(published.json.get("draft").is_none(), "{}", published.json);
    let twice = api
        .call("POST", "/v1/kb/articles/vpn-en/publish", b"")
        .await;
    refused(&twice, 409, "conflict", "has no draft to publish");

    let draft = json!({ "language": "en", "title": "VPN, new", "body": "Reboot first." });
    let drafted = api
        .call("PUT", "/v1/kb/articles/vpn-en/draft", &body(draft))
        .await;
    assert_eq!(drafted.status, 200, "{}", drafted.json);
    assert_eq!(drafted.json["title"], "VPN", "published content stays");
    assert_eq!(drafted.json["draft"]["title"], "VPN, new");
    let list = api.call("GET", "/v1/kb/articles", b"").await;
    assert_eq!(list.json["articles"][0]["has_draft"], true, "{}", list.json);
    let v2 = api
        .call("POST", "/v1/kb/articles/vpn-en/publish", b"")
        .await;
    assert_eq!(v2.json["version"], 2);
    assert_eq!(v2.json["body"], "Reboot first.");
    assert_eq!(v2.json["credits"], json!([]));
    let versions = api
        .call("GET", "/v1/kb/articles/vpn-en/versions", b"")
        .await;
    assert_eq!(versions.status, 200, "{}", versions.json);
    let listed: Vec<(u64, &str)> = versions.json["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap_or(0),
                v["title"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(listed, [(2, "VPN, new"), (1, "VPN")], "{}", versions.json);

    let retired = api.call("POST", "/v1/kb/articles/vpn-en/retire", b"").await;
    assert_eq!(retired.json["state"], "retired", "{}", retired.json);
    let only_published = api
        .call("GET", "/v1/kb/articles?state=published", b"")
        .await;
    assert_eq!(only_published.json["articles"], json!([]));
    let retired_en = api
        .call("GET", "/v1/kb/articles?state=retired&language=en", b"")
        .await;
    assert_eq!(retired_en.json["articles"][0]["id"], "vpn-en");
}

/// An unknown article answers 404 on every route, a malformed id 400, an unknown filter 400:
/// a tool learns the difference between "no such article" and "you sent nonsense".
#[tokio::test]
async fn unknown_and_malformed_articles_are_told_apart() {
    let api = munich();
    for (method, path, payload) in [
        ("GET", "/v1/kb/articles/nope", json!(null)),
        ("POST", "/v1/kb/articles/nope/publish", json!(null)),
        ("POST", "/v1/kb/articles/nope/retire", json!(null)),
        (
            "PUT",
            "/v1/kb/articles/nope/draft",
            json!({ "language": "de", "title": "T", "body": "B" }),
        ),
    ] {
        let payload = if payload.is_null() {
            Vec::new()
        } else {
            body(payload)
        };
        let answer = api.call(method, path, &payload).await;
        refused(&answer, 404, "not_found", "article nope is not known");
    }
    let bad = api.call("GET", "/v1/kb/articles/Not_A_Slug", b"").await;
    refused(&bad, 400, "bad_request", "id:");
    let filter = api.call("GET", "/v1/kb/articles?colour=red", b"").await;
    refused(&filter, 400, "bad_request", "colour");
    let missing = api
        .call(
            "POST",
            "/v1/kb/articles",
            &body(json!({ "id": "x", "language": "en", "title": "T" })),
        )
        .await;
    refused(&missing, 400, "bad_request", "body");
}

/// A partner's every article write is refused 422 with the federation's rule
/// `inhouse_owns_shared_kinds`, and nothing is stored or queued for the gateway.
#[tokio::test]
async fn a_partner_cannot_write_articles() {
    let api = dortmund();
    let draft = json!({ "language": "en", "title": "T", "body": "B" });
    for (method, path, payload) in [
        ("POST", "/v1/kb/articles", vpn("vpn-en", "VPN")),
        ("PUT", "/v1/kb/articles/vpn-en/draft", draft),
        ("POST", "/v1/kb/articles/vpn-en/publish", json!(null)),
        ("POST", "/v1/kb/articles/vpn-en/retire", json!(null)),
        (
            "POST",
            "/v1/kb/import",
            json!({ "articles": [vpn("vpn-en", "VPN")] }),
        ),
    ] {
        let payload = if payload.is_null() {
            Vec::new()
        } else {
            body(payload)
        };
        let answer = api.call(method, path, &payload).await;
        refused(
            &answer,
            422,
            "refused",
            "only the in-house team changes articles",
        );
        assert_eq!(answer.json["rule"], "inhouse_owns_shared_kinds", "{path}");
    }
    assert_eq!(api.app.replica.outbox_depth(), 0);
    let list = api.call("GET", "/v1/kb/articles", b"").await;
    assert_eq!(list.json["articles"], json!([]));
}

/// A published article that carries an in-house draft, written into a partner's store, is
/// held and shown without the draft: the draft's text appears in no answer of the partner's
/// API, so drafts never leave in-house.
#[tokio::test]
async fn a_draft_is_not_in_a_partners_view() {
    let api = dortmund();
    let key = EntityKey::new(EntityKind::Article, "vpn-en");
    let set = |f| FieldOp::Set(FieldValue::Article(f));
    let events = TicketEvents::new(
        Vec::new(),
        Mapping::new(&MappingConfig::default()).expect("mapping"),
        "dortmund".into(),
        Default::default(),
    );
    api.app
        .replica
        .local_change(&key, 1_795_000_000_000, &events, |seq, hlc, _, _| {
            Ok(Change {
                key: key.clone(),
                ops: vec![
                    set(ArticleField::Version(1)),
                    set(ArticleField::Language(Language::En)),
                    set(ArticleField::Title("VPN".into())),
                    set(ArticleField::Body("Restart the client.".into())),
                    set(ArticleField::State(ArticleState::Published)),
                    set(ArticleField::Draft(ArticleDraft {
                        language: Some(Language::En),
                        title: "SECRET DRAFT TITLE".into(),
                        body: "secret draft body".into(),
                        ..ArticleDraft::default()
                    })),
                ],
                origin_site: "dortmund".into(),
                origin_seq: seq,
                hlc,
            })
        })
        .expect("stored");
    let held = api.app.replica.entity(&key).expect("entity");
    assert!(held.value("draft").is_none(), "the partner holds a draft");
    let one = api.call("GET", "/v1/kb/articles/vpn-en", b"").await;
    let list = api.call("GET", "/v1/kb/articles", b"").await;
    assert_eq!(one.json["title"], "VPN");
    for answer in [&one, &list] {
        let text = answer.json.to_string();
        assert!(
            !text.contains("SECRET DRAFT") && !text.contains("secret draft"),
            "{text}"
        );
        assert!(!text.contains("draft\""), "{text}");
    }
}

/// An import checks every article before writing any: an id given twice or a bad field names
/// its index and nothing is stored; a good batch creates and publishes, and a second one
/// without publishing leaves new drafts over the published versions.
#[tokio::test]
async fn an_import_is_checked_whole_then_written() {
    let api = munich();
    let twice = json!({ "articles": [vpn("a-en", "A"), vpn("b-en", "B"), vpn("a-en", "A2")] });
    let answer = api.call("POST", "/v1/kb/import", &body(twice)).await;
    refused(&answer, 400, "bad_request", "articles[2].id");
    let mut bad = vpn("b-en", "B");
    bad["title"] = json!("two\nlines");
    let broken = json!({ "articles": [vpn("a-en", "A"), bad] });
    let answer = api.call("POST", "/v1/kb/import", &body(broken)).await;
    refused(&answer, 400, "bad_request", "articles[1].title");
    let list = api.call("GET", "/v1/kb/articles", b"").await;
    assert_eq!(list.json["articles"], json!([]), "nothing was written");

    let good = json!({ "articles": [vpn("a-en", "A"), vpn("b-en", "B")] });
    let answer = api.call("POST", "/v1/kb/import", &body(good)).await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    assert_eq!(answer.json["published"], true);
    assert_eq!(
        answer.json["articles"],
        json!([
            { "id": "a-en", "outcome": "created", "state": "published", "version": 1 },
            { "id": "b-en", "outcome": "created", "state": "published", "version": 1 },
        ])
    );
    let drafts = json!({ "articles": [vpn("a-en", "A, new")], "publish": false });
    let answer = api.call("POST", "/v1/kb/import", &body(drafts)).await;
    assert_eq!(
        answer.json["articles"][0],
        json!({ "id": "a-en", "outcome": "updated", "state": "published", "version": 1 })
    );
    let a = api.call("GET", "/v1/kb/articles/a-en", b"").await;
    assert_eq!(
        (&a.json["title"], &a.json["draft"]["title"]),
        (&json!("A"), &json!("A, new"))
    );
}

/// A partner proposes a new article (needing title, body and language) and lists its own
/// suggestion; deciding it is refused 422 `only_inhouse_decides`, and a rejection needs a
/// reason.
#[tokio::test]
async fn a_partner_proposes_but_does_not_decide() {
    let api = dortmund();
    let incomplete =
        json!({ "article_id": "printer-en", "title": "Printer", "body": "Plug it in." });
    let answer = api
        .call("POST", "/v1/kb/suggestions", &body(incomplete))
        .await;
    refused(&answer, 422, "invalid", "needs title, body and language");
    let proposal = json!({ "article_id": "printer-en", "title": "Printer", "language": "en",
                           "body": "Plug it in.", "rationale": "Asked twice today." });
    let answer = api
        .call("POST", "/v1/kb/suggestions", &body(proposal))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
    let id = answer.json["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("dortmund-"), "{id}");
    assert_eq!(answer.json["author_tenant"], "twenty4help");
    assert_eq!(answer.json["state"], "open");
    assert_eq!(answer.json["base_version"], 0);
    let second = api
        .call(
            "POST",
            "/v1/kb/suggestions",
            &body(
                json!({ "article_id": "printer-en", "title": "P", "body": "B", "language": "de" }),
            ),
        )
        .await;
    assert_ne!(
        second.json["id"], answer.json["id"],
        "ids are unique per site"
    );

    let open = api.call("GET", "/v1/kb/suggestions?state=open", b"").await;
    assert_eq!(open.json["suggestions"].as_array().map(Vec::len), Some(2));
    let accepted = api
        .call("GET", "/v1/kb/suggestions?state=accepted", b"")
        .await;
    assert_eq!(accepted.json["suggestions"], json!([]));
    let decide = api
        .call("POST", &format!("/v1/kb/suggestions/{id}/accept"), b"")
        .await;
    refused(&decide, 422, "refused", "");
    assert_eq!(decide.json["rule"], "only_inhouse_decides");
    let no_reason = api
        .call("POST", &format!("/v1/kb/suggestions/{id}/reject"), b"{}")
        .await;
    refused(&no_reason, 400, "bad_request", "reason");
    let unknown = api.call("GET", "/v1/kb/suggestions/erfurt-1", b"").await;
    refused(
        &unknown,
        404,
        "not_found",
        "suggestion erfurt-1 is not known",
    );
}

/// In-house accepts a suggestion written against version 1 after version 2 was published: it
/// becomes version 3 over version 2 (what it leaves out stays), the answer says the base was
/// older, the article credits the tenant; a second decision is refused 409; a rejection keeps
/// its reason.
#[tokio::test]
async fn in_house_accepts_over_a_newer_version_and_rejects_with_a_reason() {
    let api = munich();
    let import = json!({ "articles": [vpn("vpn-en", "VPN")] });
    assert_eq!(
        api.call("POST", "/v1/kb/import", &body(import))
            .await
            .status,
        200
    );
    let edit = json!({ "article_id": "vpn-en", "body": "Reboot, then restart the client." });
    let proposed = api.call("POST", "/v1/kb/suggestions", &body(edit)).await;
    assert_eq!(proposed.json["base_version"], 1, "{}", proposed.json);
    let id = proposed.json["id"].as_str().expect("id").to_owned();
    let newer = json!({ "articles": [vpn("vpn-en", "VPN v2")] });
    api.call("POST", "/v1/kb/import", &body(newer)).await;

    let accepted = api
        .call("POST", &format!("/v1/kb/suggestions/{id}/accept"), b"")
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.json);
    assert_eq!(accepted.json["stale_base"], true);
    assert_eq!(accepted.json["article"]["version"], 3);
    assert_eq!(accepted.json["article"]["title"], "VPN v2");
    assert_eq!(
        accepted.json["article"]["body"],
        "Reboot, then restart the client."
    );
    assert_eq!(accepted.json["suggestion"]["state"], "accepted");
    assert_eq!(accepted.json["suggestion"]["accepted_version"], 3);
    let article = api.call("GET", "/v1/kb/articles/vpn-en", b"").await;
    assert_eq!(article.json["credits"], json!(["inhouse"]));
    let again = api
        .call("POST", &format!("/v1/kb/suggestions/{id}/accept"), b"")
        .await;
    refused(&again, 409, "conflict", "accepted already");

    let other = json!({ "article_id": "vpn-en", "title": "VPN!!!" });
    let proposed = api.call("POST", "/v1/kb/suggestions", &body(other)).await;
    let id = proposed.json["id"].as_str().expect("id").to_owned();
    let rejected = api
        .call(
            "POST",
            &format!("/v1/kb/suggestions/{id}/reject"),
            &body(json!({ "reason": "Titles stay plain." })),
        )
        .await;
    assert_eq!(rejected.json["state"], "rejected", "{}", rejected.json);
    assert_eq!(rejected.json["reject_reason"], "Titles stay plain.");
    let read = api
        .call("GET", &format!("/v1/kb/suggestions/{id}"), b"")
        .await;
    assert_eq!(read.json["reject_reason"], "Titles stay plain.");
}
