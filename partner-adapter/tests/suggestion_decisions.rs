//! Decisions on a suggestion are two writes through the store's writer
//! (the article, then the suggestion), and the second can be refused after the first is stored.

use crate::local_api::LocalApi;
use hotline_adapter::mapping::MappingConfig;
use serde_json::{Value, json};

fn body(value: Value) -> Vec<u8> {
    serde_json::to_vec(&value).expect("json")
}

/// In-house decides each of 16 suggestions twice at once, an accept and a reject (two staff
/// members, or a tool's retry beside a colleague): the decision that loses is answered 409
/// "decided already" and must have changed nothing. Today an accept that loses to the reject
/// has already published the proposal as a new article version: the knowledge base serves
/// (and syncs to every site) a text in-house rejected, and the accepting caller was told 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_accept_publishes_nothing() {
    let api = LocalApi::of_site("inhouse", "munich", MappingConfig::default());
    const N: usize = 16;
    let mut rows = Vec::new();
    for i in 0..N {
        rows.push(
            json!({ "id": format!("vpn-{i}"), "language": "en", "title": "VPN",
            "body": "Restart the VPN client.", "tags": ["VPN"], "focus_teams": ["finance-hr"] }),
        );
    }
    let import = api
        .call("POST", "/v1/kb/import", &body(json!({ "articles": rows })))
        .await;
    assert_eq!(import.status, 200, "{}", import.json);
    let mut ids = Vec::new();
    for i in 0..N {
        let edit = json!({ "article_id": format!("vpn-{i}"), "body": "REJECTED TEXT" });
        let proposed = api.call("POST", "/v1/kb/suggestions", &body(edit)).await;
        assert_eq!(proposed.status, 201, "{}", proposed.json);
        ids.push(proposed.json["id"].as_str().expect("id").to_owned());
    }
    let api = std::sync::Arc::new(api);
    let mut decisions = Vec::new();
    for id in &ids {
        for accept in [true, false] {
            let (api, id) = (api.clone(), id.clone());
            decisions.push(tokio::spawn(async move {
                if accept {
                    api.call("POST", &format!("/v1/kb/suggestions/{id}/accept"), b"")
                        .await
                } else {
                    api.call(
                        "POST",
                        &format!("/v1/kb/suggestions/{id}/reject"),
                        &body(json!({ "reason": "No." })),
                    )
                    .await
                }
            }));
        }
    }
    let mut statuses = Vec::new();
    for decision in decisions {
        statuses.push(decision.await.expect("task").status);
    }
    let mut wrong = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let suggestion = api
            .call("GET", &format!("/v1/kb/suggestions/{id}"), b"")
            .await;
        let article = api
            .call("GET", &format!("/v1/kb/articles/vpn-{i}"), b"")
            .await;
        let state = suggestion.json["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let published = article.json["body"].as_str().unwrap_or_default().to_owned();
        let version = article.json["version"].as_u64().unwrap_or_default();
        let consistent = match state.as_str() {
            "rejected" => published == "Restart the VPN client." && version == 1,
            "accepted" => published == "REJECTED TEXT" && version == 2,
            _ => false,
        };
        if !consistent {
            wrong.push(format!(
                "{id}: suggestion {state}, article v{version} {published:?} \
                 (accept {}, reject {})",
                statuses[2 * i],
                statuses[2 * i + 1]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "decisions that disagree with the article: {wrong:#?}"
    );
}

/// Two accepts of one suggestion at once: one is 409, and the article gets one new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suggestion_accepted_twice_at_once_publishes_once() {
    let api = LocalApi::of_site("inhouse", "munich", MappingConfig::default());
    let import = api
        .call(
            "POST",
            "/v1/kb/import",
            &body(json!({ "articles": [{ "id": "vpn-en",
            "language": "en", "title": "VPN", "body": "Restart the VPN client.",
            "tags": ["VPN"], "focus_teams": ["finance-hr"] }] })),
        )
        .await;
    assert_eq!(import.status, 200, "{}", import.json);
    let proposed = api
        .call(
            "POST",
            "/v1/kb/suggestions",
            &body(json!({ "article_id": "vpn-en", "body": "Reboot first." })),
        )
        .await;
    let id = proposed.json["id"].as_str().expect("id").to_owned();
    let api = std::sync::Arc::new(api);
    let accepts: Vec<_> = (0..4)
        .map(|_| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move {
                api.call("POST", &format!("/v1/kb/suggestions/{id}/accept"), b"")
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for accept in accepts {
        statuses.push(accept.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|status| **status == 200).count(),
        1,
        "one accept wins, the others are told it was decided: {statuses:?}"
    );
    let article = api.call("GET", "/v1/kb/articles/vpn-en", b"").await;
    assert_eq!(
        article.json["version"], 2,
        "one accepted suggestion published version {} (answers {statuses:?})",
        article.json["version"]
    );
}
