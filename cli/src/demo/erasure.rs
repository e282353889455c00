//! The demo's erasure (issue 17): one customer, with a ticket at a partner site, contact data
//! and a comment about them, asks to be forgotten in the middle of the day. In-house staff
//! erase them; every site confirms once it applied the erasure; after the federation stops,
//! each store is opened once more (which rewrites it into fresh files, as an erasure asks) and
//! every byte of every store directory is scanned for the erased strings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use super::federation::{Federation, GatewayStorage};

/// The customer who asks to be forgotten.
pub const CUSTOMER_REF: &str = "E-DEMO-1";
/// Their data, as written at the site (a log file about them too); none of it may remain.
const ERASED: [&str; 6] = [
    "Clara Beispiel",
    "clara.beispiel@example.com",
    "+49 30 5550199",
    "Frau Beispiel meldet sich wegen des VPN",
    super::files::LOG_NAME,
    super::files::LOG_TEXT,
];
/// The site that takes their call.
const SITE: &str = "dortmund";

/// What the erasure did and what the scan found.
#[derive(Clone, Debug, Default)]
pub struct ErasureReport {
    /// Tickets erased.
    pub tickets: u32,
    /// Sites whose cursor passed the erasure's log position, in the federation's order.
    pub confirmed: Vec<String>,
    /// Sites that had not when the demo looked last.
    pub pending: Vec<String>,
    /// Store directories scanned, files and bytes read.
    pub scanned: (usize, usize, u64),
    /// Erased strings found (file: string); empty when clean.
    pub found: Vec<String>,
    /// With the gateway on PostgreSQL: its live rows scanned, and their bytes.
    pub rows_scanned: Option<(usize, u64)>,
}

/// Opens the customer's ticket at the partner site, with a comment naming them.
pub async fn open_ticket(fed: &Federation) -> anyhow::Result<String> {
    let api = &fed.site(SITE).api;
    let ticket = api
        .expect(
            "POST",
            "/v1/tickets",
            &json!({
                "customer_ref": CUSTOMER_REF,
                "focus_team": "finance-hr",
                "category": "vpn",
                "customer_name": ERASED[0],
                "customer_email": ERASED[1],
                "customer_phone": ERASED[2],
            }),
            201,
        )
        .await?;
    let number = ticket["number"].as_str().unwrap_or_default().to_owned();
    api.expect(
        "POST",
        &format!("/v1/tickets/{number}/comments"),
        &json!({ "author_alias": "Agent 3", "visibility": "federation", "body": ERASED[3] }),
        201,
    )
    .await?;
    Ok(number)
}

/// Erases the customer as in-house staff and waits (at most 60 s) until every site applied it.
pub async fn erase(fed: &Federation) -> anyhow::Result<ErasureReport> {
    let erasure = hotline_gateway::erasure::erase_customer(
        &fed.gateway,
        format!("staff:admin:{}", super::oversight::DASHBOARD_STAFF),
        CUSTOMER_REF.into(),
        "demo: the customer asked to be forgotten".into(),
    )
    .await?;
    let started = Instant::now();
    loop {
        let mut report = ErasureReport {
            tickets: erasure.tickets,
            ..ErasureReport::default()
        };
        for site in &fed.sites {
            let replica = site.replica.clone();
            let cursor = tokio::task::spawn_blocking(move || replica.cursor()).await??;
            if cursor >= erasure.log_seq {
                report.confirmed.push(site.id.into());
            } else {
                report.pending.push(site.id.into());
            }
        }
        if report.pending.is_empty() || started.elapsed() > Duration::from_secs(60) {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// After the federation stopped: opens every store once more (the rewrite an erasure asks
/// for runs at open) and scans every byte of the store directories under `dir`.
pub fn rewrite_and_scan(
    dir: &Path,
    storage: &GatewayStorage,
    report: &mut ErasureReport,
) -> anyhow::Result<()> {
    let config = super::federation::gateway_config(dir);
    let mut stores = Vec::new();
    if let Some(url) = &storage.postgres_url {
        scan_rows(url, report)?;
    } else {
        let cache = config.storage_cache_mib << 20;
        drop(hotline_gateway::store::engine::open(
            &config.storage,
            &config.data_dir,
            cache,
        )?);
        stores.push(config.data_dir.clone());
    }
    for (id, tenant, _) in super::federation::SITES {
        let site_dir = dir.join(format!("site-{id}"));
        drop(hotline_adapter::replica::Replica::open(
            &site_dir,
            id,
            tenant,
            hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
        )?);
        stores.push(site_dir);
    }
    let (mut files, mut bytes) = (0, 0u64);
    for store in &stores {
        let mut stack: Vec<PathBuf> = vec![store.clone()];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path)? {
                    stack.push(entry?.path());
                }
                continue;
            }
            let content = std::fs::read(&path)?;
            files += 1;
            bytes += content.len() as u64;
            for erased in ERASED {
                if content
                    .windows(erased.len())
                    .any(|w| w == erased.as_bytes())
                {
                    report.found.push(format!("{}: {erased}", path.display()));
                }
            }
        }
    }
    report.scanned = (stores.len(), files, bytes);
    Ok(())
}

/// The gateway's store on PostgreSQL: every live key and value read back through the store
/// (the database's own files, with row versions until vacuumed and the WAL, are the server's;
/// README "PostgreSQL" says what an operator does about them).
fn scan_rows(url: &str, report: &mut ErasureReport) -> anyhow::Result<()> {
    use hotline_gateway::store::{Pages, postgres::PostgresStore};
    // The stopped gateway's session may take a moment to end and free the writer lock.
    let started = std::time::Instant::now();
    let store = loop {
        match PostgresStore::open(url, 1) {
            Ok(store) => break store,
            Err(e) if started.elapsed() < std::time::Duration::from_secs(10) => {
                tracing::debug!(error = %e, "waiting for the gateway's session to end");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut pages = Pages::new(Vec::new(), vec![0xff; 16], 1024);
    let (mut rows, mut bytes) = (0usize, 0u64);
    while let Some(page) = pages.next_page(&store)? {
        for (key, value) in page {
            rows += 1;
            bytes += (key.len() + value.len()) as u64;
            for erased in ERASED {
                if value.windows(erased.len()).any(|w| w == erased.as_bytes()) {
                    report
                        .found
                        .push(format!("PostgreSQL row {key:02x?}: {erased}"));
                }
            }
        }
    }
    report.rows_scanned = Some((rows, bytes));
    Ok(())
}

/// Prints what the erasure did.
pub fn print(report: &ErasureReport) {
    let (stores, files, bytes) = report.scanned;
    println!();
    println!(
        "Erasure: customer {CUSTOMER_REF} asked to be forgotten midway; {} ticket(s) erased",
        report.tickets
    );
    println!(
        "  confirmed by {} of {} sites: {}{}",
        report.confirmed.len(),
        report.confirmed.len() + report.pending.len(),
        report.confirmed.join(", "),
        if report.pending.is_empty() {
            String::new()
        } else {
            format!("; pending: {}", report.pending.join(", "))
        }
    );
    let verdict = if report.found.is_empty() {
        "clean".to_owned()
    } else {
        format!("FOUND {}", report.found.join("; "))
    };
    println!(
        "  byte scan of {stores} store directories ({files} files, {:.1} MiB) after the rewrite: {verdict}",
        bytes as f64 / (1024.0 * 1024.0)
    );
    if let Some((rows, bytes)) = report.rows_scanned {
        println!(
            "  gateway on PostgreSQL: {rows} live rows ({:.1} MiB) read back and scanned; the \
             server's own files (old row versions until vacuumed, the WAL) are not scanned",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
}
