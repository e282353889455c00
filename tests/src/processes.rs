//! Gateways and adapters as real processes that tests can SIGKILL and restart: the current test
//! executable started again, running only an ignored entry test (`child_gateway` or
//! `child_adapter`), so each process runs the code of this very build with the real config
//! loaders.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use hotline_adapter::config::AdapterConfig;
use hotline_gateway::config::GatewayConfig;
use tokio_util::sync::CancellationToken;

/// A child process that is killed when dropped, so a failing test leaves no orphan.
#[derive(Debug)]
pub struct ChildProcess(Child);

impl ChildProcess {
    /// SIGKILL, then reap.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }

    /// SIGTERM (a graceful stop), then reap; fails if the process does not exit cleanly.
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let exit = self.0.wait()?;
        anyhow::ensure!(exit.success(), "the process stopped with {exit}");
        Ok(())
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with its stdout piped, reads its JSON log until the line containing
/// `ready` and returns the process with the `addr` that line names. The rest of the log is
/// drained so the process never blocks on a full pipe. A process that is not ready within
/// 30 s is killed and reported.
pub fn spawn_until_listening(
    mut command: Command,
    ready: &str,
) -> anyhow::Result<(ChildProcess, SocketAddr)> {
    let mut child = command
        .env(
            "RUST_LOG",
            "warn,hotline_gateway=info,hotline_adapter=info,hotline_tests=info",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut child = ChildProcess(child);
    let (found, addr) = std::sync::mpsc::channel();
    let ready = ready.to_owned();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        // The last lines logged, for the error when the process ends before it is ready.
        let mut last = std::collections::VecDeque::new();
        let result = loop {
            match lines.next() {
                None => {
                    let last: Vec<String> = last.into();
                    break Err(anyhow::anyhow!(
                        "the process exited before logging {ready:?}; its last lines:\n{}",
                        last.join("\n")
                    ));
                }
                Some(Err(e)) => break Err(e.into()),
                Some(Ok(line)) if line.contains(&ready) => {
                    break line
                        .split("\"addr\":\"")
                        .nth(1)
                        .and_then(|rest| rest.split('"').next())
                        .ok_or_else(|| anyhow::anyhow!("no addr in {line}"))
                        .and_then(|addr| Ok(addr.parse::<SocketAddr>()?));
                }
                Some(Ok(line)) => {
                    if last.len() == 20 {
                        last.pop_front();
                    }
                    last.push_back(line);
                }
            }
        };
        let _ = found.send(result);
        lines.for_each(drop);
    });
    match addr.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(Ok(addr)) => Ok((child, addr)),
        Ok(Err(e)) => Err(e),
        Err(_) => {
            child.kill()?;
            anyhow::bail!("the process was not ready within 30 s")
        }
    }
}

/// The environment variable that turns a test executable into a gateway process.
pub const CHILD_GATEWAY_CONFIG: &str = "HOTLINE_TEST_CHILD_GATEWAY_CONFIG";

/// A command running a gateway with the config file `config` as its own process (the ignored
/// test `child_gateway` at the root of the test executable, which calls [`run_child_gateway`]).
pub fn child_gateway_command(config: &Path) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args([
            "child_gateway",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_GATEWAY_CONFIG, config);
    Ok(command)
}

/// The body of the `child_gateway` entry: what `hotline-gateway --config` does. It logs
/// `listening` with the bound address once its store is open (so a start's time, as the
/// crash harness measures it, includes opening and repairing the store), and stops gracefully
/// on SIGTERM.
pub fn run_child_gateway() -> anyhow::Result<()> {
    let Some(path) = std::env::var_os(CHILD_GATEWAY_CONFIG) else {
        return Ok(());
    };
    let config = GatewayConfig::load(Some(Path::new(&path)), &[])?;
    hotline_runtime::telemetry::init(&config.log.format, &config.log.level);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen_addr()?).await?;
        let token = CancellationToken::new();
        hotline_runtime::shutdown::install(token.clone())?;
        let state = hotline_gateway::state::GatewayState::open(config).await?;
        tracing::info!(addr = %listener.local_addr()?, "listening");
        hotline_gateway::server::run(listener, state, token).await?;
        anyhow::Ok(())
    })
}

/// `config` as the TOML file the gateway loads (the fields the tests set).
pub fn gateway_toml(config: &GatewayConfig) -> String {
    let list = |items: &[String]| format!("{items:?}");
    let mut toml = format!(
        "federation = {:?}\nlisten = {:?}\ndata_dir = {:?}\nstorage = {:?}\n\n\
         [log]\nformat = \"json\"\n\n\
         [tls]\nca_cert = {:?}\ncert = {:?}\nkey = {:?}\n",
        config.federation,
        config.listen,
        config.data_dir,
        config.storage,
        config.tls.ca_cert,
        config.tls.cert,
        config.tls.key,
    );
    if let Some(crl) = &config.tls.crl {
        toml += &format!("crl = {crl:?}\n");
    }
    if config.storage == "postgres" {
        toml += &format!(
            "\n[postgres]\nurl = {:?}\nschema = {:?}\n",
            config.postgres.url, config.postgres.schema
        );
    }
    if let Some(key) = &config.audit.signing_key {
        toml += &format!("\n[audit]\nsigning_key = {key:?}\n");
    }
    toml += &format!(
        "\n[limits]\nheartbeat_interval_ms = {}\n",
        config.limits.heartbeat_interval_ms
    );
    for tenant in &config.tenants {
        toml += &format!(
            "\n[[tenants]]\nid = {:?}\nname = {:?}\n",
            tenant.id, tenant.name
        );
    }
    for site in &config.sites {
        toml += &format!(
            "\n[[sites]]\nid = {:?}\ntenant = {:?}\n",
            site.id, site.tenant
        );
    }
    for team in &config.focus_teams {
        toml += &format!(
            "\n[[focus_teams]]\nid = {:?}\nname = {:?}\nhandlers = {}\npii_grants = {}\n",
            team.id,
            team.name,
            list(&team.handlers),
            list(&team.pii_grants)
        );
    }
    toml
}

/// `config` as the TOML file the adapter loads (the fields the tests set).
pub fn adapter_toml(config: &AdapterConfig) -> String {
    format!(
        "federation = {:?}\ntenant = {:?}\nsite = {:?}\ndata_dir = {:?}\n\n[gateway]\nurl = {:?}\nreplicas = {:?}\nserver_name = \"localhost\"\n\n\
         [tls]\nca_cert = {:?}\ncert = {:?}\nkey = {:?}\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[ops]\nlisten = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\n\n\
         [sync]\nbackoff_min_ms = 20\nbackoff_max_ms = 200\nlease_size = 50\nlease_low_water = 10\npush_batch = 8\n\n\
         [[tools]]\nname = \"crm\"\ntoken = {:?}\n",
        config.federation,
        config.tenant,
        config.site,
        config.data_dir,
        config.gateway.url,
        config.gateway.replicas,
        config.tls.ca_cert,
        config.tls.cert,
        config.tls.key,
        crate::sites::TOKEN,
    )
}
