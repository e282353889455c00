//! The [`Brand`] as it is stored: one brand entity (`brand/brand`) whose registers hold the
//! fields of [`BrandField`]. Reading it is pure; a register not written yet reads as empty (or
//! the default), so a federation without a published brand still renders.

use crate::brand::Brand;
use crate::model::{BrandField, FieldValue};
use crate::state::EntityState;

/// The id of the one brand entity.
pub const BRAND_ID: &str = "brand";

impl Brand {
    /// The brand held by `state` (the `brand` entity); missing registers are empty, a deleted
    /// brand reads as the empty one.
    pub fn from_state(state: &EntityState) -> Brand {
        let mut brand = Brand::default();
        if state.deleted.is_some() {
            return brand;
        }
        for register in state.registers.values() {
            let FieldValue::Brand(field) = &register.winner.value else {
                continue;
            };
            match field.clone() {
                BrandField::Version(version) => brand.version = version,
                BrandField::DisplayName(name) => brand.display_name = name,
                BrandField::HotlineNumber(number) => brand.hotline_number = number,
                BrandField::Greeting(channel, language, text) => {
                    brand.greetings.insert((channel, language), text);
                }
                BrandField::Template(name, language, text) => {
                    brand.templates.insert((name, language), text);
                }
                BrandField::Signature(signature) => brand.signature = signature,
                BrandField::ForbiddenTerms(terms) => brand.forbidden_terms = terms,
                BrandField::AliasPatterns(patterns) => brand.alias_patterns = patterns,
                BrandField::AccentColor(colour) => brand.accent_color = colour,
            }
        }
        brand
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Channel, EntityKey, EntityKind, Language};
    use crate::{Change, FieldOp, Hlc};

    /// Every stored brand register lands in its field, and an unwritten brand is the default:
    /// the status page shows what in-house published, never a stale or invented value.
    #[test]
    fn stored_registers_read_back_as_the_brand() {
        let key = EntityKey::new(EntityKind::Brand, BRAND_ID);
        assert_eq!(
            Brand::from_state(&EntityState::new(key.clone())),
            Brand::default()
        );
        let set = |field| FieldOp::Set(FieldValue::Brand(field));
        let change = Change {
            key: key.clone(),
            ops: vec![
                set(BrandField::DisplayName("Konzern IT-Hotline".into())),
                set(BrandField::HotlineNumber("+49 89 1234".into())),
                set(BrandField::Greeting(
                    Channel::Phone,
                    Language::En,
                    "Hello".into(),
                )),
                set(BrandField::ForbiddenTerms(vec!["Görlitz".into()])),
                set(BrandField::AccentColor("#0b5394".into())),
            ],
            origin_site: "munich".into(),
            origin_seq: 1,
            hlc: Hlc::new(1, 0),
        };
        let brand = Brand::from_state(&EntityState::delta(&change));
        assert_eq!(brand.display_name, "Konzern IT-Hotline");
        assert_eq!(brand.hotline_number, "+49 89 1234");
        assert_eq!(
            brand
                .greetings
                .get(&(Channel::Phone, Language::En))
                .map(String::as_str),
            Some("Hello")
        );
        assert_eq!(brand.forbidden_terms, vec!["Görlitz".to_owned()]);
        assert_eq!(brand.accent_color, "#0b5394");
        assert!(brand.signature.is_empty());
    }
}
