//! How many leased ticket numbers each site holds but has not used, per year, so one site
//! cannot lease the whole year's numbers away from the others.
//!
//! A lease adds its count to the site's unused numbers of its year; a new ticket the gateway
//! accepts under a number from the creating site's own lease takes one away. A lease that would
//! take a site above `limits.max_unused_numbers_per_site` is refused with RESOURCE_EXHAUSTED.
//! The counters are written in the same batch as the lease or the ticket, and read back at
//! start and after [`Writer::recover`](super::Writer).

use std::collections::BTreeMap;

use hotline_federation::ids::PublicNumber;

use super::{Group, Writer};
use crate::error::{Error, Result};
use crate::store::{Store, keys};

/// Unused leased numbers by (site, year).
pub(super) type Unused = BTreeMap<(String, u32), u64>;

/// Every site's unused numbers as stored.
pub(super) fn load_unused(store: &dyn Store) -> Result<Unused> {
    let (start, end) = keys::prefix_range(keys::UNUSED_NUMBERS);
    let mut unused = Unused::new();
    for (key, raw) in store.range(&start, &end, usize::MAX)? {
        let (site, year) = keys::parse_unused_numbers(&key)
            .ok_or_else(|| Error::Corrupt("unused-numbers key is malformed".into()))?;
        let count = keys::decode_u64(&raw)
            .ok_or_else(|| Error::Corrupt("unused-numbers counter is not a number".into()))?;
        unused.insert((site, year), count);
    }
    Ok(unused)
}

impl Writer {
    /// The refusal of a lease of `count` numbers of `year` for `site`, when it would leave the
    /// site holding more unused numbers than the bound allows.
    pub(super) fn lease_beyond_bound(
        &self,
        group: &Group,
        site: &str,
        year: u32,
        count: u32,
    ) -> Option<Error> {
        let bound = self.settings.max_unused_numbers_per_site;
        let unused = unused_of(group, site, year);
        (unused + u64::from(count) > bound).then(|| {
            Error::ResourceExhausted(format!(
                "site {site} holds {unused} leased ticket numbers of {year} it has not used yet; \
                 {count} more would exceed the bound of {bound} unused numbers per site \
                 (limits.max_unused_numbers_per_site); use some of them first"
            ))
        })
    }

    /// Counts a granted lease as unused numbers of `site`.
    pub(super) fn note_leased(&self, group: &mut Group, site: &str, year: u32, count: u32) {
        let unused = unused_of(group, site, year) + u64::from(count);
        set_unused(group, site, year, unused);
    }

    /// Counts the number of `ticket`, just accepted from `site`, as used when `leased` says it
    /// created the ticket under a number of the site's own lease.
    pub(super) fn note_number_used(
        &self,
        group: &mut Group,
        leased: bool,
        site: &str,
        ticket: &str,
    ) {
        if !leased {
            return;
        }
        let Ok(number) = PublicNumber::parse("id", ticket) else {
            return;
        };
        let unused = unused_of(group, site, number.year).saturating_sub(1);
        set_unused(group, site, number.year, unused);
    }
}

fn unused_of(group: &Group, site: &str, year: u32) -> u64 {
    group
        .unused
        .get(&(site.to_owned(), year))
        .copied()
        .unwrap_or(0)
}

fn set_unused(group: &mut Group, site: &str, year: u32, unused: u64) {
    group
        .batch
        .put(keys::unused_numbers(site, year), keys::encode_u64(unused));
    group.unused.insert((site.to_owned(), year), unused);
}
