//! Servers under test run as child processes of `hotline bench` (the same executable with a
//! hidden `serve-bench` command), so the gateway's resident memory is its own and client and
//! server compete for the cores as they would on a real host.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};

use anyhow::Context;
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// Which server a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The real gateway on sled.
    Gateway,
    /// The baseline mock (no storage).
    Mock,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Mock => "mock",
        }
    }

    /// Parses the name given to `serve-bench`.
    pub fn parse(name: &str) -> anyhow::Result<Kind> {
        match name {
            "gateway" => Ok(Kind::Gateway),
            "mock" => Ok(Kind::Mock),
            other => anyhow::bail!("unknown server kind {other:?}; known: gateway, mock"),
        }
    }
}

/// A server child process; killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The directory with its PKI and data.
    pub dir: PathBuf,
}

impl ServerProcess {
    /// Starts a `kind` server over the PKI and data in `dir`, on the config's default engine.
    pub fn start(kind: Kind, dir: &Path) -> anyhow::Result<ServerProcess> {
        Self::start_on(kind, dir, None)
    }

    /// Starts a `kind` server over the PKI and data in `dir`; a gateway stores with `storage`
    /// (`sled`, `redb`) when given.
    pub fn start_on(
        kind: Kind,
        dir: &Path,
        storage: Option<&str>,
    ) -> anyhow::Result<ServerProcess> {
        Self::start_shifted(kind, dir, storage, 0)
    }

    /// [`ServerProcess::start_on`] with the gateway's clock `clock_offset_ms` off the system's
    /// (the growth mode's fill turns the year this way).
    pub fn start_shifted(
        kind: Kind,
        dir: &Path,
        storage: Option<&str>,
        clock_offset_ms: i64,
    ) -> anyhow::Result<ServerProcess> {
        let mut args = Vec::new();
        if let Some(engine) = storage {
            args.extend(["--storage".to_string(), engine.to_string()]);
        }
        if clock_offset_ms != 0 {
            args.push(format!("--clock-offset-ms={clock_offset_ms}"));
        }
        Self::start_with(kind, dir, &args)
    }

    /// A gateway storing in the PostgreSQL database at `url`, in `schema`.
    pub fn start_on_postgres(dir: &Path, url: &str, schema: &str) -> anyhow::Result<ServerProcess> {
        let args = [
            "--storage",
            "postgres",
            "--postgres-url",
            url,
            "--postgres-schema",
            schema,
        ];
        Self::start_with(Kind::Gateway, dir, &args.map(str::to_string))
    }

    fn start_with(kind: Kind, dir: &Path, args: &[String]) -> anyhow::Result<ServerProcess> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve-bench", kind.name()])
            .arg(dir)
            .args(args);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the server child")?;
        let stdout = child.stdout.take().context("child without stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("ready ")
            .with_context(|| format!("server child did not start: {line:?}"))?
            .parse()?;
        Ok(ServerProcess {
            child,
            addr,
            dir: dir.to_path_buf(),
        })
    }

    /// The child's resident memory in bytes (from /proc).
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_of(self.child.id())
    }

    /// Kills the child with SIGKILL, as a crash would, and waits for it.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A Federation client presenting `site`'s certificate.
    pub async fn client(&self, site: &str) -> anyhow::Result<FederationClient<Channel>> {
        let pki = self.dir.join("pki");
        let read = |f: String| std::fs::read_to_string(pki.join(&f)).with_context(|| f.clone());
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read("ca.pem".into())?))
            .identity(Identity::from_pem(
                read(format!("{site}.pem"))?,
                read(format!("{site}.key"))?,
            ))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://{}", self.addr))?
            .tls_config(tls)?
            .connect()
            .await?;
        Ok(FederationClient::new(channel).max_decoding_message_size(64 * 1024 * 1024))
    }
}

/// The resident memory of process `pid` in bytes (from /proc).
pub fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc status")?;
    Ok(kb * 1024)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing stdin asks for a graceful stop; kill if it does not come.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The offset of a bench gateway's clock from the system's ([`serve_child`]); one per process.
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The bench gateway's clock: the system's, moved by [`CLOCK_OFFSET_MS`].
fn shifted_now_ms() -> u64 {
    hotline_gateway::state::system_now_ms()
        .saturating_add_signed(CLOCK_OFFSET_MS.load(Ordering::Relaxed))
}

/// The body of `hotline serve-bench KIND DIR [--storage ENGINE] [--postgres-url URL
/// --postgres-schema S] [--clock-offset-ms MS]`: serve
/// until stdin closes. A gateway whose clock is moved (`clock_offset_ms`) leases numbers of the
/// year its clock is in: the growth mode fills more tickets than one year's numbers that way.
pub async fn serve_child(
    kind: Kind,
    dir: &Path,
    storage: Option<String>,
    postgres: Option<(String, String)>,
    clock_offset_ms: i64,
) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        stop.cancel();
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = crate::demo::federation::gateway_config(dir);
    super::growth::sites::extend_config(&mut config, dir)?;
    if let Some(engine) = storage {
        config.storage = engine;
    }
    if let Some((url, schema)) = postgres {
        config.postgres.url = url;
        config.postgres.schema = schema;
    }
    let announce = || -> anyhow::Result<()> {
        let mut out = std::io::stdout();
        writeln!(out, "ready {addr}")?;
        out.flush()?;
        Ok(())
    };
    match kind {
        Kind::Gateway => {
            CLOCK_OFFSET_MS.store(clock_offset_ms, Ordering::Relaxed);
            let state =
                hotline_gateway::state::GatewayState::open_with_clock(config, shifted_now_ms)
                    .await?;
            announce()?;
            hotline_gateway::server::run(listener, state, shutdown).await?;
        }
        Kind::Mock => {
            let files = hotline_gateway::tls::TlsFiles {
                ca_cert: config.tls.ca_cert.clone(),
                cert: config.tls.cert.clone(),
                key: config.tls.key.clone(),
                crl: None,
            };
            announce()?;
            super::mock::serve(listener, files, super::load::sample_event(), shutdown).await?;
        }
    }
    Ok(())
}
