//! Knowledge authoring across a real federation (gateway and adapters over mTLS on 127.0.0.1):
//! in-house publishes and partners hold only the published versions, never a draft; a
//! partner's suggestion accepted in-house becomes a new version at every site; a rejected one
//! shows its reason at the proposing site and reaches its tools as `suggestion.changed`; and
//! `hotline kb import` refuses a directory with a bad file and imports a good one.

use std::sync::{Arc, Mutex};

use hotline_adapter::webhooks::WebhookTarget;
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::{Api, RunningAdapter, adapter_config, eventually};
use serde_json::{Value, json};

const SECRET: &str = "kb-tool-secret-0123456789";
const DRAFT_TEXT: &str = "UNPUBLISHED-DRAFT-WORDING";

/// The bodies a partner tool received.
#[derive(Default)]
struct Tool {
    events: Mutex<Vec<Value>>,
}

/// Starts a webhook receiver; returns its URL.
async fn receiver(tool: Arc<Tool>) -> anyhow::Result<String> {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tool = tool.clone();
            async move {
                if let Ok(event) = serde_json::from_slice(&body) {
                    tool.events.lock().expect("lock").push(event);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

/// Waits (at most 20 s) until `GET path` at `api` answers 200 with a body for which `holds`
/// is true; returns that body.
async fn until(
    api: &Api,
    path: &str,
    what: &str,
    holds: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, json) = api.call("GET", path, &Value::Null).await?;
        if status == 200 && holds(&json) {
            return Ok(json);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after 20 s waiting for: {what}; last answer {status} {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// In-house publishes, then drafts again: the partners hold version 1 and never the draft's
/// text; dortmund's suggestion accepted in-house becomes version 2 at every site, and its
/// rejected one shows the reason at dortmund, whose tool gets `suggestion.changed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_versions_and_decided_suggestions_reach_every_site() -> anyhow::Result<()> {
    let tool = Arc::new(Tool::default());
    let hook = receiver(tool.clone()).await?;
    let pki = Pki::new()?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, dirs[1].path()).await?;
    let mut config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[2].path(),
    )?;
    config.webhooks = vec![WebhookTarget {
        name: "crm".into(),
        url: hook,
        secret: SECRET.into(),
        max_attempts: 5,
    }];
    let dortmund = RunningAdapter::start(config).await?;
    let erfurt =
        RunningAdapter::for_site(&pki, "helpbycom", "erfurt", gateway.addr, dirs[3].path()).await?;

    let article = json!({ "id": "vpn-en", "language": "en", "title": "Connecting to the VPN",
                          "body": "Start the VPN client and sign in.", "tags": ["VPN"] });
    munich
        .api
        .expect("POST", "/v1/kb/articles", &article, 201)
        .await?;
    munich
        .api
        .expect("POST", "/v1/kb/articles/vpn-en/publish", &Value::Null, 200)
        .await?;
    let draft = json!({ "language": "en", "title": "Connecting to the VPN", "body": DRAFT_TEXT });
    munich
        .api
        .expect("PUT", "/v1/kb/articles/vpn-en/draft", &draft, 200)
        .await?;
    for site in [&dortmund, &erfurt] {
        until(
            &site.api,
            "/v1/kb/articles/vpn-en",
            "version 1 at a partner",
            |a| a["version"] == 1,
        )
        .await?;
    }
    // Once the draft change is at the gateway and every partner has caught up to its head,
    // anything it could have carried would be there.
    eventually(
        20,
        "munich's draft at the gateway, partners caught up",
        || async {
            Ok(munich.replica.outbox_depth() == 0
                && dortmund.replica.cursor()? >= gateway.head()
                && erfurt.replica.cursor()? >= gateway.head())
        },
    )
    .await?;
    for site in [&dortmund, &erfurt] {
        let held = format!("{:?}", site.snapshot()?);
        assert!(
            !held.contains(DRAFT_TEXT),
            "a partner's replica holds the draft"
        );
        let shown = site
            .api
            .expect("GET", "/v1/kb/articles/vpn-en", &Value::Null, 200)
            .await?;
        assert!(!shown.to_string().contains(DRAFT_TEXT), "{shown}");
        assert_eq!(shown["body"], "Start the VPN client and sign in.");
    }

    // dortmund proposes an edit; in-house accepts it.
    let edit = json!({ "article_id": "vpn-en", "body": "Connect to Wi-Fi first, then start the VPN client.",
                       "rationale": "Callers forget the Wi-Fi." });
    let proposed = dortmund
        .api
        .expect("POST", "/v1/kb/suggestions", &edit, 201)
        .await?;
    assert_eq!(proposed["base_version"], 1);
    let id = proposed["id"].as_str().unwrap_or_default().to_owned();
    until(
        &munich.api,
        &format!("/v1/kb/suggestions/{id}"),
        "the suggestion in-house",
        |s| s["state"] == "open",
    )
    .await?;
    let accepted = munich
        .api
        .expect(
            "POST",
            &format!("/v1/kb/suggestions/{id}/accept"),
            &Value::Null,
            200,
        )
        .await?;
    assert_eq!(accepted["article"]["version"], 2, "{accepted}");
    assert_eq!(accepted["stale_base"], false);
    for site in [&munich, &dortmund, &erfurt] {
        let held = until(
            &site.api,
            "/v1/kb/articles/vpn-en",
            "version 2 everywhere",
            |a| a["version"] == 2,
        )
        .await?;
        assert_eq!(
            held["body"],
            "Connect to Wi-Fi first, then start the VPN client."
        );
    }
    let credited = munich
        .api
        .expect("GET", "/v1/kb/articles/vpn-en", &Value::Null, 200)
        .await?;
    assert_eq!(credited["credits"], json!(["twenty4help"]));
    assert_eq!(
        credited["draft"]["body"], DRAFT_TEXT,
        "the draft stays in-house"
    );
    until(
        &dortmund.api,
        &format!("/v1/kb/suggestions/{id}"),
        "accepted at dortmund",
        |s| s["state"] == "accepted" && s["accepted_version"] == 2,
    )
    .await?;

    // dortmund proposes again; in-house rejects with a reason.
    let silly = json!({ "article_id": "vpn-en", "title": "VPN!!!" });
    let proposed = dortmund
        .api
        .expect("POST", "/v1/kb/suggestions", &silly, 201)
        .await?;
    let id = proposed["id"].as_str().unwrap_or_default().to_owned();
    until(
        &munich.api,
        &format!("/v1/kb/suggestions/{id}"),
        "the second suggestion in-house",
        |_| true,
    )
    .await?;
    munich
        .api
        .expect(
            "POST",
            &format!("/v1/kb/suggestions/{id}/reject"),
            &json!({ "reason": "Titles stay plain." }),
            200,
        )
        .await?;
    until(
        &dortmund.api,
        &format!("/v1/kb/suggestions/{id}"),
        "the reason at dortmund",
        |s| s["state"] == "rejected" && s["reject_reason"] == "Titles stay plain.",
    )
    .await?;
    eventually(
        20,
        "suggestion.changed (rejected) at dortmund's tool",
        || async {
            Ok(tool.events.lock().expect("lock").iter().any(|e| {
                e["event"] == "suggestion.changed"
                    && e["id"] == id.as_str()
                    && e["suggestion"]["reject_reason"] == "Titles stay plain."
            }))
        },
    )
    .await?;
    let events = tool.events.lock().expect("lock").clone();
    assert!(
        events.iter().all(|e| e["event"] != "article.changed"),
        "articles are not webhook events"
    );

    for site in [munich, dortmund, erfurt] {
        site.stop().await?;
    }
    gateway.stop().await
}

/// `hotline kb import` reports a bad file as `path:line` and sends nothing, then imports a
/// good directory (the starter knowledge base) whole, published at every article.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kb_import_refuses_a_bad_directory_and_imports_a_good_one() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, dirs[1].path()).await?;
    let site = format!("http://{}", munich.api.addr);
    let token = hotline_tests::sites::TOKEN;

    let bad = tempfile::tempdir()?;
    std::fs::write(
        bad.path().join("good.md"),
        "---\nid: good-en\nlanguage: en\ntitle: Good\n---\nA body.\n",
    )?;
    std::fs::write(
        bad.path().join("bad.md"),
        "---\nid: bad-en\nlanguage: fr\ntitle: Bad\n---\nA body.\n",
    )?;
    let refused = hotline::kb::import(bad.path(), &site, token, false).await;
    let message = format!("{:#}", refused.expect_err("a bad file is refused"));
    let expected = format!("{}:3:", bad.path().join("bad.md").display());
    assert!(
        message.contains(&expected),
        "{message:?} lacks {expected:?}"
    );
    assert!(message.contains("nothing was sent"), "{message}");
    let listed = munich
        .api
        .expect("GET", "/v1/kb/articles", &Value::Null, 200)
        .await?;
    assert_eq!(listed["articles"], json!([]), "nothing was written");

    let starter = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kb/articles");
    let files = std::fs::read_dir(starter)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "md"))
        })
        .count();
    let lines = hotline::kb::import(std::path::Path::new(starter), &site, token, false).await?;
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("{files} created, 0 updated, all published").as_str())
    );
    let listed = munich
        .api
        .expect("GET", "/v1/kb/articles?state=published", &Value::Null, 200)
        .await?;
    assert_eq!(listed["articles"].as_array().map(Vec::len), Some(files));
    let again = hotline::kb::import(std::path::Path::new(starter), &site, token, true).await?;
    assert_eq!(
        again.last().map(String::as_str),
        Some(format!("0 created, {files} updated, left as drafts").as_str())
    );
    munich.stop().await?;
    gateway.stop().await
}
