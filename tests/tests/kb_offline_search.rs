//! The knowledge base end to end, offline: in-house imports the starter articles at munich,
//! they reach a partner site over mTLS, the gateway stops, and the partner's own index still
//! answers the labelled caller queries with the articles that must come in the top three.

use hotline::demo::knowledge::{caller_queries, encode, kb_dir, starter_articles};
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::{RunningAdapter, eventually};
use serde_json::{Value, json};

/// The floor the labelled set must reach at a partner site with the gateway stopped (the same
/// set scores 1.0 in the index's own quality test; BENCHMARKS.md has the numbers).
const RECALL_AT_3_FLOOR: f64 = 0.9;

/// The labelled queries keep their recall@3 at a partner site while the gateway is down: the
/// site searches its own index of the articles it received, and drafts never reached it.
#[tokio::test]
async fn labelled_queries_pass_offline_at_a_partner_site() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway =
        RunningGateway::start(federation_config(&pki, &data.path().join("gateway"))).await?;
    let dir = |name: &str| data.path().join(name);
    let munich =
        RunningAdapter::for_site(&pki, "inhouse", "munich", gateway.addr, &dir("munich")).await?;
    let erfurt =
        RunningAdapter::for_site(&pki, "helpbycom", "erfurt", gateway.addr, &dir("erfurt")).await?;
    munich.wait_for_numbers().await?;
    erfurt.wait_for_numbers().await?;

    let kb = kb_dir();
    let articles = starter_articles(&kb)?;
    let count = articles.len();
    munich
        .api
        .expect(
            "POST",
            "/v1/kb/import",
            &json!({"articles": articles, "publish": true}),
            200,
        )
        .await?;
    // A draft in-house keeps to itself: a new article never published.
    munich
        .api
        .expect(
            "POST",
            "/v1/kb/articles",
            &json!({"id": "secret-draft-en", "language": "en", "title": "Zanzibar rollout plan",
                    "body": "Zanzibar draft notes", "tags": [], "focus_teams": []}),
            201,
        )
        .await?;
    eventually(30, "every published article at erfurt", || async {
        let (status, list) = erfurt
            .api
            .call("GET", "/v1/kb/articles", &Value::Null)
            .await?;
        Ok(status == 200 && list["articles"].as_array().map_or(0, Vec::len) == count)
    })
    .await?;
    gateway.stop().await?;

    let queries = caller_queries(&kb)?;
    let mut found = 0;
    let mut reciprocal = 0.0;
    for query in &queries {
        let path = format!(
            "/v1/kb/search?q={}&lang={}&limit=3",
            encode(&query.text),
            query.language
        );
        let answer = erfurt.api.expect("GET", &path, &Value::Null, 200).await?;
        let rank = answer["hits"]
            .as_array()
            .into_iter()
            .flatten()
            .position(|hit| query.relevant.iter().any(|id| hit["id"] == id.as_str()));
        if let Some(rank) = rank {
            found += 1;
            reciprocal += 1.0 / (rank as f64 + 1.0);
        }
    }
    let recall = found as f64 / queries.len() as f64;
    println!(
        "offline at erfurt: recall@3 {recall:.3}, MRR@3 {:.3} over {} queries",
        reciprocal / queries.len() as f64,
        queries.len()
    );
    assert!(
        recall >= RECALL_AT_3_FLOOR,
        "recall@3 {recall:.3} is below the floor {RECALL_AT_3_FLOOR}"
    );
    let draft = erfurt
        .api
        .expect("GET", "/v1/kb/search?q=Zanzibar", &Value::Null, 200)
        .await?;
    assert_eq!(
        draft["hits"],
        json!([]),
        "a draft reached a partner: {draft}"
    );
    let held = erfurt.snapshot()?;
    let leaked = held
        .entities
        .values()
        .any(|e| format!("{e:?}").contains("Zanzibar"));
    assert!(!leaked, "the draft's text is in the partner's replica");
    erfurt.stop().await?;
    munich.stop().await?;
    Ok(())
}
