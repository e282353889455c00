//! A site's API refuses at once, with the federation's own authority rule, a write the gateway
//! would refuse, so it never becomes a dead letter (issue 12, and the start of issue 13's
//! "the adapter checks every local write with the same function").

use hotline_tests::sites::{OneSite, eventually};
use serde_json::{Value, json};

/// Dortmund (twenty4help) lists the teams it may use; creating a ticket in another team and
/// moving one to another team are answered 422 naming the rule, nothing is stored or
/// sent, and the site has no dead letters; the same team again with a real change is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_writes_are_answered_at_the_api() -> anyhow::Result<()> {
    let OneSite {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let list = || site.api.expect("GET", "/v1/focus-teams", &Value::Null, 200);
    eventually(20, "the site knows its focus teams", || async {
        let teams = list().await?;
        Ok(teams["teams"].as_array().is_some_and(|t| t.len() == 2))
    })
    .await?;
    let teams = list().await?;
    let ids: Vec<&str> = teams["teams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert_eq!(ids, ["dealers-sales", "finance-hr"], "{teams}");
    assert!(
        teams["teams"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|t| t["customer_data"] == true),
        "twenty4help holds the customer data of both: {teams}"
    );

    let head = gateway.head();
    let foreign = json!({ "customer_ref": "H-1", "focus_team": "plants", "category": "vpn" });
    let (status, body) = site.api.call("POST", "/v1/tickets", &foreign).await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "refused", "{body}");
    assert_eq!(body["rule"], "team_handled", "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("does not handle focus team plants")
            && message.contains("dealers-sales, finance-hr"),
        "{body}"
    );

    let good = json!({ "customer_ref": "H-2", "focus_team": "finance-hr", "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &good, 201).await?;
    let path = format!(
        "/v1/tickets/{}",
        ticket["number"].as_str().unwrap_or_default()
    );
    let (status, body) = site
        .api
        .call("PATCH", &path, &json!({ "focus_team": "dealers-sales" }))
        .await?;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "only_inhouse_reroutes", "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("escalate")),
        "{body}"
    );
    let same = json!({ "focus_team": "finance-hr", "subject": "VPN drops" });
    let updated = site.api.expect("PATCH", &path, &same, 200).await?;
    assert_eq!(updated["subject"], "VPN drops", "{updated}");

    eventually(20, "the site is quiet", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await?;
    assert_eq!(
        gateway.head(),
        head + 2,
        "only the good ticket and its update reached the gateway"
    );
    assert!(site.replica.parked()?.is_empty(), "no dead letters");
    Ok(())
}
