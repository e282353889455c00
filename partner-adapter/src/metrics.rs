//! The adapter's Prometheus metrics: one registry, typed handles. The rest of the crate calls
//! `metrics.changes_pushed.inc_by(n)` or a method here and never spells a metric name; every
//! name and help text is in this file (the README's "Operations endpoints" lists them).
//!
//! Counters move as things happen; the gauges of what the store holds (outbox depth, dead
//! letters, webhook backlog, ticket numbers left) and of the link are refreshed from the store
//! and the sync status at each scrape, by [`crate::ops`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// Labels of a local API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route as declared, e.g. `/v1/tickets/{number}`; `unmatched` for no route.
    pub route: String,
    /// The HTTP method.
    pub method: String,
    /// The answer's status code.
    pub status: u16,
}

/// Labels of the info metric naming this adapter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SiteInfo {
    tenant: String,
    site: String,
}

/// What the store and the link look like at one scrape.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Local changes waiting to be pushed.
    pub outbox_depth: u64,
    /// Local changes the gateway refused, parked.
    pub dead_letters: u64,
    /// Webhook deliveries waiting.
    pub webhook_backlog: u64,
    /// Webhook deliveries given up on.
    pub webhook_dead_letters: u64,
    /// Leased ticket numbers not used yet.
    pub ticket_numbers_left: u64,
    /// A session with the gateway is up.
    pub connected: bool,
    /// Log entries the gateway holds that this site has not applied.
    pub sync_lag: u64,
}

/// Every metric of the adapter.
#[derive(Debug)]
pub struct AdapterMetrics {
    registry: Registry,
    /// Local changes the gateway accepted (retries it already held not counted).
    pub changes_pushed: Counter,
    /// Local changes pushed again that the gateway already held.
    pub changes_duplicate: Counter,
    /// Local changes the gateway refused (parked as dead letters).
    pub changes_refused: Counter,
    /// Local API requests by route, method and status.
    pub api_requests: Family<RequestLabels, Counter>,
    /// Passes of the file keeper that failed (it tries again; sync goes on).
    pub file_keeper_failures: Counter,
    outbox_depth: Gauge,
    dead_letters: Gauge,
    webhook_backlog: Gauge,
    webhook_dead_letters: Gauge,
    ticket_numbers_left: Gauge,
    sync_connected: Gauge,
    sync_lag: Gauge,
}

impl AdapterMetrics {
    /// Registers every metric for the adapter of `site` of `tenant`.
    pub fn new(tenant: &str, site: &str) -> AdapterMetrics {
        let mut registry = Registry::default();
        registry.register(
            "hotline_adapter",
            "The tenant and site this adapter serves",
            Info::new(SiteInfo {
                tenant: tenant.into(),
                site: site.into(),
            }),
        );
        let mut counter = |name: &str, help: &str| {
            let metric = Counter::default();
            registry.register(name, help, metric.clone());
            metric
        };
        let changes_pushed = counter(
            "hotline_adapter_changes_pushed",
            "Local changes the gateway accepted",
        );
        let changes_duplicate = counter(
            "hotline_adapter_changes_duplicate",
            "Local changes pushed again that the gateway already held",
        );
        let changes_refused = counter(
            "hotline_adapter_changes_refused",
            "Local changes the gateway refused (parked as dead letters)",
        );
        let file_keeper_failures = counter(
            "hotline_adapter_file_keeper_failures",
            "Passes of the file keeper that failed (files dir or store unreadable); it tries \
             again after 1 s, doubling up to a minute, and sync goes on",
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hotline_adapter_api_requests",
            "Local API requests by route, method and status",
            api_requests.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let metric = Gauge::default();
            registry.register(name, help, metric.clone());
            metric
        };
        let outbox_depth = gauge(
            "hotline_adapter_outbox_depth",
            "Local changes waiting to be pushed to the gateway",
        );
        let dead_letters = gauge(
            "hotline_adapter_dead_letters",
            "Local changes the gateway refused, parked until replayed",
        );
        let webhook_backlog = gauge(
            "hotline_adapter_webhook_backlog",
            "Webhook deliveries waiting to be delivered",
        );
        let webhook_dead_letters = gauge(
            "hotline_adapter_webhook_dead_letters",
            "Webhook deliveries given up on",
        );
        let ticket_numbers_left = gauge(
            "hotline_adapter_ticket_numbers_left",
            "Leased ticket numbers not used yet",
        );
        let sync_connected = gauge(
            "hotline_adapter_sync_connected",
            "1 while a sync session with the gateway is up, else 0",
        );
        let sync_lag = gauge(
            "hotline_adapter_sync_lag_entries",
            "Log entries the gateway announced that this site has not applied yet",
        );
        AdapterMetrics {
            registry,
            changes_pushed,
            changes_duplicate,
            changes_refused,
            api_requests,
            file_keeper_failures,
            outbox_depth,
            dead_letters,
            webhook_backlog,
            webhook_dead_letters,
            ticket_numbers_left,
            sync_connected,
            sync_lag,
        }
    }

    /// Counts one local API request.
    pub fn count_request(&self, route: &str, method: &str, status: u16) {
        self.api_requests
            .get_or_create(&RequestLabels {
                route: route.into(),
                method: method.into(),
                status,
            })
            .inc();
    }

    /// Sets the gauges of the store and the link from `snapshot`.
    pub fn refresh(&self, snapshot: &Snapshot) {
        let set = |gauge: &Gauge, value: u64| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.outbox_depth, snapshot.outbox_depth);
        set(&self.dead_letters, snapshot.dead_letters);
        set(&self.webhook_backlog, snapshot.webhook_backlog);
        set(&self.webhook_dead_letters, snapshot.webhook_dead_letters);
        set(&self.ticket_numbers_left, snapshot.ticket_numbers_left);
        set(&self.sync_connected, u64::from(snapshot.connected));
        set(&self.sync_lag, snapshot.sync_lag);
    }

    /// The exposition of every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exposition names the site, carries each request under its route and status, and
    /// the store gauges show the last snapshot: what a scrape of a busy site must show.
    #[test]
    fn requests_and_snapshot_are_exposed() {
        let metrics = AdapterMetrics::new("twenty4help", "dortmund");
        metrics.count_request("/v1/tickets", "POST", 201);
        metrics.count_request("/v1/tickets", "POST", 201);
        metrics.refresh(&Snapshot {
            outbox_depth: 3,
            connected: true,
            ..Snapshot::default()
        });
        let text = metrics.encode();
        assert!(
            text.contains("hotline_adapter_info{tenant=\"twenty4help\",site=\"dortmund\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "hotline_adapter_api_requests_total{route=\"/v1/tickets\",method=\"POST\",status=\"201\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("hotline_adapter_outbox_depth 3\n"), "{text}");
        assert!(
            text.contains("hotline_adapter_sync_connected 1\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
