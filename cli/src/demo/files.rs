//! The demo's files (issue 17): dortmund attaches a log file about the customer the demo
//! erases and a screenshot of the VPN error, and attaches the same screenshot to a colleague's
//! ticket; the gateway stores the screenshot once; munich (in-house) reads it through its API,
//! which fetches it on first read. After the erasure the log file is gone from the gateway and
//! from every site, and the screenshot stays for the colleague's ticket.

use std::path::Path;

use serde_json::json;

use super::federation::Federation;

/// The log file about the erased customer: its name and text are erased with them.
pub const LOG_NAME: &str = "beispiel-vpn.log";
/// Its content.
pub const LOG_TEXT: &str = "VPN-Protokoll von Clara Beispiel: Tunnel getrennt um 10:07";
/// The site that attaches the files.
const SITE: &str = "dortmund";
/// The site that reads the screenshot.
const READER: &str = "munich";

/// What happened to the files.
#[derive(Clone, Debug, Default)]
pub struct FilesReport {
    /// Files attached (comments carrying one), distinct contents among them.
    pub attached: (usize, usize),
    /// Files the gateway stored after the attachments, and their bytes.
    pub stored: (u64, u64),
    /// The reader fetched the screenshot on first read and got the same bytes.
    pub read_back: bool,
    /// Files the gateway stored after the erasure.
    pub stored_after_erasure: u64,
    /// Sites still holding the erased customer's log file after the erasure.
    pub log_held_by: Vec<String>,
    /// The screenshot's SHA-256 and the log file's.
    digests: (String, String),
}

/// A small PNG (the signature, then a fixed pattern): the "screenshot".
fn screenshot() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend((0..48 * 1024u32).map(|i| u8::try_from((i * 7 + i / 13) % 251).unwrap_or(0)));
    out
}

/// Attaches `bytes` to ticket `number` at the demo's site; answers the file's SHA-256.
async fn attach(
    fed: &Federation,
    number: &str,
    name: &str,
    visibility: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<String> {
    let api = &fed.site(SITE).api;
    api.attach_expect(number, (name, content_type), visibility, "Agent 3", bytes)
        .await
}

/// Attaches the files: the log and the screenshot to the erased customer's ticket
/// (`erased_ticket`), the screenshot again to a colleague's new ticket.
pub async fn attach_files(fed: &Federation, erased_ticket: &str) -> anyhow::Result<FilesReport> {
    let shot = screenshot();
    let log = attach(
        fed,
        erased_ticket,
        LOG_NAME,
        "federation",
        "text/plain",
        LOG_TEXT.as_bytes().to_vec(),
    )
    .await?;
    let picture = attach(
        fed,
        erased_ticket,
        "vpn-error.png",
        "public",
        "image/png",
        shot.clone(),
    )
    .await?;
    let colleague = fed
        .site(SITE)
        .api
        .expect(
            "POST",
            "/v1/tickets",
            &json!({ "customer_ref": "E-DEMO-2", "focus_team": "finance-hr", "category": "vpn" }),
            201,
        )
        .await?;
    let colleague = colleague["number"].as_str().unwrap_or_default().to_owned();
    let again = attach(
        fed,
        &colleague,
        "vpn-error.png",
        "public",
        "image/png",
        shot.clone(),
    )
    .await?;
    anyhow::ensure!(again == picture, "the same bytes got another digest");
    Ok(FilesReport {
        attached: (3, 2),
        digests: (picture, log),
        ..FilesReport::default()
    })
}

/// Once the files reached the gateway: what it stores, and the reader's first read of the
/// screenshot (fetched from the gateway then).
pub async fn read_back(
    fed: &Federation,
    erased_ticket: &str,
    report: &mut FilesReport,
) -> anyhow::Result<()> {
    report.stored = hotline_gateway::files::stored(fed.gateway.store.as_ref())?;
    let (status, content_type, bytes) = fed
        .site(READER)
        .api
        .bytes(&format!(
            "/v1/tickets/{erased_ticket}/files/{}",
            report.digests.0
        ))
        .await?;
    report.read_back = status == 200 && content_type == "image/png" && bytes == screenshot();
    Ok(())
}

/// After the erasure reached every site (and each site's keeper had a moment): what the
/// gateway stores and which sites still hold the log file.
pub async fn after_erasure(fed: &Federation, report: &mut FilesReport) -> anyhow::Result<()> {
    // The sites' directories are beside the gateway's.
    let dir = fed
        .gateway
        .config
        .data_dir
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let started = std::time::Instant::now();
    loop {
        report.stored_after_erasure = hotline_gateway::files::stored(fed.gateway.store.as_ref())?.0;
        report.log_held_by = super::federation::SITES
            .iter()
            .filter(|(id, _, _)| {
                dir.join(format!("site-{id}"))
                    .join("files")
                    .join(&report.digests.1)
                    .exists()
            })
            .map(|(id, _, _)| (*id).to_owned())
            .collect();
        let done =
            report.stored_after_erasure + 1 == report.stored.0 && report.log_held_by.is_empty();
        if done || started.elapsed() > std::time::Duration::from_secs(30) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// True when the files did what the demo shows.
pub fn ok(report: &FilesReport) -> bool {
    report.stored.0 == 2
        && report.read_back
        && report.stored_after_erasure == 1
        && report.log_held_by.is_empty()
}

/// Prints what happened to the files.
pub fn print(report: &FilesReport) {
    let (attached, distinct) = report.attached;
    println!();
    println!(
        "Files: {attached} attached at {SITE} ({distinct} distinct); the gateway stores {} ({:.1} KiB), each once",
        report.stored.0,
        report.stored.1 as f64 / 1024.0
    );
    println!(
        "  {READER} read vpn-error.png through its API (fetched on first read): {}",
        if report.read_back {
            "identical bytes"
        } else {
            "FAILED"
        }
    );
    println!(
        "  after the erasure the gateway stores {} file(s); the customer's {LOG_NAME} is held by {}",
        report.stored_after_erasure,
        if report.log_held_by.is_empty() {
            "no site".to_owned()
        } else {
            report.log_held_by.join(", ")
        }
    );
}
