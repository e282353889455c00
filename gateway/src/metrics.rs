//! The gateway's Prometheus metrics: one registry, typed handles. The rest of the crate calls
//! `metrics.changes_accepted.inc()` or a method here and never spells a metric name; every
//! name, help text and bucket layout is in this file (the README's "Operations endpoints"
//! lists them).
//!
//! Some gauges are set by other parts after the fact (service figures, sync health, audit
//! verify) through the `set_...` methods. Until something sets them they export no sample at
//! all, rather than a made-up zero an alert would read as a broken promise.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use hotline_federation::authority::Refusal;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::writer::Outcome;

/// Labels of a refused change: the federation rule it broke.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabel {
    /// `hotline_federation::authority::Rule::name`, e.g. `only_inhouse_reroutes`.
    pub rule: String,
}

/// Labels of a push refused whole, before any change was looked at.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// `too_large`, `batch_size`, `invalid_change` or `quota`.
    pub reason: String,
}

/// Labels of a per-site figure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabel {
    /// The site id.
    pub site: String,
}

/// Labels of a status page look-up.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `found`, `not_found` (also a wrong code), `limited` or `unavailable`.
    pub outcome: String,
}

/// Labels of a service figure per tenant and focus team.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TeamLabel {
    /// The tenant.
    pub tenant: String,
    /// The focus team.
    pub focus_team: String,
}

/// A label set of no labels, for a gauge that exports nothing until it is first set.
pub type NoLabels = Vec<(String, String)>;

/// A gauge of fractions (ratios 0 to 1).
pub type RatioGauge = Gauge<f64, AtomicU64>;

/// Every metric of the gateway.
#[derive(Debug)]
pub struct GatewayMetrics {
    registry: Registry,
    /// Push calls answered with per-change results.
    pub pushes: Counter,
    /// Changes accepted and stored (not counting duplicates).
    pub changes_accepted: Counter,
    /// Changes accepted before; the push was a retry.
    pub changes_duplicate: Counter,
    /// Changes refused, by the rule they broke.
    pub changes_refused: Family<RuleLabel, Counter>,
    /// Pushes refused whole, by reason.
    pub pushes_refused: Family<ReasonLabel, Counter>,
    /// The newest global sequence number (refreshed at each scrape).
    pub log_head: Gauge,
    /// Subscriptions streaming now.
    pub subscribers: Gauge,
    /// Log entries a subscriber was behind the head when it was sent an entry.
    pub subscriber_lag: Histogram,
    /// Jobs (pushes, leases, registrations, replies) committed per group.
    pub group_size: Histogram,
    /// Seconds one group's batch took to apply and flush.
    pub flush_seconds: Histogram,
    /// Groups whose commit failed (nothing of them acknowledged).
    pub group_failures: Counter,
    /// Dead letters (refused changes on record) per site.
    pub dead_letters: Family<SiteLabel, Gauge>,
    /// Lease calls granted.
    pub leases: Counter,
    /// Ticket numbers handed out in leases.
    pub leased_numbers: Counter,
    /// Status page look-ups by outcome.
    pub status_lookups: Family<OutcomeLabel, Counter>,
    service_level: Family<TeamLabel, RatioGauge>,
    service_level_target: Family<TeamLabel, RatioGauge>,
    site_last_seen: Family<SiteLabel, Gauge>,
    audit_verify_ok: Family<NoLabels, Gauge>,
    files_stored: Family<NoLabels, Gauge>,
    file_bytes: Family<NoLabels, Gauge>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl GatewayMetrics {
    /// Registers every metric, all at zero (the set-later gauges empty).
    pub fn new() -> GatewayMetrics {
        let mut registry = Registry::default();
        let mut counter = |name: &str, help: &str| {
            let metric = Counter::default();
            registry.register(name, help, metric.clone());
            metric
        };
        let pushes = counter(
            "hotline_gateway_pushes",
            "Push calls answered with per-change results",
        );
        let changes_accepted = counter(
            "hotline_gateway_changes_accepted",
            "Changes accepted and stored (duplicates not counted)",
        );
        let changes_duplicate = counter(
            "hotline_gateway_changes_duplicate",
            "Changes pushed again after they had been accepted (retries)",
        );
        let group_failures = counter(
            "hotline_gateway_group_commit_failures",
            "Group commits that failed; nothing of the group was acknowledged",
        );
        let leases = counter("hotline_gateway_leases", "Ticket number leases granted");
        let leased_numbers = counter(
            "hotline_gateway_leased_numbers",
            "Ticket numbers handed out in leases",
        );
        let changes_refused = Family::<RuleLabel, Counter>::default();
        registry.register(
            "hotline_gateway_changes_refused",
            "Changes refused, by the federation rule they broke",
            changes_refused.clone(),
        );
        let pushes_refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "hotline_gateway_pushes_refused",
            "Pushes refused whole before any change was stored, by reason",
            pushes_refused.clone(),
        );
        let log_head = Gauge::default();
        registry.register(
            "hotline_gateway_log_head",
            "The newest global sequence number of the sync log",
            log_head.clone(),
        );
        let subscribers = Gauge::default();
        registry.register(
            "hotline_gateway_subscribers",
            "Subscriptions streaming now",
            subscribers.clone(),
        );
        let subscriber_lag = Histogram::new(exponential_buckets(1.0, 4.0, 10));
        registry.register(
            "hotline_gateway_subscriber_lag_entries",
            "Log entries between the head and the entry a subscriber was just sent",
            subscriber_lag.clone(),
        );
        let group_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "hotline_gateway_group_size_jobs",
            "Jobs committed per group commit",
            group_size.clone(),
        );
        let flush_seconds = Histogram::new(exponential_buckets(0.0001, 2.5, 12));
        registry.register(
            "hotline_gateway_flush_seconds",
            "Seconds one group commit took to apply and flush its batch",
            flush_seconds.clone(),
        );
        let dead_letters = Family::<SiteLabel, Gauge>::default();
        registry.register(
            "hotline_gateway_dead_letters",
            "Refused changes on record per site",
            dead_letters.clone(),
        );
        let status_lookups = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "hotline_gateway_status_lookups",
            "Customer status page look-ups by outcome (not_found includes a wrong code)",
            status_lookups.clone(),
        );
        let service_level = Family::<TeamLabel, RatioGauge>::default();
        registry.register(
            "hotline_service_level_ratio",
            "Share of calls answered within the focus team's target, current period",
            service_level.clone(),
        );
        let service_level_target = Family::<TeamLabel, RatioGauge>::default();
        registry.register(
            "hotline_service_level_target_ratio",
            "The focus team's service level target as a share",
            service_level_target.clone(),
        );
        let site_last_seen = Family::<SiteLabel, Gauge>::default();
        registry.register(
            "hotline_site_last_seen_seconds",
            "When the gateway last heard from a site, Unix time in seconds",
            site_last_seen.clone(),
        );
        let audit_verify_ok = Family::<NoLabels, Gauge>::default();
        registry.register(
            "hotline_audit_verify_ok",
            "1 when the last audit trail verification passed, 0 when it failed",
            audit_verify_ok.clone(),
        );
        let files_stored = Family::<NoLabels, Gauge>::default();
        registry.register(
            "hotline_files_stored",
            "Files the gateway stores (each once, whatever number of comments carries it)",
            files_stored.clone(),
        );
        let file_bytes = Family::<NoLabels, Gauge>::default();
        registry.register(
            "hotline_file_bytes_stored",
            "The bytes of the files the gateway stores",
            file_bytes.clone(),
        );
        GatewayMetrics {
            registry,
            pushes,
            changes_accepted,
            changes_duplicate,
            changes_refused,
            pushes_refused,
            log_head,
            subscribers,
            subscriber_lag,
            group_size,
            flush_seconds,
            group_failures,
            dead_letters,
            leases,
            leased_numbers,
            status_lookups,
            service_level,
            service_level_target,
            site_last_seen,
            audit_verify_ok,
            files_stored,
            file_bytes,
        }
    }

    /// Counts one answered push and each of its outcomes.
    pub fn count_push<'a>(&self, outcomes: impl IntoIterator<Item = &'a Outcome>) {
        self.pushes.inc();
        for outcome in outcomes {
            match outcome {
                Outcome::Accepted {
                    duplicate: false, ..
                } => {
                    self.changes_accepted.inc();
                }
                Outcome::Accepted {
                    duplicate: true, ..
                } => {
                    self.changes_duplicate.inc();
                }
                Outcome::Rejected(refusal) => self.count_refusal(refusal),
            }
        }
    }

    /// Counts a refused change under its rule.
    pub fn count_refusal(&self, refusal: &Refusal) {
        self.changes_refused
            .get_or_create(&RuleLabel {
                rule: refusal.rule.name().into(),
            })
            .inc();
    }

    /// Counts a push refused whole for `reason` (see [`ReasonLabel`]).
    pub fn count_push_refused(&self, reason: &str) {
        self.pushes_refused
            .get_or_create(&ReasonLabel {
                reason: reason.into(),
            })
            .inc();
    }

    /// Records one committed group of `jobs` whose apply and flush took `flush`.
    pub fn observe_group(&self, jobs: usize, flush: Duration) {
        self.group_size.observe(jobs as f64);
        self.flush_seconds.observe(flush.as_secs_f64());
    }

    /// Sets the dead letters on record for each site in `by_site`.
    pub fn set_dead_letters(&self, by_site: &HashMap<String, usize>) {
        for (site, count) in by_site {
            self.dead_letters
                .get_or_create(&SiteLabel { site: site.clone() })
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
    }

    /// Counts a granted lease of `count` numbers.
    pub fn count_lease(&self, count: u32) {
        self.leases.inc();
        self.leased_numbers.inc_by(u64::from(count));
    }

    /// Counts a status page look-up by `outcome` (see [`OutcomeLabel`]).
    pub fn count_lookup(&self, outcome: &str) {
        self.status_lookups
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Sets the current service level of `tenant` in `focus_team` (a share, 0 to 1).
    pub fn set_service_level(&self, tenant: &str, focus_team: &str, ratio: f64) {
        self.service_level
            .get_or_create(&team(tenant, focus_team))
            .set(ratio);
    }

    /// Sets the service level target of `focus_team` for `tenant` (a share, 0 to 1).
    pub fn set_service_level_target(&self, tenant: &str, focus_team: &str, ratio: f64) {
        self.service_level_target
            .get_or_create(&team(tenant, focus_team))
            .set(ratio);
    }

    /// Sets when the gateway last heard from `site` (Unix time, seconds).
    pub fn set_site_last_seen(&self, site: &str, unix_seconds: i64) {
        self.site_last_seen
            .get_or_create(&SiteLabel { site: site.into() })
            .set(unix_seconds);
    }

    /// Records how many files the store holds and their bytes.
    pub fn set_files_stored(&self, files: u64, bytes: u64) {
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        self.files_stored
            .get_or_create(&Vec::new())
            .set(gauge(files));
        self.file_bytes.get_or_create(&Vec::new()).set(gauge(bytes));
    }

    /// Records the result of an audit trail verification.
    pub fn set_audit_verify_ok(&self, ok: bool) {
        self.audit_verify_ok
            .get_or_create(&Vec::new())
            .set(i64::from(ok));
    }

    /// The exposition of every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

fn team(tenant: &str, focus_team: &str) -> TeamLabel {
    TeamLabel {
        tenant: tenant.into(),
        focus_team: focus_team.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_federation::authority::Rule;

    /// Outcomes land in the right counters and refusals under their rule's name, so a
    /// dashboard's "refusals by reason" matches what sites were told.
    #[test]
    fn outcomes_are_counted_by_kind_and_rule() {
        let metrics = GatewayMetrics::new();
        metrics.count_push(&[
            Outcome::Accepted {
                global_seq: 1,
                duplicate: false,
            },
            Outcome::Accepted {
                global_seq: 1,
                duplicate: true,
            },
            Outcome::Rejected(Refusal::new(Rule::DeleteIsFinal, "gone")),
        ]);
        let text = metrics.encode();
        assert!(text.contains("hotline_gateway_pushes_total 1\n"), "{text}");
        assert!(
            text.contains("hotline_gateway_changes_accepted_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("hotline_gateway_changes_duplicate_total 1\n"),
            "{text}"
        );
        let rule = Rule::DeleteIsFinal.name();
        assert!(
            text.contains(&format!(
                "hotline_gateway_changes_refused_total{{rule=\"{rule}\"}} 1\n"
            )),
            "{text}"
        );
    }

    /// The gauges other parts set later export no sample until set: a zero would read as a
    /// failed audit or a missed service level.
    #[test]
    fn set_later_gauges_are_absent_until_set() {
        let metrics = GatewayMetrics::new();
        let text = metrics.encode();
        for name in [
            "hotline_audit_verify_ok",
            "hotline_service_level_ratio",
            "hotline_service_level_target_ratio",
            "hotline_site_last_seen_seconds",
        ] {
            assert!(
                !text
                    .lines()
                    .any(|line| line.starts_with(&format!("{name} "))
                        || line.starts_with(&format!("{name}{{"))),
                "{name} has a sample before anything set it:\n{text}"
            );
        }
        metrics.set_audit_verify_ok(true);
        metrics.set_service_level("twenty4help", "finance", 0.8);
        metrics.set_site_last_seen("dortmund", 1_800_000_000);
        let text = metrics.encode();
        assert!(text.contains("hotline_audit_verify_ok 1\n"), "{text}");
        assert!(
            text.contains(
                "hotline_service_level_ratio{tenant=\"twenty4help\",focus_team=\"finance\"} 0.8\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("hotline_site_last_seen_seconds{site=\"dortmund\"} 1800000000\n"),
            "{text}"
        );
    }
}
