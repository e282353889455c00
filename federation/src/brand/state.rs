//! The brand as the federation stores it: its registers read into a [`Brand`], and a brand
//! turned into the ops that publish it as a new version.

use super::Brand;
use crate::change::FieldOp;
use crate::model::{BrandField, FieldValue};
use crate::state::EntityState;

/// The id of the one brand entity.
pub const BRAND_ID: &str = "brand";

impl Brand {
    /// The brand held in `state` (the `brand/brand` entity); registers not yet written stay
    /// empty, so an unpublished brand is the default one, and a deleted brand reads as it.
    pub fn from_state(state: &EntityState) -> Brand {
        let mut brand = Brand::default();
        if state.deleted.is_some() {
            return brand;
        }
        for register in state.registers.values() {
            let FieldValue::Brand(field) = &register.winner.value else {
                continue;
            };
            match field {
                BrandField::Version(v) => brand.version = *v,
                BrandField::DisplayName(v) => brand.display_name.clone_from(v),
                BrandField::HotlineNumber(v) => brand.hotline_number.clone_from(v),
                // An empty text is a withdrawn greeting or template.
                BrandField::Greeting(_, _, text) | BrandField::Template(_, _, text)
                    if text.is_empty() => {}
                BrandField::Greeting(channel, language, text) => {
                    brand.greetings.insert((*channel, *language), text.clone());
                }
                BrandField::Template(name, language, text) => {
                    brand
                        .templates
                        .insert((name.clone(), *language), text.clone());
                }
                BrandField::Signature(v) => brand.signature.clone_from(v),
                BrandField::ForbiddenTerms(v) => brand.forbidden_terms.clone_from(v),
                BrandField::AliasPatterns(v) => brand.alias_patterns.clone_from(v),
                BrandField::AccentColor(v) => brand.accent_color.clone_from(v),
            }
        }
        brand
    }

    /// The ops that publish this brand over `current`: every field, and an empty text for each
    /// greeting or template `current` has and this brand dropped (a register cannot be
    /// removed; an empty text reads as "not there").
    pub fn publish_ops(&self, current: &Brand) -> Vec<FieldOp> {
        let set = |field: BrandField| FieldOp::Set(FieldValue::Brand(field));
        let mut ops = vec![
            set(BrandField::Version(self.version)),
            set(BrandField::DisplayName(self.display_name.clone())),
            set(BrandField::HotlineNumber(self.hotline_number.clone())),
            set(BrandField::Signature(self.signature.clone())),
            set(BrandField::ForbiddenTerms(self.forbidden_terms.clone())),
            set(BrandField::AliasPatterns(self.alias_patterns.clone())),
        ];
        if !self.accent_color.is_empty() {
            ops.push(set(BrandField::AccentColor(self.accent_color.clone())));
        }
        for ((channel, language), text) in &self.greetings {
            ops.push(set(BrandField::Greeting(*channel, *language, text.clone())));
        }
        for ((name, language), text) in &self.templates {
            ops.push(set(BrandField::Template(
                name.clone(),
                *language,
                text.clone(),
            )));
        }
        for (channel, language) in current.greetings.keys() {
            if !self.greetings.contains_key(&(*channel, *language)) {
                ops.push(set(BrandField::Greeting(
                    *channel,
                    *language,
                    String::new(),
                )));
            }
        }
        for (name, language) in current.templates.keys() {
            if !self.templates.contains_key(&(name.clone(), *language)) {
                ops.push(set(BrandField::Template(
                    name.clone(),
                    *language,
                    String::new(),
                )));
            }
        }
        ops
    }
}
