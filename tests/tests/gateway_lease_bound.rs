//! One site cannot lease the whole year's ticket numbers: each site holds at most
//! `limits.max_unused_numbers_per_site` numbers leased but not used, and a refused lease does
//! not stop an adapter from syncing. All over real mTLS.

use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, number, open_ticket, push};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, lease};
use hotline_tests::sites::{RunningAdapter, adapter_config, eventually};
use serde_json::json;

/// The exhaustion attack: dortmund asks for 10,000 numbers again and again. With the default
/// bound (20,000 unused per site) the third lease is refused naming the unused count and the
/// bound, while erfurt still gets numbers; after dortmund uses five, it may lease five more,
/// and the count survives a gateway restart.
#[tokio::test]
async fn a_site_cannot_lease_the_whole_year() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let config = federation_config(&pki, data.path());
    assert_eq!(config.limits.max_unused_numbers_per_site, 20_000);
    let gateway = RunningGateway::start(config.clone()).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;

    let mut blocks = Vec::new();
    let mut refusal = None;
    for _ in 0..100 {
        match dortmund.lease(pb::LeaseRequest { count: 10_000 }).await {
            Ok(answer) => blocks.push(answer.into_inner().block.expect("block")),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    assert_eq!(blocks.len(), 2, "leases granted before the bound");
    let refusal = refusal.expect("dortmund leased a million numbers");
    assert_eq!(
        refusal.code(),
        tonic::Code::ResourceExhausted,
        "{refusal:?}"
    );
    for needle in ["holds 20000 leased", "bound of 20000"] {
        assert!(
            refusal.message().contains(needle),
            "{:?} lacks {needle:?}",
            refusal.message()
        );
    }
    lease(&mut erfurt, 1).await?;

    // Using five numbers makes room for five more, not six.
    let tickets: Vec<_> = (0..5)
        .map(|i| {
            open_ticket(
                &number(&blocks[0], i),
                "twenty4help",
                "dortmund",
                "finance-hr",
                i + 1,
            )
        })
        .collect();
    accepted(&dortmund.push(push(&tickets)).await?.into_inner())?;
    // A retried push is a duplicate and uses nothing more.
    accepted(&dortmund.push(push(&tickets)).await?.into_inner())?;
    let refused = dortmund
        .lease(pb::LeaseRequest { count: 6 })
        .await
        .expect_err("six numbers fit where five were used");
    assert!(refused.message().contains("holds 19995"), "{refused:?}");
    lease(&mut dortmund, 5).await?;

    // The count is durable: after a restart dortmund is still at the bound.
    let addr = gateway.addr;
    gateway.stop().await?;
    let gateway = RunningGateway::start_at(config, addr).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let refused = dortmund
        .lease(pb::LeaseRequest { count: 1 })
        .await
        .expect_err("the restarted gateway forgot dortmund's unused numbers");
    assert_eq!(
        refused.code(),
        tonic::Code::ResourceExhausted,
        "{refused:?}"
    );
    assert!(refused.message().contains("holds 20000"), "{refused:?}");
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    lease(&mut erfurt, 1).await?;
    gateway.stop().await
}

/// An adapter whose every lease is refused (its lease size is above the bound) keeps its
/// session: it receives a ticket munich opens, pushes its comment on it, and shows the refusal
/// in its sync status instead of reconnecting over and over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adapter_refused_numbers_keeps_syncing() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let mut config = federation_config(&pki, dirs[0].path());
    config.limits.max_unused_numbers_per_site = 40;
    let gateway = RunningGateway::start(config).await?;
    let site_config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?;
    assert!(
        site_config.sync.lease_size > 40,
        "the lease must be refused"
    );
    let dortmund = RunningAdapter::start(site_config).await?;
    eventually(10, "the refusal shows in the sync status", || async {
        let status = dortmund
            .api
            .expect("GET", "/v1/sync/status", &json!(null), 200)
            .await?;
        Ok(status["lease_refused"]
            .as_str()
            .is_some_and(|m| m.contains("bound of 40")))
    })
    .await?;

    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let id = number(&lease(&mut munich, 1).await?, 0);
    accepted(
        &munich
            .push(push(&[open_ticket(
                &id,
                "inhouse",
                "munich",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;
    eventually(10, "dortmund receives munich's ticket", || async {
        let (status, _) = dortmund
            .api
            .call("GET", &format!("/v1/tickets/{id}"), &json!(null))
            .await?;
        Ok(status == 200)
    })
    .await?;
    dortmund
        .api
        .expect(
            "POST",
            &format!("/v1/tickets/{id}/comments"),
            &json!({ "author_alias": "agent-7", "visibility": "federation", "body": "called back" }),
            201,
        )
        .await?;
    eventually(10, "dortmund's comment reaches the gateway", || async {
        Ok(dortmund.replica.outbox_depth() == 0
            && dortmund
                .status
                .pushed
                .load(std::sync::atomic::Ordering::SeqCst)
                >= 1)
    })
    .await?;

    let status = dortmund
        .api
        .expect("GET", "/v1/sync/status", &json!(null), 200)
        .await?;
    assert_eq!(status["connected"], json!(true), "{status}");
    assert_eq!(
        status["last_error"],
        json!(""),
        "a session ended over the refused lease: {status}"
    );
    assert_eq!(status["ticket_numbers_left"], json!(0), "{status}");
    dortmund.stop().await?;
    gateway.stop().await
}
