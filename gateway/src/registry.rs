//! The tenants and sites of the federation, as the gateway stores them. Config entries are
//! written at start where the store differs; the Admin service manages the rest.

use std::collections::BTreeMap;

use hotline_proto::v1 as pb;

use crate::error::Result;
use crate::log::decode;
use crate::store::{Store, keys};

/// Tenants and sites by id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Registry {
    /// Tenants by id.
    pub tenants: BTreeMap<String, pb::Tenant>,
    /// Sites by id.
    pub sites: BTreeMap<String, pb::Site>,
}

impl Registry {
    /// The names customer-visible text must never contain: every tenant's and site's id and
    /// display name, sorted, without duplicates.
    pub fn guard_terms(&self) -> Vec<String> {
        let tenants = self
            .tenants
            .values()
            .flat_map(|t| [t.id.clone(), t.display_name.clone()]);
        let sites = self
            .sites
            .values()
            .flat_map(|s| [s.id.clone(), s.display_name.clone()]);
        let terms: std::collections::BTreeSet<String> = tenants
            .chain(sites)
            .filter(|term| !term.trim().is_empty())
            .collect();
        terms.into_iter().collect()
    }

    /// Reads the registry from the store.
    pub fn load(store: &dyn Store) -> Result<Registry> {
        let mut registry = Registry::default();
        let (start, end) = keys::prefix_range(keys::TENANT);
        for (_, raw) in store.range(&start, &end, usize::MAX)? {
            let tenant: pb::Tenant = decode("tenant", &raw)?;
            registry.tenants.insert(tenant.id.clone(), tenant);
        }
        let (start, end) = keys::prefix_range(keys::SITE);
        for (_, raw) in store.range(&start, &end, usize::MAX)? {
            let site: pb::Site = decode("site", &raw)?;
            registry.sites.insert(site.id.clone(), site);
        }
        Ok(registry)
    }

    /// The tenant of a registered site.
    pub fn site_tenant(&self, site: &str) -> Option<&str> {
        self.sites.get(site).map(|s| s.tenant.as_str())
    }

    /// Every tenant id.
    pub fn tenant_ids(&self) -> Vec<String> {
        self.tenants.keys().cloned().collect()
    }
}
