//! `hotline demo` end to end at a small size: the whole federation starts, a simulated day of
//! 200 calls runs through the sites' real APIs, and the summary shows converged replicas.

use std::process::Command;

/// The demo with 200 calls exits 0 and reports every replica identical to the gateway's view
/// for its tenant, holding every ticket that tenant may see, after one site worked offline.
#[test]
fn demo_with_200_calls_converges() {
    let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["demo", "--calls", "200", "--seed", "7"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("hotline runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let replica_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("tickets visible"))
        .collect();
    assert_eq!(replica_lines.len(), 4, "{stdout}");
    for line in &replica_lines {
        assert!(line.ends_with("identical"), "replica differs: {line}");
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(numbers.len(), 2, "{line}");
        assert_eq!(
            numbers[0], numbers[1],
            "a site misses tickets it may see: {line}"
        );
        assert!(numbers[0] > 0, "{line}");
    }
    // munich (in-house) sees every ticket; the partners fewer.
    let munich: u64 = replica_lines[0]
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let answered: u64 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("calls:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(answered > 150, "{stdout}");
    assert_eq!(munich, answered, "in-house must see every ticket: {stdout}");
    let offline = stdout
        .lines()
        .find(|l| l.contains("worked without the gateway"))
        .unwrap_or_default();
    let created: u64 = offline
        .split("created ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        created > 0,
        "the offline site created no tickets while offline: {offline}"
    );
    let knowledge = stdout
        .lines()
        .find(|l| l.contains("agents found an answer"))
        .unwrap_or_default();
    let articles: u64 = knowledge
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        articles >= 60,
        "the starter knowledge base was not published: {knowledge}"
    );
    let refused = stdout
        .lines()
        .find(|l| l.contains("the leak guard refused"))
        .and_then(|l| l.split("refused ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(
        refused > 0,
        "no careless public comment was refused: {stdout}"
    );
    assert!(
        stdout.contains("customer  http://"),
        "no status page line: {stdout}"
    );
}

/// The status page the demo prints opens with the printed number and access code, shows the
/// ticket's public history signed by the brand, and names no partner or site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_status_page_opens_with_the_printed_code() -> anyhow::Result<()> {
    use hotline::demo::{DemoOptions, Federation, OFFLINE_SITE, run};
    let dir = tempfile::tempdir()?;
    let fed = Federation::start(dir.path(), OFFLINE_SITE).await?;
    let summary = run(
        &fed,
        &DemoOptions {
            calls: 40,
            seed: 3,
            progress: false,
        },
    )
    .await?;
    let (number, code) = summary.outcome.sample.clone().expect("a sample ticket");
    let page = hotline::site_api::SiteApi::new(fed.status_page, "unused");
    let body = serde_json::json!({"number": number, "code": code});
    let (status, view) = page.call("POST", "/api/status", &body).await?;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["public_number"], number.as_str(), "{view}");
    let text = view.to_string().to_lowercase();
    for name in [
        "dortmund",
        "goerlitz",
        "erfurt",
        "twenty4help",
        "helpbycom",
        "munich",
    ] {
        assert!(
            !text.contains(name),
            "{name} in the customer's view: {view}"
        );
    }
    let wrong = serde_json::json!({"number": number, "code": "00000-00000"});
    assert_eq!(page.call("POST", "/api/status", &wrong).await?.0, 404);
    fed.stop().await
}
