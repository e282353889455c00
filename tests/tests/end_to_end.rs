//! The end-to-end suite: every scenario of the federation over real sockets, real TLS and real
//! processes, one module a file beside this one. It is one test executable rather than one per
//! file: each executable links the whole gateway, adapter and command line (about 100 MB in a
//! debug build), and fifty of them ran a CI machine out of disk.
//!
//! Tests that need a process of their own start this executable again, running one ignored
//! entry point below (or one of a module's) with `--exact --ignored`.

use std::io::Write;

use hotline_tests::processes::run_child_gateway;
use hotline_tests::sites::run_child_adapter;

#[path = "adapter_authority.rs"]
mod adapter_authority;
#[path = "adapter_burst.rs"]
mod adapter_burst;
#[path = "adapter_clock_skew.rs"]
mod adapter_clock_skew;
#[path = "adapter_crash.rs"]
mod adapter_crash;
#[path = "adapter_dead_letters.rs"]
mod adapter_dead_letters;
#[path = "adapter_hostile_input.rs"]
mod adapter_hostile_input;
#[path = "adapter_openapi_contract.rs"]
mod adapter_openapi_contract;
#[path = "adapter_recover.rs"]
mod adapter_recover;
#[path = "adapter_sync.rs"]
mod adapter_sync;
#[path = "adapter_webhooks.rs"]
mod adapter_webhooks;
#[path = "attachments.rs"]
mod attachments;
#[path = "attack_issue13.rs"]
mod attack_issue13;
#[path = "attack_issue14.rs"]
mod attack_issue14;
#[path = "attack_issue15.rs"]
mod attack_issue15;
#[path = "attack_review.rs"]
mod attack_review;
#[path = "attack_rules_epoch.rs"]
mod attack_rules_epoch;
#[path = "attack_slow_readers.rs"]
mod attack_slow_readers;
#[path = "audit_trail.rs"]
mod audit_trail;
#[path = "call_import.rs"]
mod call_import;
#[path = "crash_harness.rs"]
mod crash_harness;
#[path = "customer_rating.rs"]
mod customer_rating;
#[path = "erasure.rs"]
mod erasure;
#[path = "gateway_access_changes.rs"]
mod gateway_access_changes;
#[path = "gateway_authority.rs"]
mod gateway_authority;
#[path = "gateway_backpressure.rs"]
mod gateway_backpressure;
#[path = "gateway_certs.rs"]
mod gateway_certs;
#[path = "gateway_dead_letters.rs"]
mod gateway_dead_letters;
#[path = "gateway_disk_full.rs"]
mod gateway_disk_full;
#[path = "gateway_entity_bounds.rs"]
mod gateway_entity_bounds;
#[path = "gateway_isolation.rs"]
mod gateway_isolation;
#[path = "gateway_lease_bound.rs"]
mod gateway_lease_bound;
#[path = "gateway_limits.rs"]
mod gateway_limits;
#[path = "gateway_noisy_sites.rs"]
mod gateway_noisy_sites;
#[path = "gateway_read_quotas.rs"]
mod gateway_read_quotas;
#[path = "gateway_services.rs"]
mod gateway_services;
#[path = "gateway_sync.rs"]
mod gateway_sync;
#[path = "gateway_visibility.rs"]
mod gateway_visibility;
#[path = "kb_authoring.rs"]
mod kb_authoring;
#[path = "kb_offline_search.rs"]
mod kb_offline_search;
#[path = "ops_endpoints.rs"]
mod ops_endpoints;
#[path = "postgres_backend.rs"]
mod postgres_backend;
#[path = "process_signals.rs"]
mod process_signals;
#[path = "received_views_props.rs"]
mod received_views_props;
#[path = "retention.rs"]
mod retention;
#[path = "review_reports.rs"]
mod review_reports;
#[path = "service_figures.rs"]
mod service_figures;
#[path = "staff_dashboard.rs"]
mod staff_dashboard;
#[path = "staff_dashboard_browser.rs"]
mod staff_dashboard_browser;
#[path = "status_page.rs"]
mod status_page;
#[path = "status_page_browser.rs"]
mod status_page_browser;
#[path = "store_from_previous_release.rs"]
mod store_from_previous_release;
#[path = "sync_turmoil.rs"]
mod sync_turmoil;

/// Not a test: the entry point of the gateway processes the suite starts and kills (see
/// `hotline_tests::processes::child_gateway_command`).
#[test]
#[ignore = "entry point of child gateway processes, started by the tests"]
fn child_gateway() -> anyhow::Result<()> {
    run_child_gateway()
}

/// Not a test: the entry point of the adapter processes the suite starts (see
/// `hotline_tests::sites::child_adapter_command`). Exits straight away when the adapter has
/// stopped, so the exit status is the adapter's and the test harness does not print its summary
/// to a stdout that may be broken (the SIGTERM tests in `process_signals` break it on purpose).
#[test]
#[ignore = "entry point of child adapter processes, started by the tests"]
fn child_adapter() {
    let code = match run_child_adapter() {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
