//! `run(listener, state, shutdown)`: the gRPC server on an already bound listener, behind our
//! own mTLS accept loop (CRL reload), with health and reflection beside the Federation service.
//!
//! [`serve_incoming`] serves the same Federation service over connections someone else accepted
//! and vouches for (a simulated network in the deterministic tests); it never reads TLS files.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use hotline_proto::v1::admin_server::AdminServer;
use hotline_proto::v1::audit_server::AuditServer;
use hotline_proto::v1::federation_server::FederationServer;
use hotline_proto::v1::reports_server::ReportsServer;
use hotline_proto::v1::reviews_server::ReviewsServer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::Connected;
use tower_layer::Stack;

use crate::api::admin::AdminApi;
use crate::api::audit::AuditApi;
use crate::api::federation::FederationApi;
use crate::api::reports::ReportsApi;
use crate::api::reviews::ReviewsApi;
use crate::config::{Limits, TlsConfig};
use crate::error::{Error, Result};
use crate::identity::{Identity, Vouched};
use crate::oversize::OversizeLayer;
use crate::state::GatewayState;
use crate::tls::{
    AcceptLimits, CrlExpired, CrlPolicy, ServerTls, TlsFiles, incoming, spawn_reloader,
};

/// Serves until `shutdown` is cancelled, then finishes in-flight requests, ends subscriptions,
/// lets the writer commit what it holds, and returns.
pub async fn run(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<()> {
    let config = &state.config;
    let tls = Arc::new(ServerTls::load_with(
        &TlsFiles {
            ca_cert: config.tls.ca_cert.clone(),
            cert: config.tls.cert.clone(),
            key: config.tls.key.clone(),
            crl: config.tls.crl.clone(),
        },
        crl_policy(&config.tls)?,
    )?);
    let reloader = spawn_reloader(
        tls.clone(),
        Duration::from_millis(config.tls.reload_interval_ms),
        shutdown.child_token(),
    );
    let limits = &config.limits;
    let connections = incoming(listener, tls, accept_limits(limits), shutdown.child_token());

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<FederationServer<FederationApi>>()
        .await;
    health.set_serving::<AdminServer<AdminApi>>().await;
    health.set_serving::<ReviewsServer<ReviewsApi>>().await;
    let review_stop = shutdown.child_token();
    let review_schedule = crate::review::schedule::spawn(state.clone(), review_stop.clone());
    let retention_stop = shutdown.child_token();
    let retention_sweep = crate::retention::spawn(state.clone(), retention_stop.clone());
    health.set_serving::<AuditServer<AuditApi>>().await;
    let checkpoints_stop = shutdown.child_token();
    let checkpoints = crate::audit::spawn_checkpoints(state.clone(), checkpoints_stop.clone());
    health.set_serving::<ReportsServer<ReportsApi>>().await;
    let gauges_stop = shutdown.child_token();
    let gauges = crate::gauges::spawn(state.clone(), gauges_stop.clone());
    let sweeper_stop = shutdown.child_token();
    let sweeper = crate::files::spawn_sweeper(state.clone(), sweeper_stop.clone());
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(hotline_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| Error::Tls(format!("reflection service: {e}")))?;
    let federation = federation_service(
        FederationApi::new(state.clone(), shutdown.child_token()),
        limits,
    );

    tracing::info!(federation = %config.federation, head = state.shared.head.load(std::sync::atomic::Ordering::SeqCst), "gateway serving");
    let serve = server_builder(limits)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(federation)
        .add_service(admin_service(AdminApi::new(state.clone()), limits))
        .add_service(
            ReviewsServer::new(ReviewsApi::new(state.clone()))
                .max_decoding_message_size(limits.max_message_bytes)
                .max_encoding_message_size(limits.max_message_bytes),
        )
        .add_service(
            AuditServer::new(AuditApi::new(state.clone()))
                .max_decoding_message_size(limits.max_message_bytes)
                .max_encoding_message_size(limits.max_message_bytes),
        )
        .add_service(
            ReportsServer::new(ReportsApi::new(state.clone()))
                .max_decoding_message_size(limits.max_message_bytes)
                .max_encoding_message_size(limits.max_message_bytes),
        )
        .serve_with_incoming_shutdown(connections, shutdown.cancelled());
    let grace = Duration::from_millis(limits.shutdown_grace_ms);
    let served = tokio::select! {
        served = serve => served,
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_ms = limits.shutdown_grace_ms, "connections still open after the grace period; dropping them");
            Ok(())
        }
    };
    review_stop.cancel();
    let _ = review_schedule.await;
    retention_stop.cancel();
    let _ = retention_sweep.await;
    checkpoints_stop.cancel();
    let _ = checkpoints.await;
    gauges_stop.cancel();
    let _ = gauges.await;
    sweeper_stop.cancel();
    let _ = sweeper.await;
    state.close().await;
    let _ = reloader.await;
    tracing::info!("gateway stopped");
    served.map_err(|e| Error::Unavailable(format!("server failed: {e}")))
}

/// The accept loop's bounds from the config's `limits`.
fn accept_limits(limits: &Limits) -> AcceptLimits {
    AcceptLimits {
        handshake_timeout: Duration::from_millis(limits.handshake_timeout_ms),
        first_byte_timeout: Duration::from_millis(limits.first_byte_timeout_ms),
        max_handshakes: limits.max_handshakes,
        max_handshakes_per_peer: limits.max_handshakes_per_peer,
        max_pending: limits.max_pending_connections,
    }
}

/// How the TLS layer treats an expiring or expired CRL, from the config's `tls`.
fn crl_policy(tls: &TlsConfig) -> Result<CrlPolicy> {
    let expired = CrlExpired::parse(&tls.crl_expired).ok_or_else(|| Error::Config {
        field: "tls.crl_expired".into(),
        problem: format!(
            "{:?} is not known; known: {}",
            tls.crl_expired,
            CrlExpired::KNOWN
        ),
    })?;
    Ok(CrlPolicy {
        expired,
        warn_remaining_percent: tls.crl_warn_remaining_percent,
        warn_interval: Duration::from_secs(tls.crl_warn_interval_s),
    })
}

/// The Federation service with the configured message size limits.
fn federation_service(api: FederationApi, limits: &Limits) -> FederationServer<FederationApi> {
    FederationServer::new(api)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes)
}

/// The Admin service with the configured message size limits.
fn admin_service(api: AdminApi, limits: &Limits) -> AdminServer<AdminApi> {
    AdminServer::new(api)
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes)
}

/// The HTTP/2 settings every gateway server uses: keepalive, stream and connection limits, and
/// `RESOURCE_EXHAUSTED` for a message over the size limit ([`OversizeLayer`]).
fn server_builder(limits: &Limits) -> Server<Stack<OversizeLayer, tower_layer::Identity>> {
    Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(limits.keepalive_interval_s)))
        .http2_keepalive_timeout(Some(Duration::from_secs(limits.keepalive_timeout_s)))
        .max_concurrent_streams(Some(limits.max_concurrent_streams))
        .max_connection_age(Duration::from_secs(limits.max_connection_age_s))
        .max_connection_age_grace(Duration::from_secs(30))
        .layer(OversizeLayer)
}

/// A connection accepted outside the gateway, with the identity its acceptor vouches for.
/// Every request on it carries that identity as a [`Vouched`] extension.
#[derive(Debug)]
pub struct VouchedConnection<IO> {
    io: IO,
    identity: Identity,
}

impl<IO> VouchedConnection<IO> {
    /// `io`, whose peer is `identity`.
    pub fn new(io: IO, identity: Identity) -> Self {
        VouchedConnection { io, identity }
    }
}

impl<IO> Connected for VouchedConnection<IO> {
    type ConnectInfo = Vouched;

    fn connect_info(&self) -> Vouched {
        Vouched(self.identity.clone())
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for VouchedConnection<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for VouchedConnection<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Serves the Federation service (only) over `connections`, which the caller accepted and
/// whose peers it vouches for, until `shutdown`; then ends subscriptions and closes `state`.
///
/// This is the seam for running the real service over a transport other than our mTLS
/// listener, e.g. the simulated network of the deterministic sync tests. Nothing here reads
/// TLS files or trusts the network: a caller is who its [`VouchedConnection`] says (a client
/// certificate, if one is somehow present, still wins). [`run`] never accepts a vouched
/// identity. Server settings (keepalive, limits) are the same as [`run`]'s.
pub async fn serve_incoming<S, IO, E>(
    connections: S,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<()>
where
    S: Stream<Item = std::result::Result<VouchedConnection<IO>, E>>,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limits = &state.config.limits;
    let federation = federation_service(
        FederationApi::with_vouched_identities(state.clone(), shutdown.child_token()),
        limits,
    );
    let served = server_builder(limits)
        .add_service(federation)
        .serve_with_incoming_shutdown(connections, shutdown.cancelled())
        .await;
    state.close().await;
    served.map_err(|e| Error::Unavailable(format!("server failed: {e}")))
}
