//! Tenant and site registrations in a group: stored, recorded in the audit trail, and taken
//! into the group's registry and visibility rules (copied only when they change).

use std::sync::Arc;

use hotline_federation::audit::Record;
use prost::Message;

use super::{Group, Registration, Writer};
use crate::error::Error;
use crate::registry::Registry;
use crate::store::keys;

/// The refusal of a registration that would move a registered site to another tenant: its
/// tickets, call logs and certificate name the site's tenant, so another tenant would read
/// what the site wrote for the first, and the first's other sites would keep it. `None` when
/// the registration moves no site.
pub fn moves_a_site(registry: &Registry, registration: &Registration) -> Option<String> {
    let Registration::Site(site) = registration else {
        return None;
    };
    let stored = registry.sites.get(&site.id)?;
    (stored.tenant != site.tenant).then(|| {
        format!(
            "site {:?} belongs to tenant {:?}; a site's tenant cannot change (what it wrote \
             stays its tenant's): register the new location under a new site id",
            site.id, stored.tenant
        )
    })
}

impl Writer {
    /// Refuses a registration that moves a site to another tenant, against the registry as
    /// the group stands (so of two registrations of a new site in one group, or on two
    /// gateways sharing a store, the second is refused); `None` when it may go on.
    pub(super) fn refuse_registration(
        &self,
        group: &Group,
        registration: &Registration,
    ) -> Option<Error> {
        moves_a_site(&group.registry, registration).map(Error::InvalidArgument)
    }

    pub(super) fn process_registration(
        &mut self,
        group: &mut Group,
        actor: &str,
        registration: &Registration,
    ) {
        let (action, subject, detail) = match registration {
            Registration::Tenant(tenant) => (
                "register.tenant",
                format!("tenant/{}", tenant.id),
                serde_json::json!({ "tenant": tenant.id }),
            ),
            Registration::Site(site) => (
                "register.site",
                format!("site/{}", site.id),
                serde_json::json!({ "tenant": site.tenant, "site": site.id }),
            ),
        };
        let record = Record {
            at_ms: (self.settings.now_ms)(),
            actor: actor.to_owned(),
            action: action.into(),
            subject,
            detail_json: detail.to_string(),
        };
        self.record(group, record);
        match registration {
            Registration::Tenant(tenant) => {
                group.batch.put(
                    keys::record(keys::TENANT, &tenant.id),
                    tenant.encode_to_vec(),
                );
                Arc::make_mut(&mut group.registry)
                    .tenants
                    .insert(tenant.id.clone(), tenant.clone());
            }
            Registration::Site(site) => {
                group
                    .batch
                    .put(keys::record(keys::SITE, &site.id), site.encode_to_vec());
                // Copied only when the site's tenant is new: a renamed site changes no rule.
                if group.directory.site_tenants.get(&site.id) != Some(&site.tenant) {
                    Arc::make_mut(&mut group.directory)
                        .site_tenants
                        .insert(site.id.clone(), site.tenant.clone());
                }
                Arc::make_mut(&mut group.registry)
                    .sites
                    .insert(site.id.clone(), site.clone());
            }
        }
        group.face_stale = true;
    }
}
