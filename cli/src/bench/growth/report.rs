//! The growth mode's result: one point per store size and per connected-site count, printed as
//! a table or serialised as JSON.

use serde::Serialize;

/// The whole result of a growth run.
#[derive(Clone, Debug, Serialize)]
pub struct GrowthReport {
    /// Cores of the machine.
    pub cores: usize,
    /// The gateway's storage engine.
    pub storage: String,
    /// Comments each filled ticket got.
    pub comments_per_ticket: u64,
    /// Changes per second pushed while propagation to many sites was timed.
    pub propagation_rate: f64,
    /// Four-site ingest on an empty store (before the fill; each run on a store of its own),
    /// changes/s: the median of `empty_ingest_trials`, what each size's ingest is compared with.
    pub empty_ingest_changes_per_s: f64,
    /// Each timed run of that ingest, changes/s.
    pub empty_ingest_trials: Vec<f64>,
    /// One point per store size.
    pub sizes: Vec<SizePoint>,
    /// The data directory's allocated bytes after the last size (its ingest included), with
    /// the gateway stopped.
    pub final_disk_bytes: u64,
    /// The lengths of every key and value the store held then.
    pub final_live_bytes: u64,
    /// Entries of the audit trail after the last size.
    pub final_audit_entries: u64,
    /// Seconds one full verify of that trail took (what a gateway runs at start and every six
    /// hours for `hotline_audit_verify_ok`), read with the gateway stopped.
    pub final_audit_verify_seconds: f64,
    /// Seconds a verify going on from where that one ended took, with nothing added (the
    /// fixed part of the ten-minute verify: the entry it went on from, the head, the
    /// checkpoint; the entries added cost what they cost in the whole verify each).
    pub final_audit_resumed_verify_seconds: f64,
    /// Seconds from starting the gateway again after a SIGKILL at the largest size until it
    /// listened (the engine's recovery included).
    pub restart_after_kill_seconds: f64,
    /// Tickets in the store each time the fill turned the gateway's clock to the next year
    /// (one year's numbers hold at most 999,999 tickets).
    pub year_turned_at: Vec<u64>,
    /// The years the filled tickets' numbers are of.
    pub ticket_years: Vec<u32>,
    /// One point per connected-site count.
    pub sites: Vec<SitesPoint>,
}

/// The figures at one store size.
#[derive(Clone, Debug, Serialize)]
pub struct SizePoint {
    /// Tickets in the store (each with its comments).
    pub tickets: u64,
    /// Seconds the fill from the previous size took.
    pub fill_seconds: f64,
    /// Four-site ingest on top of the fill, changes/s: the median of `ingest_trials`.
    pub ingest_changes_per_s: f64,
    /// Each timed run of that ingest, changes/s.
    pub ingest_trials: Vec<f64>,
    /// Median latency of a one-ticket Fetch, ms.
    pub fetch_p50_ms: f64,
    /// 99th percentile latency of a one-ticket Fetch, ms.
    pub fetch_p99_ms: f64,
    /// Fetches timed.
    pub fetches: usize,
    /// Seconds from a new site's subscription (cursor 0) until its live tail opened.
    pub snapshot_seconds: f64,
    /// Entities and changes the new site received.
    pub snapshot_items: u64,
    /// Whether the gateway answered with a snapshot (else a catch-up from the log's start).
    pub snapshot_as_snapshot: bool,
    /// The gateway's resident memory before the new site subscribed, MiB.
    pub rss_before_snapshot_mib: f64,
    /// The gateway's peak resident memory while serving the new site, MiB.
    pub snapshot_peak_rss_mib: f64,
    /// Changes the catch-up figure replayed.
    pub catch_up_changes: u64,
    /// Catch-up of a site that many changes behind, changes/s.
    pub catch_up_changes_per_s: f64,
    /// Bytes the gateway's data directory takes on disk after the fill.
    pub disk_bytes: u64,
    /// `disk_bytes` per ticket.
    pub disk_bytes_per_ticket: f64,
}

/// The figures with a number of connected sites.
#[derive(Clone, Debug, Serialize)]
pub struct SitesPoint {
    /// Sites connected, each with its own mTLS connection and subscription.
    pub sites: usize,
    /// The gateway's resident memory with them connected, MiB.
    pub rss_mib: f64,
    /// Median time from a push until every site had the change, ms.
    pub propagation_p50_ms: f64,
    /// 99th percentile of the same, ms.
    pub propagation_p99_ms: f64,
    /// Changes that reached every site (and were timed).
    pub changes_timed: usize,
    /// Changes pushed.
    pub changes_sent: usize,
}

/// The report as two tables.
pub fn table(report: &GrowthReport) -> String {
    let mut out = format!("gateway storage: {}\n", report.storage);
    let empty = report.empty_ingest_changes_per_s;
    out.push_str(&format!(
        "ingest on an empty store: {empty:.0} changes/s (median of {:.0?})\n",
        report.empty_ingest_trials
    ));
    out.push_str(&format!(
        "{:>9} {:>10} {:>8} {:>9} {:>9} {:>10} {:>10} {:>12} {:>10} {:>11}\n",
        "tickets",
        "ingest/s",
        "of empty",
        "Fetch p99",
        "new site",
        "RSS before",
        "peak RSS",
        "catch-up/s",
        "disk",
        "bytes/ticket"
    ));
    for p in &report.sizes {
        out.push_str(&format!(
            "{:>9} {:>10.0} {:>7.0}% {:>6.2} ms {:>7.2} s {:>6.1} MiB {:>6.1} MiB {:>12.0} {:>6.0} MiB {:>11.0}\n",
            p.tickets,
            p.ingest_changes_per_s,
            p.ingest_changes_per_s / empty.max(f64::MIN_POSITIVE) * 100.0,
            p.fetch_p99_ms,
            p.snapshot_seconds,
            p.rss_before_snapshot_mib,
            p.snapshot_peak_rss_mib,
            p.catch_up_changes_per_s,
            p.disk_bytes as f64 / 1048576.0,
            p.disk_bytes_per_ticket
        ));
    }
    out.push_str(&format!(
        "after the last size: {:.0} MiB on disk for {:.0} MiB live keys and values ({:.2}x)\n",
        report.final_disk_bytes as f64 / 1048576.0,
        report.final_live_bytes as f64 / 1048576.0,
        report.final_disk_bytes as f64 / report.final_live_bytes.max(1) as f64
    ));
    out.push_str(&format!(
        "ingest runs at each size (changes/s): {}\n",
        report
            .sizes
            .iter()
            .map(|p| format!("{}: {:.0?}", p.tickets, p.ingest_trials))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    out.push_str(&format!(
        "one full audit verify of {} entries: {:.2} s; one going on from its end: {:.1} ms\n",
        report.final_audit_entries,
        report.final_audit_verify_seconds,
        report.final_audit_resumed_verify_seconds * 1000.0
    ));
    out.push_str(&format!(
        "restart after a SIGKILL at the last size: {:.2} s until it listened\n",
        report.restart_after_kill_seconds
    ));
    for turned in &report.year_turned_at {
        out.push_str(&format!(
            "the year turned at {turned} tickets (numbers of {:?})\n",
            report.ticket_years
        ));
    }
    out.push_str(&format!(
        "\n{:>6} {:>12} {:>16} {:>16} {:>9}   (propagation at {:.0} changes/s)\n",
        "sites",
        "gateway RSS",
        "propagation p50",
        "propagation p99",
        "timed",
        report.propagation_rate
    ));
    for p in &report.sites {
        out.push_str(&format!(
            "{:>6} {:>8.1} MiB {:>13.2} ms {:>13.2} ms {:>5}/{}\n",
            p.sites,
            p.rss_mib,
            p.propagation_p50_ms,
            p.propagation_p99_ms,
            p.changes_timed,
            p.changes_sent
        ));
    }
    out
}
