//! The simulated hosts: the gateway serving the real Federation service on the in-memory
//! store, and the sites running the real sync loop beside their users' writes.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hotline_adapter::config::{AdapterConfig, GatewayLink};
use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::Mapping;
use hotline_adapter::replica::Replica;
use hotline_adapter::sync::{self, Dialer, Jitter, SyncContext, SyncOptions, SyncStatus};
use hotline_federation::Change;
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::identity::Identity;
use hotline_gateway::server::{VouchedConnection, serve_incoming};
use hotline_gateway::state::GatewayState;
use hotline_gateway::store::memory::MemoryStore;
use hotline_gateway::writer::WriterMode;
use hotline_tests::harness::federation_layout;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::codegen::http::Uri;
use tonic::transport::Endpoint;

use super::workload::{Rng, local_write, now_for_site};
use super::{FAST_KEEPALIVE, GATEWAY, PORT, SITES};

/// The gateway's config; with `fast_keepalive` both ends give up on a silent connection
/// within seconds (see [`FAST_KEEPALIVE`]).
fn gateway_config(fast_keepalive: bool) -> GatewayConfig {
    GatewayConfig {
        storage: "memory".into(),
        // Site clocks run on simulated time, which may run ahead of the gateway's real clock.
        max_skew_ms: 3_600_000,
        limits: hotline_gateway::config::Limits {
            heartbeat_interval_ms: 1000,
            keepalive_interval_s: if fast_keepalive { 2 } else { 30 },
            keepalive_timeout_s: if fast_keepalive { 2 } else { 10 },
            ..hotline_gateway::config::Limits::default()
        },
        ..federation_layout()
    }
}

/// Connects tonic channels over turmoil's simulated TCP.
#[derive(Clone, Copy, Debug)]
struct SimConnector;

impl tonic::codegen::Service<Uri> for SimConnector {
    type Response = TokioIo<turmoil::net::TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(PORT);
            let stream = turmoil::net::TcpStream::connect(format!("{host}:{port}")).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// What one site accepted from its users, in order.
pub(crate) type Accepted = Arc<Mutex<Vec<Change>>>;

/// One site of the simulation, as the checks see it.
pub(crate) struct SiteRun {
    pub(crate) site: &'static str,
    pub(crate) tenant: &'static str,
    pub(crate) replica: Arc<Replica>,
    pub(crate) status: Arc<SyncStatus>,
    pub(crate) accepted: Accepted,
    pub(crate) done: Arc<AtomicBool>,
}

/// Registers the gateway host: the real Federation service on the in-memory store, each peer
/// vouched for by its simulated host name.
pub(crate) fn gateway_host(
    sim: &mut turmoil::Sim<'_>,
    store: Arc<MemoryStore>,
    cell: GatewayCell,
    fast_keepalive: bool,
) {
    sim.host(GATEWAY, move || {
        let (store, cell) = (store.clone(), cell.clone());
        async move {
            let config = gateway_config(fast_keepalive);
            let state = GatewayState::open_with_writer(config, store, WriterMode::Task).await?;
            *cell.lock().unwrap() = Some(state.clone());
            let listener =
                turmoil::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))
                    .await?;
            let connections = futures_util::stream::unfold(listener, |listener| async move {
                let accepted = listener.accept().await.and_then(|(stream, peer)| {
                    let identity = identity_of_host(peer.ip()).ok_or_else(|| {
                        std::io::Error::other(format!("unknown simulated peer {peer}"))
                    })?;
                    Ok(VouchedConnection::new(stream, identity))
                });
                Some((accepted, listener))
            });
            serve_incoming(connections, state, CancellationToken::new()).await?;
            Ok(())
        }
    });
}

/// The site identity of a simulated host, by its name.
pub(crate) fn identity_of_host(ip: IpAddr) -> Option<Identity> {
    let name = turmoil::reverse_lookup(ip)?;
    SITES
        .iter()
        .find(|(site, _, _)| *site == name)
        .map(|(site, tenant, _)| Identity::Site {
            tenant: (*tenant).into(),
            site: (*site).into(),
        })
}

pub(crate) type GatewayCell = Arc<Mutex<Option<Arc<GatewayState>>>>;

/// Registers one site host: the real sync loop plus a seeded stream of local writes.
pub(crate) fn site_host(
    sim: &mut turmoil::Sim<'_>,
    seed: u64,
    index: usize,
    base_ms: u64,
    fast_keepalive: bool,
    dir: &Path,
) -> anyhow::Result<SiteRun> {
    let (site, tenant, _) = SITES[index];
    let replica = Arc::new(Replica::open(
        dir,
        site,
        tenant,
        hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
    )?);
    let mut config = AdapterConfig {
        federation: "acme".into(),
        tenant: tenant.into(),
        site: site.into(),
        data_dir: dir.to_path_buf(),
        gateway: GatewayLink {
            url: format!("http://{GATEWAY}:{PORT}"),
            replicas: Vec::new(),
            server_name: GATEWAY.into(),
        },
        ..AdapterConfig::default()
    };
    config.sync.backoff_min_ms = 50;
    config.sync.backoff_max_ms = 2000;
    config.sync.lease_size = 20;
    config.sync.lease_low_water = 5;
    config.sync.push_batch = 8;
    let config = Arc::new(config);
    let events = Arc::new(TicketEvents::new(
        Vec::new(),
        Mapping::new(&config.mapping)?,
        site.into(),
        Arc::new(Notify::new()),
    ));
    let status = Arc::new(SyncStatus::default());
    let accepted: Accepted = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let run = SiteRun {
        site,
        tenant,
        replica: replica.clone(),
        status: status.clone(),
        accepted: accepted.clone(),
        done: done.clone(),
    };
    let site_seed = seed.wrapping_mul(31).wrapping_add(index as u64 + 1);
    sim.host(site, move || {
        let ctx = SyncContext {
            replica: replica.clone(),
            events: events.clone(),
            status: status.clone(),
            outbox: Arc::new(Notify::new()),
            files: Arc::new(
                hotline_adapter::files::Files::open(&config.data_dir, &config.files)
                    .expect("files directory"),
            ),
            config: config.clone(),
            metrics: Arc::new(hotline_adapter::metrics::AdapterMetrics::new(
                &config.tenant,
                &config.site,
            )),
        };
        let (accepted, done) = (accepted.clone(), done.clone());
        async move {
            let dial: sync::Dial = Arc::new(move |endpoint: Endpoint| {
                let endpoint = if fast_keepalive {
                    endpoint
                        .http2_keep_alive_interval(FAST_KEEPALIVE)
                        .keep_alive_timeout(FAST_KEEPALIVE)
                } else {
                    endpoint
                };
                Box::pin(async move { endpoint.connect_with_connector(SimConnector).await })
            });
            let options = SyncOptions {
                dialer: Dialer::Custom(dial),
                jitter: Jitter::seeded(site_seed),
                apply_inline: true,
            };
            let outbox = ctx.outbox.clone();
            let (replica, events) = (ctx.replica.clone(), ctx.events.clone());
            let syncing = tokio::spawn(sync::run_with(ctx, options, CancellationToken::new()));
            let mut rng = Rng::new(site_seed);
            let writes = rng.range(15..40);
            let mut made = 0;
            while made < writes {
                tokio::time::sleep(rng.millis(20..1500)).await;
                let now = now_for_site(base_ms);
                let written = local_write(&mut rng, &replica, &events, SITES[index], now)
                    .map_err(|e| format!("{site}: local write failed: {e:#}"))?;
                if let Some(change) = written {
                    accepted.lock().unwrap().push(change);
                    outbox.notify_one();
                    made += 1;
                }
            }
            done.store(true, Ordering::SeqCst);
            syncing.await?;
            Ok(())
        }
    });
    Ok(run)
}
