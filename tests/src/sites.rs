//! Partner adapters for the end-to-end tests: in-process (library) or as real processes, with
//! a small HTTP client for their local API.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hotline_adapter::config::{AdapterConfig, ClientTls, GatewayLink, ToolToken};
use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::Mapping;
use hotline_adapter::replica::Replica;
use hotline_adapter::run::Adapter;
use hotline_federation::model::EntityKey;
use hotline_federation::{Change, FieldOp};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::harness::{FEDERATION, Pki};

/// The bearer token every test adapter accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// An adapter config for `site` of `tenant` talking to the gateway at `gateway`. The site's
/// certificate is written next to the PKI.
pub fn adapter_config(
    pki: &Pki,
    tenant: &str,
    site: &str,
    gateway: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<AdapterConfig> {
    let cert = pki.site(tenant, site)?;
    let dir = pki.dir.path();
    std::fs::write(dir.join(format!("{site}.pem")), &cert.cert_pem)?;
    std::fs::write(dir.join(format!("{site}.key")), &cert.key_pem)?;
    let mut config = AdapterConfig {
        federation: FEDERATION.into(),
        tenant: tenant.into(),
        site: site.into(),
        data_dir: data_dir.to_path_buf(),
        gateway: GatewayLink {
            url: format!("https://{gateway}"),
            replicas: Vec::new(),
            server_name: "localhost".into(),
        },
        tls: ClientTls {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join(format!("{site}.pem")),
            key: dir.join(format!("{site}.key")),
        },
        tools: vec![ToolToken {
            name: "crm".into(),
            token: TOKEN.into(),
        }],
        ..AdapterConfig::default()
    };
    config.api.listen = "127.0.0.1:0".into();
    config.sync.backoff_min_ms = 20;
    config.sync.backoff_max_ms = 200;
    config.sync.lease_size = 50;
    config.sync.lease_low_water = 10;
    Ok(config)
}

/// An adapter running in this process.
pub struct RunningAdapter {
    /// Its local API.
    pub api: Api,
    /// Its store (for convergence checks).
    pub replica: Arc<Replica>,
    /// Its sync status.
    pub status: Arc<hotline_adapter::sync::SyncStatus>,
    site: String,
    shutdown: CancellationToken,
    task: JoinHandle<hotline_adapter::error::Result<()>>,
}

impl RunningAdapter {
    /// Opens and starts an adapter with its API on 127.0.0.1:0.
    pub async fn start(config: AdapterConfig) -> anyhow::Result<RunningAdapter> {
        let site = config.site.clone();
        let adapter = Adapter::open(config)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = api(listener.local_addr()?);
        let (replica, status) = (adapter.replica.clone(), adapter.status.clone());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(adapter.run(listener, shutdown.clone()));
        Ok(RunningAdapter {
            api,
            replica,
            status,
            site,
            shutdown,
            task,
        })
    }

    /// Starts the adapter of `site` of `tenant` against the gateway at `gateway`, with its
    /// store in `data_dir` and the test config of [`adapter_config`].
    pub async fn for_site(
        pki: &Pki,
        tenant: &str,
        site: &str,
        gateway: SocketAddr,
        data_dir: &Path,
    ) -> anyhow::Result<RunningAdapter> {
        Self::start(adapter_config(pki, tenant, site, gateway, data_dir)?).await
    }

    /// Waits (at most 10 s) until the site holds leased ticket numbers and the focus team
    /// policies of its first snapshot: before those arrive, a partner site knows no team it may
    /// create tickets in, and refuses creates as the gateway would.
    pub async fn wait_for_numbers(&self) -> anyhow::Result<()> {
        eventually(
            10,
            "ticket numbers leased and policies received",
            || async {
                Ok(self.replica.numbers_left()? > 0 && !self.replica.directory()?.teams.is_empty())
            },
        )
        .await
    }

    /// Stops it and waits until its store is closed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("adapter task panicked")??;
        Ok(())
    }

    /// A local change of `ops` to `key`, written straight into the store with the site's clock
    /// reading `at_ms` and none of the API's checks (a misbehaving tool or clock); the sync
    /// loop pushes it like any other.
    pub fn write_directly(
        &self,
        key: &EntityKey,
        at_ms: u64,
        ops: Vec<FieldOp>,
    ) -> anyhow::Result<Change> {
        let events = TicketEvents::new(
            Vec::new(),
            Mapping::new(&Default::default())?,
            self.site.clone(),
            Arc::default(),
        );
        let (change, _) = self
            .replica
            .local_change(key, at_ms, &events, |seq, hlc, _, _| {
                Ok(Change {
                    key: key.clone(),
                    ops,
                    origin_site: self.site.clone(),
                    origin_seq: seq,
                    hlc,
                })
            })?;
        Ok(change)
    }

    /// Its replica, as the convergence check compares it.
    pub fn snapshot(&self) -> anyhow::Result<hotline_federation::Replica> {
        Ok(self.replica.snapshot()?)
    }
}

/// Points the site's webhooks at a port nobody listens on, giving up at the first attempt, so
/// its webhook dead letters show every event with its body; answers that address (also a
/// gateway address that is down, for a site cut off).
pub fn dead_webhook(config: &mut AdapterConfig) -> anyhow::Result<SocketAddr> {
    let down = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    config.webhooks = vec![hotline_adapter::webhooks::WebhookTarget {
        name: "crm".into(),
        url: format!("http://{down}/hook"),
        secret: "s".repeat(32),
        max_attempts: 1,
    }];
    Ok(down)
}

/// Waits (at most 20 s) until the site has pushed everything and applied the gateway's whole
/// log.
pub async fn quiet(
    site: &RunningAdapter,
    gateway: &crate::harness::RunningGateway,
) -> anyhow::Result<()> {
    eventually(20, "the site is quiet", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await
}

/// A client of an adapter's local API with the test token.
pub type Api = hotline::site_api::SiteApi;

/// A client of the adapter at `addr` with the test token.
pub fn api(addr: SocketAddr) -> Api {
    Api::new(addr, TOKEN)
}

/// `N` fresh temporary directories (a gateway's and its sites' data directories).
pub fn temp_dirs<const N: usize>() -> anyhow::Result<[tempfile::TempDir; N]> {
    let mut dirs = Vec::with_capacity(N);
    for _ in 0..N {
        dirs.push(tempfile::tempdir()?);
    }
    dirs.try_into()
        .map_err(|_| anyhow::anyhow!("{N} temporary directories"))
}

/// Waits until `check` holds, polling every 20 ms for at most `seconds`.
pub async fn eventually<F, Fut>(seconds: u64, what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {seconds} s waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The environment variable that turns a test executable into an adapter process (see
/// [`run_child_adapter`]).
pub const CHILD_CONFIG: &str = "HOTLINE_TEST_CHILD_ADAPTER_CONFIG";

/// A command that runs an adapter as its own process: the current test executable again,
/// running only the ignored test `child_adapter` at its root, which calls [`run_child_adapter`]. This way
/// the process always runs the adapter code of this very build.
pub fn child_adapter_command(config: &Path) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args([
            "child_adapter",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_CONFIG, config);
    Ok(command)
}

/// The body of the `child_adapter` entry: loads the config named by [`CHILD_CONFIG`] with the
/// real loader, logs JSON to stdout, and runs the adapter until killed or, on SIGTERM, until it
/// has stopped gracefully.
pub fn run_child_adapter() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(CHILD_CONFIG) else {
        return Ok(());
    };
    let config = AdapterConfig::load(Some(Path::new(&path)), &[])?;
    hotline_runtime::telemetry::init(&config.log.format, &config.log.level);
    let runtime = tokio::runtime::Runtime::new()?;
    let served = runtime.block_on(async {
        let adapter = Adapter::open(config.clone())?;
        let listener = tokio::net::TcpListener::bind(config.api_addr()?).await?;
        let token = CancellationToken::new();
        hotline_runtime::shutdown::install(token.clone())?;
        adapter.run(listener, token).await?;
        anyhow::Ok(())
    });
    hotline_runtime::telemetry::finish();
    served
}

/// A gateway and the adapter of dortmund (twenty4help) holding leased numbers: the setup of
/// the one-site tests.
pub struct OneSite {
    /// The PKI both use.
    pub pki: Pki,
    /// The gateway.
    pub gateway: crate::harness::RunningGateway,
    /// Dortmund's adapter.
    pub site: RunningAdapter,
    /// The data directories, removed when this is dropped.
    pub dirs: [tempfile::TempDir; 2],
}

impl OneSite {
    /// Starts both and waits until the site holds ticket numbers.
    pub async fn start() -> anyhow::Result<OneSite> {
        Self::start_with_gateway_clock(hotline_gateway::state::system_now_ms).await
    }

    /// Like [`OneSite::start`], with the gateway's clock read from `clock`.
    pub async fn start_with_gateway_clock(clock: fn() -> u64) -> anyhow::Result<OneSite> {
        let pki = Pki::new()?;
        let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
        let gateway = crate::harness::RunningGateway::start_with_clock(
            crate::harness::federation_config(&pki, dirs[0].path()),
            clock,
        )
        .await?;
        let site = RunningAdapter::for_site(
            &pki,
            "twenty4help",
            "dortmund",
            gateway.addr,
            dirs[1].path(),
        )
        .await?;
        site.wait_for_numbers().await?;
        Ok(OneSite {
            pki,
            gateway,
            site,
            dirs,
        })
    }
}
