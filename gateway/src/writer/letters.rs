//! Dead letters (refused changes kept for operators) and their bound per site.
//!
//! A refused change is always answered `Rejected`, and the site parks it locally. The gateway
//! keeps its own copy only while the site holds fewer than `limits.max_dead_letters_per_site`
//! there and when it is at most `limits.max_dead_letter_bytes` large, so one partner pushing
//! refused changes cannot fill the gateway's disk. A change it does
//! not keep is counted ([`super::Shared::dead_letters_not_kept`]), logged, and its rejection
//! message says so.

use std::collections::{HashMap, HashSet};

use super::{Group, Writer};
use crate::store::keys;
use hotline_federation::authority::Refusal;

/// The dead letters on record per site, from their keys.
pub(super) fn count_by_site(parked: &HashSet<Vec<u8>>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for key in parked {
        if let Some((site, _)) = keys::parse_dead_letter(key) {
            *counts.entry(site.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

impl Writer {
    /// Whether a dead letter is on record under `key`, counting what this group did.
    pub(super) fn is_parked(&self, group: &Group, key: &[u8]) -> bool {
        group
            .parked
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map_or_else(|| self.parked.contains(key), |(_, on)| *on)
    }

    /// The dead letters `site` holds at the gateway, counting what this group did.
    fn letters_of(&self, group: &Group, site: &str) -> usize {
        group
            .letters
            .get(site)
            .or_else(|| self.letters.get(site))
            .copied()
            .unwrap_or(0)
    }

    /// Whether one more dead letter of `site` may be kept.
    pub(super) fn room_for_letter(&self, group: &Group, site: &str) -> bool {
        self.letters_of(group, site) < self.settings.max_dead_letters_per_site
    }

    /// Notes that this group records (`parked`) or clears the dead letter under `key`.
    pub(super) fn record_letter(&self, group: &mut Group, site: &str, key: Vec<u8>, parked: bool) {
        let was = self.is_parked(group, &key);
        let count = self.letters_of(group, site);
        let count = match (was, parked) {
            (false, true) => count + 1,
            (true, false) => count.saturating_sub(1),
            _ => count,
        };
        group.letters.insert(site.to_owned(), count);
        group.parked.push((key, parked));
    }

    /// The refusal of a change the gateway does not keep, because the site holds the most dead
    /// letters allowed or (`size`) the letter is larger than allowed: counted, logged, and its
    /// message says so.
    pub(super) fn not_kept(
        &self,
        group: &mut Group,
        site: &str,
        refusal: &Refusal,
        size: Option<usize>,
    ) -> Refusal {
        group.letters_not_kept += 1;
        let why = match size {
            None => format!(
                "site {site} already has {} refused changes on record there \
                 (limits.max_dead_letters_per_site)",
                self.settings.max_dead_letters_per_site
            ),
            Some(size) => format!(
                "it is {size} bytes, more than the {} a dead letter may take \
                 (limits.max_dead_letter_bytes)",
                self.settings.max_dead_letter_bytes
            ),
        };
        tracing::warn!(
            site,
            rule = refusal.rule.name(),
            why = %why,
            "a refused change was not kept at the gateway"
        );
        Refusal::new(
            refusal.rule,
            format!(
                "{}; the gateway did not keep this refused change, because {why}; it stays \
                 parked at your site",
                refusal.message
            ),
        )
    }
}
