//! Quotas on reading: a tenant holds a bounded number of open subscriptions and fetches at a
//! bounded rate. Above its bound it gets RESOURCE_EXHAUSTED with `retry-after-ms`, other
//! tenants are served meanwhile, and once it releases (closes a stream, waits as advised) it
//! is served again. All over real mTLS.

use std::time::Duration;

use hotline_federation::model::{EntityKey, EntityKind};
use hotline_proto::v1 as pb;
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::eventually;

/// The `retry-after-ms` advice of a RESOURCE_EXHAUSTED status, checked to be there.
fn retry_after_ms(status: &tonic::Status) -> u64 {
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no retry-after-ms advice: {status:?}"))
}

/// twenty4help at its limit of two open subscriptions is refused a third with retry advice,
/// while helpbycom subscribes at the same time; once one of twenty4help's streams is closed,
/// its slot is free again (a reconnecting site must not be locked out).
#[tokio::test]
async fn open_subscriptions_are_bounded_per_tenant() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.tenant_subscriptions = 2;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut goerlitz = gateway.site_client(&pki, "twenty4help", "goerlitz").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let from_start = || pb::SubscribeRequest { cursor: 0 };

    let first = dortmund.subscribe(from_start()).await?.into_inner();
    let _second = goerlitz.subscribe(from_start()).await?.into_inner();
    let refused = dortmund
        .subscribe(from_start())
        .await
        .expect_err("a third subscription of twenty4help was opened");
    retry_after_ms(&refused);
    assert!(
        refused.message().contains("2 open subscriptions"),
        "{:?}",
        refused.message()
    );

    // Another tenant is not affected, and its stream delivers.
    let mut other = erfurt.subscribe(from_start()).await?.into_inner();
    let event = tokio::time::timeout(Duration::from_secs(10), other.message())
        .await?
        .map_err(anyhow::Error::from)?;
    assert!(event.is_some(), "helpbycom's subscription ended at once");

    // Closing a stream frees its slot as soon as the gateway sees the stream reset.
    drop(first);
    eventually(10, "twenty4help subscribes again", || {
        let mut dortmund = dortmund.clone();
        async move {
            match dortmund.subscribe(from_start()).await {
                Ok(_) => Ok(true),
                Err(status) => {
                    retry_after_ms(&status);
                    Ok(false)
                }
            }
        }
    })
    .await?;
    gateway.stop().await
}

/// twenty4help fetching above its rate is refused with retry advice, helpbycom fetches at the
/// same time, and after waiting as advised twenty4help is served again.
#[tokio::test]
async fn fetches_are_rate_limited_per_tenant() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.max_push_changes = 4;
    config.limits.tenant_fetches_per_second = 10;
    config.limits.tenant_fetch_burst = 4;
    let gateway = RunningGateway::start(config).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let fetch = |n: usize| pb::FetchRequest {
        keys: (0..n)
            .map(|i| EntityKey::new(EntityKind::Ticket, format!("ASZ-2026-{:06}", i + 1)).into())
            .collect(),
    };

    dortmund.fetch(fetch(4)).await?;
    let refused = dortmund
        .fetch(fetch(4))
        .await
        .expect_err("a fetch above the quota was answered");
    let wait = retry_after_ms(&refused);
    assert!(
        (1..=1_000).contains(&wait),
        "4 entities at 10/s are due within 400 ms, advised {wait} ms"
    );
    assert!(
        refused.message().contains("10 entities/s"),
        "{:?}",
        refused.message()
    );

    erfurt.fetch(fetch(4)).await?;

    tokio::time::sleep(Duration::from_millis(wait)).await;
    dortmund.fetch(fetch(4)).await?;
    gateway.stop().await
}
