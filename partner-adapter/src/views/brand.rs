//! What partner tools send and receive about the brand: the brand as published (and as a new
//! version to publish), a greeting, and a rendered message.

use hotline_federation::brand::{Brand, PLACEHOLDERS};
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::fields::{ChannelName, LanguageName, Slug};

/// One greeting script.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct GreetingView {
    /// The channel it is spoken or written on.
    pub(crate) channel: ChannelName,
    /// Its language.
    pub(crate) language: LanguageName,
    /// The script.
    pub(crate) text: String,
}

/// One message template.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct TemplateView {
    /// Its name, e.g. `ticket-opened`.
    pub(crate) name: Slug,
    /// Its language.
    pub(crate) language: LanguageName,
    /// The text with `{placeholder}`s (see the `placeholders` of the brand).
    pub(crate) text: String,
}

/// The brand as published in-house.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct BrandBody {
    /// The name customers see, e.g. "IT Service Desk".
    pub(crate) display_name: String,
    /// The one hotline number.
    pub(crate) hotline_number: String,
    /// Greeting scripts per channel and language.
    #[serde(default)]
    pub(crate) greetings: Vec<GreetingView>,
    /// Message templates per name and language.
    #[serde(default)]
    pub(crate) templates: Vec<TemplateView>,
    /// The signature under every customer-visible text.
    #[serde(default)]
    pub(crate) signature: String,
    /// Terms that must never reach a customer (partner names, site names, product names of
    /// partners ...), besides every tenant's and site's own names.
    #[serde(default)]
    pub(crate) forbidden_terms: Vec<String>,
    /// Agent alias patterns: `#` one digit, `*` 1 to 8 letters or digits, e.g. `t4h-###`.
    #[serde(default)]
    pub(crate) alias_patterns: Vec<String>,
    /// The status page's accent colour, `#rrggbb`.
    #[serde(default)]
    pub(crate) accent_color: String,
}

/// The brand as the site holds it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BrandView {
    /// The published version (raised by one on each publication).
    pub(crate) version: u32,
    /// The brand itself.
    #[serde(flatten)]
    pub(crate) brand: BrandBody,
    /// The placeholders templates may use.
    pub(crate) placeholders: Vec<String>,
}

/// The brand as a site shows it.
pub(crate) fn view(brand: &Brand) -> BrandView {
    BrandView {
        version: brand.version,
        brand: BrandBody {
            display_name: brand.display_name.clone(),
            hotline_number: brand.hotline_number.clone(),
            greetings: brand
                .greetings
                .iter()
                .map(|((channel, language), text)| GreetingView {
                    channel: ChannelName(*channel),
                    language: LanguageName(*language),
                    text: text.clone(),
                })
                .collect(),
            templates: brand
                .templates
                .iter()
                .map(|((name, language), text)| TemplateView {
                    name: Slug(name.clone()),
                    language: LanguageName(*language),
                    text: text.clone(),
                })
                .collect(),
            signature: brand.signature.clone(),
            forbidden_terms: brand.forbidden_terms.clone(),
            alias_patterns: brand.alias_patterns.clone(),
            accent_color: brand.accent_color.clone(),
        },
        placeholders: PLACEHOLDERS.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// A greeting, ready to speak or send.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Greeting {
    /// The channel.
    pub(crate) channel: ChannelName,
    /// The language.
    pub(crate) language: LanguageName,
    /// The script.
    pub(crate) text: String,
    /// The brand version it comes from.
    pub(crate) brand_version: u32,
}

/// A rendered message.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rendered {
    /// The template.
    pub(crate) template: String,
    /// The language rendered in.
    pub(crate) language: LanguageName,
    /// The text, ready to send to the customer.
    pub(crate) text: String,
    /// The brand version it comes from.
    pub(crate) brand_version: u32,
}
