//! `run(listener, state, shutdown)`: the gRPC server on an already bound listener, behind our
//! own mTLS accept loop (CRL reload), with health and reflection beside the Federation service.

use std::sync::Arc;
use std::time::Duration;

use hotline_proto::v1::admin_server::AdminServer;
use hotline_proto::v1::federation_server::FederationServer;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;

use crate::api::admin::AdminApi;
use crate::api::federation::FederationApi;
use crate::error::{Error, Result};
use crate::state::GatewayState;
use crate::tls::{ServerTls, TlsFiles, incoming, spawn_reloader};

/// Serves until `shutdown` is cancelled, then finishes in-flight requests, ends subscriptions,
/// lets the writer commit what it holds, and returns.
pub async fn run(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<()> {
    let config = &state.config;
    let tls = Arc::new(ServerTls::load(&TlsFiles {
        ca_cert: config.tls.ca_cert.clone(),
        cert: config.tls.cert.clone(),
        key: config.tls.key.clone(),
        crl: config.tls.crl.clone(),
    })?);
    let reloader = spawn_reloader(
        tls.clone(),
        Duration::from_millis(config.tls.reload_interval_ms),
        shutdown.child_token(),
    );
    let limits = &config.limits;
    let connections = incoming(
        listener,
        tls,
        Duration::from_millis(limits.handshake_timeout_ms),
        shutdown.child_token(),
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<FederationServer<FederationApi>>()
        .await;
    health.set_serving::<AdminServer<AdminApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Tls(format!("reflection service: {e}")))?;
    let federation =
        FederationServer::new(FederationApi::new(state.clone(), shutdown.child_token()))
            .max_decoding_message_size(limits.max_message_bytes)
            .max_encoding_message_size(limits.max_message_bytes);

    tracing::info!(federation = %config.federation, head = state.shared.head.load(std::sync::atomic::Ordering::SeqCst), "gateway serving");
    let serve = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(limits.keepalive_interval_s)))
        .http2_keepalive_timeout(Some(Duration::from_secs(limits.keepalive_timeout_s)))
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .max_connection_age(Duration::from_secs(limits.max_connection_age_s))
        .max_connection_age_grace(Duration::from_secs(30))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(federation)
        .add_service(AdminServer::new(AdminApi::new(state.clone())))
        .serve_with_incoming_shutdown(connections, shutdown.cancelled());
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    let served = tokio::select! {
        served = serve => served,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_ms = limits.shutdown_grace_ms, "connections still open after the grace period; dropping them");
            Ok(())
        }
    };
    state.close().await;
    let _ = reloader.await;
    tracing::info!("gateway stopped");
    served.map_err(|e| Error::Unavailable(format!("server failed: {e}")))
}
