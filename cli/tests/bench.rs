//! `hotline bench --smoke`: proves every measurement of the benchmark runs and reports a
//! figure. No timing is asserted here (the machine is shared and noisy); the figures live in
//! BENCHMARKS.md.

use std::process::{Command, Output};

/// `hotline` run with `args`, without backtraces in its errors.
fn hotline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("hotline runs")
}

/// The JSON figures of a bench run with `args`, which must exit 0.
fn figures(args: &[&str]) -> serde_json::Value {
    let output = hotline(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed: {stderr}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The smoke run exits 0 and its JSON holds every figure with a positive value.
#[test]
fn smoke_run_reports_every_figure() {
    let json = figures(&["bench", "--smoke", "--json"]);
    let keys = [
        "b3_sled_1",
        "b3_sled_batch",
        "b3_sled_group",
        "b1_echo_1",
        "b1_echo_4",
        "b2_fanout",
        "ingest_1",
        "ingest_4",
        "ingest_many",
        "propagation_p99",
        "catch_up",
        "memory_idle",
        "memory_4",
        "memory_many",
        "engine_sled_creates",
        "engine_redb_creates",
        "engine_sled_creates_batch_each",
        "engine_redb_creates_batch_each",
        "adapter_creates_32",
        "adapter_creates_branded_32",
        "adapter_reads_32",
    ];
    for key in keys {
        let value = json["figures"][key]["value"].as_f64().unwrap_or(-1.0);
        assert!(
            value > 0.0,
            "{key} missing or not positive: {}",
            json["figures"][key]
        );
    }
    assert!(json["machine"]["cores"].as_u64().unwrap_or(0) >= 1);
}

/// `hotline bench --smoke --storage postgres` (with a throwaway local server) reports B4 and
/// the gateway on the default engine, on PostgreSQL and as two replicas on PostgreSQL, each
/// figure positive. Passes with a notice where PostgreSQL is not installed,
/// unless `HOTLINE_REQUIRE_POSTGRES` is set.
#[test]
fn postgres_smoke_run_reports_its_figures() {
    if hotline_runtime::local_postgres::LocalPostgres::binaries().is_none() {
        assert!(
            std::env::var_os("HOTLINE_REQUIRE_POSTGRES").is_none(),
            "HOTLINE_REQUIRE_POSTGRES is set but PostgreSQL is not installed"
        );
        eprintln!("NOTICE: PostgreSQL not installed; bench --storage postgres skipped");
        return;
    }
    let json = figures(&["bench", "--smoke", "--json", "--storage", "postgres"]);
    for key in [
        "b4_postgres_1",
        "b4_postgres_group",
        "b3_sled_group",
        "ingest_4_default",
        "ingest_4_sled",
        "ingest_4_postgres",
        "ingest_4_postgres_2",
        "propagation_p99_default",
        "propagation_p99_sled",
        "propagation_p99_postgres",
        "propagation_p99_postgres_2",
        "catch_up_default",
        "catch_up_sled",
        "catch_up_postgres",
        "catch_up_postgres_2",
    ] {
        let value = json["figures"][key]["value"].as_f64().unwrap_or(-1.0);
        assert!(
            value > 0.0,
            "{key} missing or not positive: {}",
            json["figures"][key]
        );
    }
}

/// `--storage` takes only what it can measure, and not together with another mode; each
/// refusal says what is allowed.
#[test]
fn storage_flag_refuses_what_it_cannot_measure() {
    let run = |args: &[&str]| {
        let output = hotline(args);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, stderr) = run(&["bench", "--smoke", "--storage", "oracle"]);
    assert!(
        !ok && stderr.contains("possible values: postgres"),
        "{stderr}"
    );
    let (ok, stderr) = run(&["bench", "--smoke", "--storage", "postgres", "engines"]);
    assert!(!ok && stderr.contains("does not combine"), "{stderr}");
    let (ok, stderr) = run(&[
        "bench",
        "--smoke",
        "--postgres-url",
        "postgres://x@127.0.0.1/db",
    ]);
    assert!(!ok && stderr.contains("--storage"), "{stderr}");
}
