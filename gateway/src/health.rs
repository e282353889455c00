//! Sync health per site, for the staff dashboard and the metrics: when the gateway last heard
//! from each site, and what the site last reported about its own side (outbox, dead letters,
//! cursor, clock, retention purges) through `Federation.Report`.
//!
//! Kept in memory only: a restart forgets it until each site reports again (every few
//! seconds). The board holds at most one entry per registered site: callers are identified by
//! their certificate and checked against the registry before anything is noted, and entries of
//! sites no longer registered are dropped when the board would grow past the registry.

use std::collections::HashMap;

use hotline_proto::v1 as pb;
use parking_lot::Mutex;

use crate::error::Error;
use crate::registry::Registry;
use crate::state::GatewayState;

/// What a site reported about itself (the wire's `SiteReport`, checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SiteReport {
    /// Changes waiting in the site's outbox.
    pub outbox_depth: u64,
    /// Refused changes the site keeps parked.
    pub dead_letters: u64,
    /// The global sequence number the site has applied up to.
    pub cursor: u64,
    /// The site's clock when it sent the report, ms since the Unix epoch.
    pub site_now_ms: u64,
    /// Closed tickets the site purged because partners' retention of them ended.
    pub retention_purged: u64,
}

impl TryFrom<pb::SiteReport> for SiteReport {
    type Error = Error;

    fn try_from(wire: pb::SiteReport) -> Result<Self, Error> {
        let pb::SiteReport {
            outbox_depth,
            dead_letters,
            cursor,
            site_now_ms,
            retention_purged,
            // The confirmations of erased dead letters are the report handler's.
            erased_dead_letters: _,
        } = wire;
        if site_now_ms == 0 {
            return Err(Error::InvalidArgument(
                "site_now_ms: must be the site's clock in ms since the Unix epoch, not 0".into(),
            ));
        }
        Ok(SiteReport {
            outbox_depth,
            dead_letters,
            cursor,
            site_now_ms,
            retention_purged,
        })
    }
}

/// What the board knows of one site.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// When the site last called the gateway, ms.
    last_seen_ms: u64,
    /// Its last report and when it arrived (gateway clock, ms).
    report: Option<(SiteReport, u64)>,
}

/// The in-memory board of [`Seen`] per site.
#[derive(Debug, Default)]
pub struct SiteBoard {
    sites: Mutex<HashMap<String, Seen>>,
}

impl SiteBoard {
    /// Notes that registered `site` called the gateway at `at_ms`.
    pub fn seen(&self, registry: &Registry, site: &str, at_ms: u64) {
        self.note(registry, site, |seen| {
            seen.last_seen_ms = seen.last_seen_ms.max(at_ms)
        });
    }

    /// Keeps `report` of registered `site`, which arrived at `at_ms`.
    pub fn report(&self, registry: &Registry, site: &str, report: SiteReport, at_ms: u64) {
        self.note(registry, site, |seen| {
            seen.last_seen_ms = seen.last_seen_ms.max(at_ms);
            seen.report = Some((report, at_ms));
        });
    }

    /// How many sites the board holds.
    pub fn len(&self) -> usize {
        self.sites.lock().len()
    }

    /// Whether the board holds no site.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn note(&self, registry: &Registry, site: &str, update: impl FnOnce(&mut Seen)) {
        if !registry.sites.contains_key(site) {
            return;
        }
        let mut sites = self.sites.lock();
        if !sites.contains_key(site) && sites.len() >= registry.sites.len() {
            sites.retain(|id, _| registry.sites.contains_key(id));
        }
        update(sites.entry(site.to_owned()).or_default());
    }

    fn get(&self, site: &str) -> Option<Seen> {
        self.sites.lock().get(site).copied()
    }
}

/// The sync health of one registered site, as the dashboard shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteHealth {
    /// Site id.
    pub site: String,
    /// Its tenant.
    pub tenant: String,
    /// Its human name.
    pub display_name: String,
    /// When the gateway last heard from it (ms; `None`: not since the gateway started).
    pub last_seen_ms: Option<u64>,
    /// The log position it reported having applied.
    pub cursor: Option<u64>,
    /// Log entries it has yet to apply: the gateway's head minus its reported cursor.
    pub lag: Option<u64>,
    /// Changes waiting in its outbox.
    pub outbox_depth: Option<u64>,
    /// Refused changes it keeps parked.
    pub dead_letters: Option<u64>,
    /// How far its clock ran ahead of the gateway's when it reported, ms (negative: behind;
    /// includes the report's travel time).
    pub clock_offset_ms: Option<i64>,
    /// When its last report arrived (gateway clock, ms).
    pub reported_at_ms: Option<u64>,
    /// Closed tickets it purged because partners' retention of them ended.
    pub retention_purged: Option<u64>,
}

/// The sync health of every registered site, by site id.
pub fn site_health(state: &GatewayState) -> Vec<SiteHealth> {
    let head = state.head();
    state
        .shared
        .registry()
        .sites
        .values()
        .map(|site| {
            let seen = state.sites.get(&site.id);
            let report = seen.and_then(|s| s.report);
            let signed = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            SiteHealth {
                last_seen_ms: seen.map(|s| s.last_seen_ms).filter(|ms| *ms > 0),
                cursor: report.map(|(r, _)| r.cursor),
                lag: report.map(|(r, _)| head.saturating_sub(r.cursor)),
                outbox_depth: report.map(|(r, _)| r.outbox_depth),
                dead_letters: report.map(|(r, _)| r.dead_letters),
                clock_offset_ms: report.map(|(r, at)| signed(r.site_now_ms) - signed(at)),
                reported_at_ms: report.map(|(_, at)| at),
                retention_purged: report.map(|(r, _)| r.retention_purged),
                site: site.id.clone(),
                tenant: site.tenant.clone(),
                display_name: site.display_name.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(sites: &[&str]) -> Registry {
        let mut registry = Registry::default();
        for site in sites {
            registry.sites.insert(
                (*site).into(),
                pb::Site {
                    id: (*site).into(),
                    tenant: "t".into(),
                    display_name: (*site).into(),
                },
            );
        }
        registry
    }

    /// An unregistered site never gets an entry, and a site removed from the registry is
    /// dropped when the board would grow: the board stays bounded by the registered sites.
    #[test]
    fn board_is_bounded_by_the_registry() {
        let board = SiteBoard::default();
        let report = SiteReport {
            outbox_depth: 1,
            dead_letters: 0,
            cursor: 3,
            site_now_ms: 10,
            retention_purged: 0,
        };
        board.report(&registry(&["a", "b"]), "x", report, 5);
        assert!(board.is_empty());
        board.report(&registry(&["a", "b"]), "a", report, 5);
        board.seen(&registry(&["a", "b"]), "b", 6);
        assert_eq!(board.len(), 2);
        // "a" left the registry, "c" joined: the board keeps two entries, not three.
        board.seen(&registry(&["b", "c"]), "c", 7);
        assert_eq!(board.len(), 2);
        assert!(board.get("a").is_none());
    }

    /// A report without the site's clock is refused with the field named.
    #[test]
    fn report_without_clock_is_refused() {
        let error = SiteReport::try_from(pb::SiteReport::default())
            .expect_err("no clock")
            .to_string();
        assert!(error.contains("site_now_ms"), "{error}");
    }
}
