//! An adapter process killed with SIGKILL while it pushes loses no change its API acknowledged
//! and duplicates none after restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hotline_tests::harness::{
    Pki, RunningGateway, federation_config, gateway_view, tickets_by_customer,
};
use hotline_tests::processes::{ChildProcess, adapter_toml, spawn_until_listening};
use hotline_tests::sites::{adapter_config, api, child_adapter_command, eventually};
use serde_json::{Value, json};

/// Starts an adapter process with `config_path` and returns it with its API address.
fn spawn(config_path: &std::path::Path) -> anyhow::Result<(ChildProcess, SocketAddr)> {
    spawn_until_listening(child_adapter_command(config_path)?, "adapter API listening")
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
    std::fs::write(&config_path, adapter_toml(&config))?;

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

    let by_customer = tickets_by_customer(&gateway_view(&gateway.state, "inhouse")?);
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
