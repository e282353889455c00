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
}
