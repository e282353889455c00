//! The standard services beside Federation (health, reflection) and the writer's behaviour
//! when the store fails, using the in-memory store as a deterministic double.

use std::sync::Arc;

use hotline_gateway::store::memory::MemoryStore;
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, number, open_ticket, push};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view, lease};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

/// Health reports the Federation service as serving and reflection lists every service, so
/// stock tools (grpcurl, grpc_health_probe) work against the gateway.
#[tokio::test]
async fn health_and_reflection_answer() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let channel = gateway
        .channel(&pki, Some(&pki.site("inhouse", "munich")?))
        .await?;

    let health = HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "hotline.v1.Federation".into(),
        })
        .await?
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(futures_util::stream::iter([request]))
        .await?
        .into_inner();
    let response = responses.message().await?.expect("one reflection response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        anyhow::bail!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "hotline.v1.Federation",
        "hotline.v1.Admin",
        "hotline.v1.Audit",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    gateway.stop().await
}

/// When the store fails (a full disk), pushes and leases get UNAVAILABLE, nothing unstored is
/// acknowledged, and the gateway recovers when the store works again.
#[tokio::test]
async fn failing_store_acknowledges_nothing_and_recovers() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let mut config = federation_config(&pki, std::path::Path::new(""));
    config.storage = "memory".into();
    let store = Arc::new(MemoryStore::new());
    let gateway = RunningGateway::start_with_store(config, store.clone()).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 5).await?;
    let head = gateway.head();
    let before = gateway_view(&gateway.state, "inhouse")?;

    store.set_failing(true);
    let change = open_ticket(
        &number(&block, 0),
        "twenty4help",
        "dortmund",
        "finance-hr",
        1,
    );
    let status = dortmund
        .push(push(std::slice::from_ref(&change)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    let status = dortmund
        .lease(pb::LeaseRequest { count: 1 })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(gateway.head(), head);

    store.set_failing(false);
    assert_eq!(
        gateway_view(&gateway.state, "inhouse")?,
        before,
        "a failed group left traces"
    );
    let results = accepted(&dortmund.push(push(&[change])).await?.into_inner())?;
    assert_eq!(
        results,
        vec![(head + 1, false)],
        "the retried change is stored once, as new"
    );
    gateway.stop().await
}
