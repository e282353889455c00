//! `hotline bench growth --quick`: proves the growth mode fills a real gateway, measures at each
//! size and site count, and writes its JSON and SVG. No timing is asserted (the machine is shared
//! and noisy); the figures live in BENCHMARKS.md.

use std::process::Command;

/// Checks that `text` is well-formed XML as far as an SVG needs (balanced, properly nested
/// tags; quoted attributes); returns the `id`s it holds.
fn xml_ids(text: &str) -> Result<Vec<String>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let close = rest[open..]
            .find('>')
            .ok_or_else(|| format!("unclosed tag at {:?}", &rest[open..]))?;
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(top) if top == name.trim() => continue,
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let mut parts = body.splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or_default().to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == ':') {
            return Err(format!("bad tag name in <{tag}>"));
        }
        let mut attrs = parts.next().unwrap_or_default().trim();
        while !attrs.is_empty() {
            let (key, after) = attrs
                .split_once("=\"")
                .ok_or_else(|| format!("unquoted attribute in <{tag}>"))?;
            let (value, after) = after
                .split_once('"')
                .ok_or_else(|| format!("unterminated attribute in <{tag}>"))?;
            if value.contains('<') || value.contains('&') {
                return Err(format!("unescaped character in attribute {key} of <{tag}>"));
            }
            if key.trim() == "id" {
                ids.push(value.to_string());
            }
            attrs = after.trim_start();
        }
        if !self_closing {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(ids)
    } else {
        Err(format!("unclosed elements {stack:?}"))
    }
}

/// The XML check itself catches a misnested document, so the test below can fail.
#[test]
fn xml_check_refuses_misnested_tags() {
    assert!(xml_ids("<svg><g></svg></g>").is_err());
    assert!(xml_ids("<svg><path d=M1/></svg>").is_err());
    assert_eq!(
        xml_ids(r#"<svg><polyline id="series-a" points="1,2"/></svg>"#),
        Ok(vec!["series-a".to_string()])
    );
}

/// A quick growth run (200 and 1,000 tickets; 3 and 10 sites) exits 0 with every figure
/// present and plausible, and an SVG that parses and holds every series.
#[test]
fn quick_growth_run_reports_every_size_and_site_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("growth.json");
    let svg_path = dir.path().join("plots/growth.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["bench", "growth", "--quick", "--json"])
        .arg(&json_path)
        .arg("--svg")
        .arg(&svg_path)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("hotline runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "growth bench failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("bytes/ticket"), "no table: {stdout}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json_path).expect("JSON written")).expect("JSON");
    assert_eq!(json["storage"], "redb", "the default engine: {json}");
    // The store after the fill, against its live keys and values: both measured, and the
    // allocated file is at least as large as what it holds.
    let live = json["final_live_bytes"].as_u64().unwrap_or(0);
    let disk = json["final_disk_bytes"].as_u64().unwrap_or(0);
    assert!(
        live > 1_000 * 1_000 && disk >= live,
        "{live} live, {disk} on disk"
    );
    assert!(
        json["restart_after_kill_seconds"].is_f64(),
        "the restart after a kill was not measured: {json}"
    );
    // The quick run turns the year once its fill passes 500 tickets (later when the first
    // size's ingest opened more): the gateway restarts with its clock in the next January, and
    // the tickets after the turn are numbered in that year.
    let turns = json["year_turned_at"].as_array().expect("year turns");
    assert_eq!(turns.len(), 1, "{json}");
    let turned = turns[0].as_u64().unwrap_or(0);
    assert!(turned >= 500, "turned at {turned}");
    let years: Vec<u64> = json["ticket_years"]
        .as_array()
        .expect("ticket years")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert!(
        years.len() == 2 && years[1] == years[0] + 1,
        "tickets numbered in {years:?}"
    );
    // The yardstick of the ingest ratio, measured on the empty store in three runs, and the
    // audit verify timed over the trail the run left (one entry at least per filled ticket).
    let trials = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    };
    let empty = trials(&json["empty_ingest_trials"]);
    assert!(
        empty.len() == 3 && empty.iter().all(|&r| r > 0.0),
        "empty-store ingest runs: {json}"
    );
    assert!(json["empty_ingest_changes_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(
        json["final_audit_entries"].as_u64().unwrap_or(0) >= 1_000,
        "{json}"
    );
    assert!(
        json["final_audit_verify_seconds"].is_f64(),
        "the audit verify was not timed: {json}"
    );
    assert!(
        json["final_audit_resumed_verify_seconds"].is_f64(),
        "the resumed audit verify was not timed: {json}"
    );
    assert!(
        stdout.contains("one going on from its end"),
        "no resumed verify line: {stdout}"
    );
    assert!(stdout.contains("of empty"), "no ratio column: {stdout}");
    let sizes = json["sizes"].as_array().expect("sizes");
    assert_eq!(sizes.len(), 2, "{json}");
    for (at, (point, want)) in sizes.iter().zip([200u64, 1_000]).enumerate() {
        // The first size is filled on an empty store; a later one on top of the ingest runs
        // of the size before, which may have opened more tickets than it asks for.
        let tickets = point["tickets"].as_u64().unwrap_or(0);
        let most = if at == 0 { want + 50 } else { u64::MAX };
        assert!(
            (want..most).contains(&tickets),
            "{tickets} tickets filled for size {want}"
        );
        for key in [
            "ingest_changes_per_s",
            "fetch_p99_ms",
            "snapshot_seconds",
            "snapshot_peak_rss_mib",
            "catch_up_changes_per_s",
            "disk_bytes_per_ticket",
        ] {
            let value = point[key].as_f64().unwrap_or(-1.0);
            assert!(value > 0.0, "{key} at {want} tickets: {}", point[key]);
        }
        // The figure is the median of three timed runs, so it is one of them.
        let runs = trials(&point["ingest_trials"]);
        let figure = point["ingest_changes_per_s"].as_f64().unwrap_or(-1.0);
        assert!(
            runs.len() == 3 && runs.contains(&figure),
            "{figure} of {runs:?}"
        );
        // The new site received at least every ticket (each as an entity or its opening).
        assert!(
            point["snapshot_items"].as_u64().unwrap_or(0) >= want,
            "{point}"
        );
        assert!(
            point["snapshot_peak_rss_mib"].as_f64() >= point["rss_before_snapshot_mib"].as_f64(),
            "{point}"
        );
    }
    let sites = json["sites"].as_array().expect("sites");
    let counts: Vec<u64> = sites.iter().filter_map(|p| p["sites"].as_u64()).collect();
    assert_eq!(counts, [3, 10]);
    for point in sites {
        assert!(point["rss_mib"].as_f64().unwrap_or(0.0) > 1.0, "{point}");
        assert!(
            point["propagation_p99_ms"].as_f64().unwrap_or(0.0) > 0.0,
            "{point}"
        );
        assert!(point["changes_timed"].as_u64().unwrap_or(0) > 0, "{point}");
    }

    let svg = std::fs::read_to_string(&svg_path).expect("SVG written");
    let ids = xml_ids(&svg).unwrap_or_else(|e| panic!("SVG is not well-formed: {e}"));
    for series in [
        "series-ingest",
        "series-catch-up",
        "series-fetch-p99",
        "series-memory",
        "series-propagation-p99",
    ] {
        assert!(
            ids.iter().any(|id| id == series),
            "{series} missing: {ids:?}"
        );
    }
}

/// A growth run interrupted with SIGINT while its gateway holds a filled store (as an operator
/// presses Ctrl-C) exits with an error that says so, stops its gateway and leaves nothing in
/// the temporary directory: a killed run used to leave gigabytes there, which filled a disk.
#[test]
fn an_interrupted_growth_run_stops_its_servers_and_removes_its_files() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tempfile::tempdir().expect("output dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["bench", "growth", "--quick", "--svg"])
        .arg(out.path().join("growth.svg"))
        .env("TMPDIR", tmp.path())
        .env("RUST_BACKTRACE", "0")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hotline runs");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut seen = String::new();
    // The first size is filled: the store and its gateway exist now.
    loop {
        let mut line = String::new();
        let read = stderr.read_line(&mut line).expect("stderr reads");
        assert!(read > 0, "the run ended before its first size: {seen}");
        seen.push_str(&line);
        if line.contains("tickets after") {
            break;
        }
    }
    let servers = |dir: &std::path::Path| processes_naming(dir);
    assert!(
        !servers(tmp.path()).is_empty(),
        "a gateway runs in the temporary directory: {seen}"
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr reads");
    let status = child.wait().expect("hotline exits");
    assert!(
        !status.success(),
        "an interrupted run is no success: {rest}"
    );
    assert!(rest.contains("interrupted"), "{rest}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("temp dir lists")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(
        servers(tmp.path()).is_empty(),
        "the gateway was stopped: {:?}",
        servers(tmp.path())
    );
    assert!(
        !out.path().join("growth.svg").exists(),
        "no figures written"
    );
}

/// The processes whose command line names a path under `dir` (the bench's servers are started
/// with their data directory as an argument).
fn processes_naming(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc lists").flatten() {
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if line.contains(&needle) {
            found.push(line);
        }
    }
    found
}
