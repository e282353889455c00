//! A subscriber that stops reading is disconnected with a clear status; the others keep
//! receiving and the writer never waits for it.

use anyhow::Context;
use hotline_federation::model::Visibility;
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, collect_until, federation_config, lease, small_window_client,
};

/// One stalled subscriber is ended with RESOURCE_EXHAUSTED while a second one receives every
/// change.
#[tokio::test]
async fn stalled_subscriber_is_cut_off_while_others_keep_receiving() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.subscriber_buffer = 4;
    config.limits.stall_timeout_ms = 300;
    // Room for every entry of the test, so only the stall (not lag) can end a subscriber.
    config.limits.broadcast_capacity = 4096;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut stalled = small_window_client(&gateway, &pki, &pki.site("inhouse", "munich")?).await?;
    let mut reader = gateway.site_client(&pki, "twenty4help", "goerlitz").await?;

    let mut stalled_stream = stalled
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let mut reader_stream = reader
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();

    let block = lease(&mut dortmund, 1).await?;
    let id = number(&block, 0);
    accepted(
        &dortmund
            .push(push(&[open_ticket(
                &id,
                "twenty4help",
                "dortmund",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;
    // 2 MB of comments: far more than the HTTP/2 windows and the subscriber buffer hold.
    let body = "y".repeat(4000);
    for batch in 0..10u64 {
        let changes: Vec<_> = (0..50u64)
            .map(|i| {
                let seq = 2 + batch * 50 + i;
                comment(
                    &id,
                    "twenty4help",
                    "dortmund",
                    seq,
                    &format!("dortmund-{seq}"),
                    Visibility::Federation,
                    &body,
                )
            })
            .collect();
        accepted(&dortmund.push(push(&changes)).await?.into_inner())?;
    }
    let head = gateway.head();

    let received = collect_until(&mut reader_stream, 10_000, |events| {
        events.last().is_some_and(|e| e.cursor >= head)
    })
    .await
    .context("the reading subscriber")?;
    assert!(
        received.len() >= 500,
        "the reading subscriber got {} events",
        received.len()
    );

    // The stalled one now drains what was buffered and then sees the status.
    let mut status = None;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while status.is_none() {
        let next = tokio::time::timeout_at(deadline, stalled_stream.message()).await;
        match next.context("the stalled subscriber was never cut off")? {
            Ok(Some(_)) => {}
            Ok(None) => anyhow::bail!("stalled stream ended without a status"),
            Err(e) => status = Some(e),
        }
    }
    let status = status.expect("status");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("resubscribe from cursor"),
        "{status:?}"
    );
    gateway.stop().await
}
