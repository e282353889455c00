//! The gateway's leak guard (DESIGN.md section 6): one [`LeakGuard`] built from the registered
//! tenants and sites (ids and names) and the stored brand (forbidden terms, alias patterns),
//! rebuilt by the writer whenever the brand or the registry changes. The writer applies it to
//! every customer-visible text of a pushed change and to customers' replies; the web listener
//! applies it again to every page it renders.

use std::sync::Arc;

use hotline_federation::Change;
use hotline_federation::authority::Refusal;
use hotline_federation::brand::BRAND_ID;
use hotline_federation::brand::Brand;
use hotline_federation::leak::LeakGuard;
use hotline_federation::model::{EntityKey, EntityKind};

use crate::error::Result;
use crate::registry::Registry;
use crate::store::{Store, entities};

/// The brand customers see and the guard over what they see, as of one commit.
#[derive(Clone, Debug)]
pub struct CustomerFace {
    /// The stored brand.
    pub brand: Arc<Brand>,
    /// The leak guard over tenants, sites and the brand's terms and patterns.
    pub guard: Arc<LeakGuard>,
}

/// The key of the one brand entity.
pub fn brand_key() -> EntityKey {
    EntityKey::new(EntityKind::Brand, BRAND_ID)
}

impl CustomerFace {
    /// The face for `registry` and `brand`. A term or pattern the guard cannot use (a name
    /// under three letters, a malformed pattern) is left out with a warning, so one bad entry
    /// never leaves every other name unguarded.
    pub fn build(registry: &Registry, brand: Brand) -> CustomerFace {
        let terms = registry
            .guard_terms()
            .into_iter()
            .chain(brand.forbidden_terms.iter().cloned());
        let (guard, problems) = LeakGuard::usable(terms, brand.alias_patterns.iter().cloned());
        for problem in problems {
            tracing::warn!(%problem, "the leak guard leaves out a term or pattern it cannot use");
        }
        CustomerFace {
            brand: Arc::new(brand),
            guard: Arc::new(guard),
        }
    }

    /// The face as the store holds it now.
    pub fn load(store: &dyn Store, registry: &Registry) -> Result<CustomerFace> {
        let brand = match entities::read(store, &brand_key())? {
            Some(state) => Brand::from_state(&state),
            None => Brand::default(),
        };
        Ok(CustomerFace::build(registry, brand))
    }

    /// Refuses a site's `change` when a text it would show a customer (the body of a public
    /// comment) names a tenant, a site or an agent, or signs as the customer: the federation's
    /// one check ([`hotline_federation::leak::check_change`]), which the adapters apply too.
    pub fn check_change(&self, change: &Change) -> std::result::Result<(), Refusal> {
        hotline_federation::leak::check_change(&self.guard, change)
    }

    /// [`CustomerFace::check_change`], and the ticket's public history with the change, as
    /// the customer reads it ([`hotline_federation::leak::check_change_in`]).
    pub fn check_change_in(
        &self,
        change: &Change,
        before: &hotline_federation::EntityState,
    ) -> std::result::Result<(), Refusal> {
        hotline_federation::leak::check_change_in(&self.guard, change, before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_federation::FieldOp;
    use hotline_federation::Hlc;
    use hotline_federation::authority::Rule;
    use hotline_federation::model::{Comment, Visibility};
    use hotline_proto::v1 as pb;

    fn registry() -> Registry {
        let mut registry = Registry::default();
        registry.tenants.insert(
            "twenty4help".into(),
            pb::Tenant {
                id: "twenty4help".into(),
                display_name: "Twenty4Help GmbH".into(),
            },
        );
        registry.sites.insert(
            "goerlitz".into(),
            pb::Site {
                id: "goerlitz".into(),
                tenant: "twenty4help".into(),
                display_name: "Görlitz".into(),
            },
        );
        registry
    }

    fn comment(visibility: Visibility, body: &str) -> Change {
        Change {
            key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
            ops: vec![FieldOp::AddComment(Comment {
                id: "goerlitz-1".into(),
                author_alias: "Advisor 7".into(),
                author_tenant: "twenty4help".into(),
                visibility,
                body: body.into(),
                created_at_ms: 1,
                attachments: Vec::new(),
            })],
            origin_site: "goerlitz".into(),
            origin_seq: 1,
            hlc: Hlc::new(1, 0),
        }
    }

    /// A public comment naming a partner or site in disguise is refused with the rule and the
    /// field; the same text as an internal comment passes, since no customer reads it.
    #[test]
    fn public_comments_are_guarded_internal_ones_are_not() {
        let face = CustomerFace::build(&registry(), Brand::default());
        let refusal = face
            .check_change(&comment(Visibility::Public, "Ihr Team von Twenty 4 Help"))
            .unwrap_err();
        assert_eq!(refusal.rule, Rule::CustomerTextClean);
        assert!(refusal.message.starts_with("body:"));
        assert!(
            face.check_change(&comment(Visibility::Public, "Grüße aus Gorlitz"))
                .is_err()
        );
        for internal in [Visibility::Federation, Visibility::Tenant] {
            face.check_change(&comment(internal, "Twenty 4 Help, Görlitz"))
                .unwrap();
        }
        face.check_change(&comment(Visibility::Public, "VPN works again"))
            .unwrap();
    }

    /// The brand's forbidden terms and alias patterns join the names, and an unusable entry
    /// (too short, malformed) is dropped without disarming the others.
    #[test]
    fn brand_terms_join_and_bad_entries_are_dropped() {
        let brand = Brand {
            forbidden_terms: vec!["München".into(), "ab".into()],
            alias_patterns: vec!["t4h-###".into(), "[".into()],
            ..Brand::default()
        };
        let face = CustomerFace::build(&registry(), brand);
        for leaking in ["Grüße aus München", "Ihr Berater t4h-017", "twenty4help"] {
            assert!(
                face.check_change(&comment(Visibility::Public, leaking))
                    .is_err(),
                "{leaking}"
            );
        }
    }
}
