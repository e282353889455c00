//! An adapter process killed with SIGKILL while it pushes loses no change its API acknowledged
//! and duplicates none after restart.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hotline_federation::EntityKind;
use hotline_federation::model::{FieldValue, TicketField};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, gateway_view};
use hotline_tests::sites::{
    TOKEN, adapter_config, api, child_adapter_command, eventually, run_child_adapter,
};
use serde_json::{Value, json};

/// A child adapter process that is killed when dropped, so a failing test leaves no orphan.
struct ChildAdapter(Child);

impl ChildAdapter {
    /// SIGKILL, then reap.
    fn kill(&mut self) -> anyhow::Result<()> {
        self.0.kill()?;
        self.0.wait()?;
        Ok(())
    }
}

impl Drop for ChildAdapter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts an adapter process with `config_path` and returns it with its API address.
fn spawn(config_path: &std::path::Path) -> anyhow::Result<(ChildAdapter, SocketAddr)> {
    let mut child = child_adapter_command(config_path)?
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let child = ChildAdapter(child);
    let addr = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("adapter exited before listening"))??;
        if line.contains("adapter API listening") {
            let rest = line
                .split("\"addr\":\"")
                .nth(1)
                .ok_or_else(|| anyhow::anyhow!("no addr in {line}"))?;
            break rest.split('"').next().unwrap_or_default().parse()?;
        }
    };
    // Keep draining the log so the process never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((child, addr))
}

/// Not a test: the entry point of the adapter processes this suite starts and kills (it runs
/// only when started by `child_adapter_command`).
#[test]
#[ignore = "entry point of child adapter processes, started by the tests in this file"]
fn child_adapter() -> anyhow::Result<()> {
    run_child_adapter()
}

fn config_toml(config: &hotline_adapter::config::AdapterConfig) -> String {
    format!(
        "federation = {:?}\ntenant = {:?}\nsite = {:?}\ndata_dir = {:?}\n\n[gateway]\nurl = {:?}\nserver_name = \"localhost\"\n\n\
         [tls]\nca_cert = {:?}\ncert = {:?}\nkey = {:?}\n\n[api]\nlisten = \"127.0.0.1:0\"\n\n[log]\nformat = \"json\"\n\n\
         [sync]\nbackoff_min_ms = 20\nbackoff_max_ms = 200\nlease_size = 50\nlease_low_water = 10\npush_batch = 8\n\n\
         [[tools]]\nname = \"crm\"\ntoken = {TOKEN:?}\n",
        config.federation,
        config.tenant,
        config.site,
        config.data_dir,
        config.gateway.url,
        config.tls.ca_cert,
        config.tls.cert,
        config.tls.key,
    )
}

/// Three SIGKILLs in the middle of a stream of writes: afterwards the gateway holds every
/// acknowledged ticket exactly once, under the number the API returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_and_duplicates_nothing() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = RunningGateway::start(federation_config(&pki, dirs[0].path())).await?;
    let config = adapter_config(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )?;
    let config_path = dirs[1].path().join("adapter.toml");
    std::fs::write(&config_path, config_toml(&config))?;

    let acknowledged = Arc::new(Mutex::new(BTreeMap::<String, String>::new()));
    let next = Arc::new(AtomicU64::new(0));
    for cycle in 0..3usize {
        let (mut child, addr) = spawn(&config_path)?;
        let api = api(addr);
        eventually(20, "numbers", || async {
            let (status, sync) = api.call("GET", "/v1/sync/status", &Value::Null).await?;
            Ok(status == 200 && sync["ticket_numbers_left"].as_u64().unwrap_or(0) > 0)
        })
        .await?;
        // Four tools write at once; the kill lands while requests and pushes are in flight.
        let target = acknowledged.lock().expect("lock").len() + 15 + cycle * 5;
        let mut writers = Vec::new();
        for _ in 0..4 {
            let (api, acknowledged, next) = (api.clone(), acknowledged.clone(), next.clone());
            writers.push(tokio::spawn(async move {
                loop {
                    let customer = format!("K-{}", next.fetch_add(1, Ordering::SeqCst));
                    let body = json!({ "customer_ref": customer, "focus_team": "finance-hr", "category": "vpn" });
                    match api.call("POST", "/v1/tickets", &body).await {
                        Ok((201, ticket)) => {
                            let number = ticket["number"].as_str().unwrap_or_default().to_owned();
                            acknowledged.lock().expect("lock").insert(number, customer);
                        }
                        Ok((409, _)) => tokio::task::yield_now().await,
                        _ => return,
                    }
                }
            }));
        }
        eventually(30, "enough acknowledged writes", || async {
            Ok(acknowledged.lock().expect("lock").len() >= target)
        })
        .await?;
        child.kill()?; // SIGKILL
        for writer in writers {
            writer.await?;
        }
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let (mut child, addr) = spawn(&config_path)?;
    let api = api(addr);
    eventually(30, "the restarted adapter pushed everything", || async {
        let (_, sync) = api.call("GET", "/v1/sync/status", &Value::Null).await?;
        Ok(sync["outbox_depth"] == 0 && sync["connected"] == true)
    })
    .await?;
    child.kill()?;

    let mut by_customer: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let view = gateway_view(&gateway.state, "inhouse")?;
    for ticket in view
        .entities
        .values()
        .filter(|e| e.key.kind == EntityKind::Ticket)
    {
        if let Some(FieldValue::Ticket(TicketField::CustomerRef(customer))) =
            ticket.value("customer_ref")
        {
            by_customer
                .entry(customer.clone())
                .or_default()
                .push(ticket.key.id.clone());
        }
    }
    for (customer, numbers) in &by_customer {
        assert_eq!(
            numbers.len(),
            1,
            "request {customer} became {} tickets: {numbers:?}",
            numbers.len()
        );
    }
    for (number, customer) in &acknowledged {
        assert_eq!(
            by_customer.get(customer),
            Some(&vec![number.clone()]),
            "acknowledged {customer} as {number} is missing"
        );
    }
    gateway.stop().await
}
