//! A corrupt local store at an adapter, with a real gateway and real adapter processes running
//! the command line of `hotline-adapter`: the start is refused with a message naming the data
//! directory, the damage and the recover command; `recover` quarantines the store and keeps the
//! outbox entries it can read; the next start re-syncs everything from the gateway, the kept
//! entries reach it exactly once and new writes are accepted.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use hotline_adapter::cli::{self, EXIT_STORE_DAMAGED};
use hotline_adapter::config::AdapterConfig;
use hotline_adapter::integrity;
use hotline_adapter::replica::Replica;
use hotline_federation::clock::DEFAULT_MAX_SKEW_MS;
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view};
use hotline_tests::sites::{Api, adapter_config, api, eventually};
use serde_json::{Value, json};

/// The variable holding the child's command-line arguments, one a line.
const CHILD_ARGS: &str = "HOTLINE_TEST_CHILD_CLI_ARGS";
const TENANT: &str = "twenty4help";
const SITE: &str = "dortmund";

/// Not a test: the entry point of the `hotline-adapter` processes this suite starts. It runs
/// the binary's own code ([`cli::run_args`]) with the arguments in [`CHILD_ARGS`] and exits with its
/// exit code.
#[test]
#[ignore = "entry point of child hotline-adapter processes, started by the tests in this file"]
fn child_cli() {
    let Some(args) = std::env::var_os(CHILD_ARGS) else {
        return;
    };
    let args = args.to_string_lossy().into_owned();
    let code = cli::run_args(std::iter::once("hotline-adapter").chain(args.lines()), &[]);
    std::process::exit(i32::from(code));
}

/// `hotline-adapter <args>` as a child process: this test executable running [`child_cli`].
fn hotline_adapter(args: &[&str]) -> anyhow::Result<Command> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args([
            "adapter_recover::child_cli",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ARGS, args.join("\n"));
    Ok(command)
}

/// A running adapter process; SIGKILLed when dropped so a failing test leaves no orphan.
struct AdapterProcess {
    child: Child,
    api: Api,
}

impl AdapterProcess {
    /// Waits (at most 20 s) until the site holds leased ticket numbers.
    async fn wait_for_numbers(&self) -> anyhow::Result<()> {
        eventually(20, "ticket numbers leased", || async {
            Ok(self.status().await?["ticket_numbers_left"]
                .as_u64()
                .unwrap_or(0)
                > 0)
        })
        .await
    }

    /// `hotline-adapter --config <config>`, once its API listens.
    fn start(config: &Path) -> anyhow::Result<AdapterProcess> {
        let config = config.to_string_lossy();
        let mut child = hotline_adapter(&["--config", &config])?
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr: SocketAddr = loop {
            let Some(line) = lines.next() else {
                let status = child.wait()?;
                anyhow::bail!("the adapter exited ({status}) before listening");
            };
            let line = line?;
            if line.contains("adapter API listening") {
                let rest = line
                    .split("\"addr\":\"")
                    .nth(1)
                    .ok_or_else(|| anyhow::anyhow!("no addr in {line}"))?;
                break rest.split('"').next().unwrap_or_default().parse()?;
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(AdapterProcess {
            child,
            api: api(addr),
        })
    }

    /// SIGTERM (a clean stop, as an operator stops it) and waits for a successful exit.
    fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let exit = self.child.wait()?;
        anyhow::ensure!(exit.success(), "the adapter stopped with {exit}");
        Ok(())
    }

    async fn status(&self) -> anyhow::Result<Value> {
        Ok(self
            .api
            .call("GET", "/v1/sync/status", &Value::Null)
            .await?
            .1)
    }

    /// Creates a ticket for `customer` and returns its number.
    async fn create(&self, customer: &str) -> anyhow::Result<String> {
        let body =
            json!({ "customer_ref": customer, "focus_team": "finance-hr", "category": "vpn" });
        let (status, ticket) = self.api.call("POST", "/v1/tickets", &body).await?;
        anyhow::ensure!(status == 201, "create {customer}: {status} {ticket}");
        Ok(ticket["number"].as_str().unwrap_or_default().to_owned())
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `hotline-adapter <args>` to completion.
fn run_to_end(args: &[&str]) -> anyhow::Result<Output> {
    let output = hotline_adapter(args)?
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    Ok(output)
}

/// The gateway's tickets of `tenant`'s view, by customer reference.
fn tickets_by_customer(
    gateway: &RunningGateway,
    tenant: &str,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    Ok(hotline_tests::harness::tickets_by_customer(&gateway_view(
        &gateway.state,
        tenant,
    )?))
}

/// The site's setup: a gateway, the adapter's config file and data directory.
struct Site {
    pki: Pki,
    gateway_dir: tempfile::TempDir,
    _site_dir: tempfile::TempDir,
    config: AdapterConfig,
    config_path: PathBuf,
}

impl Site {
    async fn new() -> anyhow::Result<(Site, RunningGateway)> {
        let pki = Pki::new()?;
        let (gateway_dir, site_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let gateway = RunningGateway::start(federation_config(&pki, gateway_dir.path())).await?;
        let config = adapter_config(
            &pki,
            TENANT,
            SITE,
            gateway.addr,
            &site_dir.path().join("data"),
        )?;
        let config_path = site_dir.path().join("adapter.toml");
        std::fs::write(
            &config_path,
            hotline_tests::processes::adapter_toml(&config),
        )?;
        Ok((
            Site {
                pki,
                gateway_dir,
                _site_dir: site_dir,
                config,
                config_path,
            },
            gateway,
        ))
    }

    fn config_arg(&self) -> String {
        self.config_path.to_string_lossy().into_owned()
    }

    /// Starts the adapter expecting it to refuse the damaged store; returns its stderr.
    fn start_refused(&self) -> anyhow::Result<String> {
        let output = run_to_end(&["--config", &self.config_arg()])?;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(i32::from(EXIT_STORE_DAMAGED)),
            "the adapter did not refuse the damaged store; stderr:\n{stderr}"
        );
        for expected in [
            self.config.data_dir.to_string_lossy().into_owned(),
            format!("hotline-adapter recover --config {}", self.config_arg()),
        ] {
            assert!(
                stderr.contains(&expected),
                "stderr does not name {expected:?}:\n{stderr}"
            );
        }
        Ok(stderr)
    }

    /// Runs `hotline-adapter recover`; returns its stdout.
    fn recover(&self) -> anyhow::Result<String> {
        let output = run_to_end(&["recover", "--config", &self.config_arg()])?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        anyhow::ensure!(
            output.status.success(),
            "recover failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(stdout)
    }

    /// The quarantine directory named in recover's summary; checks it exists next to the data
    /// directory.
    fn quarantine_of(&self, summary: &str) -> anyhow::Result<PathBuf> {
        let path = summary
            .lines()
            .find_map(|l| l.strip_prefix("Old store quarantined (kept as found) at: "))
            .ok_or_else(|| anyhow::anyhow!("no quarantine path in:\n{summary}"))?;
        let path = PathBuf::from(path);
        anyhow::ensure!(path.is_dir(), "{} is not there", path.display());
        anyhow::ensure!(
            path.parent() == self.config.data_dir.parent(),
            "quarantine {} is not next to the data dir",
            path.display()
        );
        Ok(path)
    }

    /// After recovery and a restart with the gateway up: the adapter pushed everything and
    /// caught up with the whole log, a new ticket is accepted, and (after a clean stop) the
    /// site's replica equals the gateway's view.
    async fn resync_and_write(&self, gateway: &RunningGateway) -> anyhow::Result<()> {
        let adapter = AdapterProcess::start(&self.config_path)?;
        eventually(
            30,
            "re-synced from cursor 0 and pushed the outbox",
            || async {
                let status = adapter.status().await?;
                Ok(status["connected"] == true
                    && status["outbox_depth"] == 0
                    && status["cursor"].as_u64() == Some(gateway.head()))
            },
        )
        .await?;
        eventually(20, "ticket numbers leased again", || async {
            Ok(adapter.status().await?["ticket_numbers_left"]
                .as_u64()
                .unwrap_or(0)
                > 0)
        })
        .await?;
        let number = adapter.create("K-after-recovery").await?;
        eventually(20, "the new ticket reached the gateway", || async {
            Ok(
                tickets_by_customer(gateway, "inhouse")?.get("K-after-recovery")
                    == Some(&vec![number.clone()]),
            )
        })
        .await?;
        eventually(20, "the new ticket came back", || async {
            let status = adapter.status().await?;
            Ok(status["outbox_depth"] == 0 && status["cursor"].as_u64() == Some(gateway.head()))
        })
        .await?;
        adapter.stop()?;

        let replica = Replica::open(&self.config.data_dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS)?;
        let mine = replica.snapshot()?;
        let theirs = gateway_view(&gateway.state, TENANT)?;
        assert_eq!(
            mine.canonical_hash(),
            theirs.canonical_hash(),
            "the site did not re-sync what the gateway has\nsite: {mine:#?}\ngateway: {theirs:#?}"
        );
        Ok(())
    }
}

/// Tickets made online and offline, then one unpushed outbox entry overwritten with garbage:
/// the start is refused naming that entry; recover keeps the other offline tickets, which reach
/// the gateway exactly once after the restart, the damaged one is reported lost, everything the
/// gateway has is re-synced and a new ticket is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_outbox_entry_recover_keeps_the_rest_and_resyncs() -> anyhow::Result<()> {
    let (site, gateway) = Site::new().await?;
    let adapter = AdapterProcess::start(&site.config_path)?;
    adapter.wait_for_numbers().await?;
    let mut online = Vec::new();
    for i in 0..3 {
        online.push(adapter.create(&format!("K-online-{i}")).await?);
    }
    eventually(20, "online tickets pushed", || async {
        Ok(adapter.status().await?["outbox_depth"] == 0
            && tickets_by_customer(&gateway, "inhouse")?.len() == 3)
    })
    .await?;
    let addr = gateway.addr;
    gateway.stop().await?;
    let mut offline = BTreeMap::new();
    for i in 0..4 {
        let customer = format!("K-offline-{i}");
        offline.insert(adapter.create(&customer).await?, customer);
    }
    assert_eq!(adapter.status().await?["outbox_depth"], 4);
    adapter.stop()?;

    // Overwrite the outbox entry of the second offline ticket, in the sled files themselves.
    let (lost_seq, lost_number) = {
        let replica = Replica::open(&site.config.data_dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS)?;
        let outbox = replica.outbox(usize::MAX)?;
        assert_eq!(outbox.len(), 4);
        drop(replica);
        let victim = &outbox[1];
        let mut key = vec![b'o'];
        key.extend_from_slice(&victim.origin_seq.to_be_bytes());
        let db = integrity::open_db(&site.config.data_dir)?;
        db.insert(key, &b"\x0a\xff\xff\xff garbage"[..])?;
        db.flush()?;
        (victim.origin_seq, victim.key.id.clone())
    };

    let stderr = site.start_refused()?;
    assert!(
        stderr.contains(&format!("outbox entry {lost_seq}")),
        "stderr does not name the damaged entry:\n{stderr}"
    );
    let summary = site.recover()?;
    for expected in [
        "Outbox entries kept: 3",
        "Outbox entries lost (unreadable): 1",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} not in:\n{summary}"
        );
    }
    site.quarantine_of(&summary)?;

    let gateway =
        RunningGateway::start_at(federation_config(&site.pki, site.gateway_dir.path()), addr)
            .await?;
    site.resync_and_write(&gateway).await?;

    let at_gateway = tickets_by_customer(&gateway, "inhouse")?;
    for (i, number) in online.iter().enumerate() {
        assert_eq!(
            at_gateway.get(&format!("K-online-{i}")),
            Some(&vec![number.clone()])
        );
    }
    for (number, customer) in &offline {
        let expected = (number != &lost_number).then(|| vec![number.clone()]);
        assert_eq!(
            at_gateway.get(customer),
            expected.as_ref(),
            "offline ticket {number} of {customer}: kept ones must arrive exactly once, the lost one not at all"
        );
    }
    assert_eq!(at_gateway.len(), 3 + 3 + 1, "{at_gateway:#?}");
    gateway.stop().await
}

/// Bytes of sled's log file overwritten: sled silently opens the store empty, the start is
/// refused anyway; after recover the site re-syncs every ticket from the gateway and new
/// tickets are accepted, not dropped as duplicates of the old store's changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwritten_sled_log_is_refused_and_recovered() -> anyhow::Result<()> {
    let (site, gateway) = Site::new().await?;
    let adapter = AdapterProcess::start(&site.config_path)?;
    adapter.wait_for_numbers().await?;
    for i in 0..5 {
        adapter.create(&format!("K-online-{i}")).await?;
    }
    eventually(20, "tickets pushed", || async {
        Ok(adapter.status().await?["outbox_depth"] == 0
            && tickets_by_customer(&gateway, "inhouse")?.len() == 5)
    })
    .await?;
    adapter.stop()?;

    let log = site.config.data_dir.join("db");
    let mut bytes = std::fs::read(&log)?;
    let end = bytes.len().min(64 * 1024);
    bytes[..end].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&log, bytes)?;

    site.start_refused()?;
    let summary = site.recover()?;
    let quarantine = site.quarantine_of(&summary)?;
    assert!(
        quarantine.join("db").is_file(),
        "the quarantine lacks sled's log"
    );

    site.resync_and_write(&gateway).await?;
    let at_gateway = tickets_by_customer(&gateway, "inhouse")?;
    assert_eq!(at_gateway.len(), 6, "{at_gateway:#?}");
    assert!(at_gateway.values().all(|numbers| numbers.len() == 1));
    gateway.stop().await
}
