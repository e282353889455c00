//! A site's API refuses at once, with the federation's own authority rule, a write the gateway
//! would refuse, so it never becomes a dead letter (issue 12, and the start of issue 13's
//! "the adapter checks every local write with the same function").

use hotline_federation::change::MAX_COMMENT_BODY;
use hotline_federation::limits::MAX_ELEMENT_BYTES;
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

/// Once the gateway's heartbeat has named twenty4help's sites, dortmund refuses at its API a
/// handling site of another tenant (erfurt) or an unregistered one, 422 `site_of_own_tenant`
/// listing its own sites, and nothing reaches the gateway; the sister site goerlitz is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_sites_of_other_tenants_are_refused_at_the_api() -> anyhow::Result<()> {
    let OneSite {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    eventually(20, "the site knows its tenant's sites", || async {
        Ok(site.replica.tenant_sites()?.is_some())
    })
    .await?;
    assert_eq!(
        site.replica.tenant_sites()?,
        Some(vec!["dortmund".to_owned(), "goerlitz".to_owned()])
    );
    let new = json!({ "customer_ref": "H-3", "focus_team": "finance-hr", "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &new, 201).await?;
    let path = format!(
        "/v1/tickets/{}",
        ticket["number"].as_str().unwrap_or_default()
    );
    eventually(20, "the new ticket is pushed", || async {
        Ok(site.replica.outbox_depth() == 0)
    })
    .await?;
    let head = gateway.head();
    for other in ["erfurt", "atlantis"] {
        let (status, body) = site
            .api
            .call("PATCH", &path, &json!({ "handling_site": other }))
            .await?;
        assert_eq!(status, 422, "{other}: {body}");
        assert_eq!(body["rule"], "site_of_own_tenant", "{other}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("dortmund, goerlitz")),
            "{body}"
        );
    }
    let sister = json!({ "handling_site": "goerlitz" });
    let moved = site.api.expect("PATCH", &path, &sister, 200).await?;
    assert_eq!(moved["handling_site"], "goerlitz", "{moved}");
    eventually(20, "the site is quiet", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await?;
    assert_eq!(
        gateway.head(),
        head + 1,
        "only the move to goerlitz arrived"
    );
    assert!(site.replica.parked()?.is_empty(), "no dead letters");
    Ok(())
}

/// A comment that would grow a ticket past the bound every site can receive is refused at the
/// API, 422 `entity_bounds`, as the gateway would refuse it; the comments before it stand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_past_its_bounds_is_refused_at_the_api() -> anyhow::Result<()> {
    let OneSite {
        pki: _pki,
        gateway: _gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let new = json!({ "customer_ref": "H-4", "focus_team": "finance-hr", "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &new, 201).await?;
    let path = format!(
        "/v1/tickets/{}/comments",
        ticket["number"].as_str().unwrap_or_default()
    );
    let comment = json!({
        "author_alias": "ak",
        "visibility": "federation",
        "body": "x".repeat(MAX_COMMENT_BODY),
    });
    let limit = MAX_ELEMENT_BYTES / MAX_COMMENT_BODY + 2;
    let mut stored = 0;
    let refusal = loop {
        let (status, body) = site.api.call("POST", &path, &comment).await?;
        match status {
            201 => stored += 1,
            _ => break (status, body),
        }
        anyhow::ensure!(
            stored < limit,
            "{stored} comments of 16 KiB were all stored"
        );
    };
    let (status, body) = refusal;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["rule"], "entity_bounds", "{body}");
    assert!(
        stored >= limit - 8,
        "only {stored} comments before the bound"
    );
    let (_, read) = site
        .api
        .call(
            "GET",
            &path.replace("/comments", ""),
            &serde_json::Value::Null,
        )
        .await?;
    assert_eq!(
        read["comments"].as_array().map(Vec::len),
        Some(stored),
        "{}",
        read["number"]
    );
    Ok(())
}
