//! Whole numbers, our enums and the site's own terms, as request field types.

use super::*;

/// Declares a whole number type from 0 to `$max`. A JSON number with a zero fraction
/// (`18.0`, `1e3`) is the same number (JSON Schema's `integer`) and is accepted.
macro_rules! whole_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $max:expr, $description:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) struct $name(pub(crate) $inner);

        impl $name {
            /// The largest value.
            pub(crate) const MAX: $inner = $max;
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let number = serde_json::Number::deserialize(d)?;
                let max = u64::from(Self::MAX);
                let whole = match (number.as_u64(), number.as_f64()) {
                    (Some(n), _) => Some(n),
                    // Exact: both bounds are below 2^53.
                    (None, Some(f)) if f.fract() == 0.0 && (0.0..=max as f64).contains(&f) => {
                        Some(f as u64)
                    }
                    _ => None,
                };
                match whole {
                    Some(n) if n <= max => Ok(Self(n as $inner)),
                    _ => Err(D::Error::custom(format!(
                        "{number} is not allowed; allowed: a whole number from 0 to {max}"
                    ))),
                }
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(Self::MAX))
                    .description(Some($description))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

whole_type!(
    /// How long a caller waited.
    WaitSeconds(u32),
    u32::MAX,
    "Seconds, a whole number."
);
whole_type!(
    /// How long an advisor talked or wrapped up one call: at most one day.
    CallSeconds(u32),
    hotline_federation::change::MAX_CALL_SECONDS,
    "Seconds, a whole number from 0 to 86400 (one day)."
);
whole_type!(
    /// A line of a source file, named in errors.
    LineNumber(u32),
    u32::MAX,
    "A line number of the source file, a whole number."
);
whole_type!(
    /// A moment, in ms since the Unix epoch, up to the end of the year 9999.
    EpochMs(u64),
    253_402_300_799_999,
    "Milliseconds since the Unix epoch, a whole number, at most the end of the year 9999."
);

whole_type!(
    /// An article's version number.
    VersionNumber(u32),
    u32::MAX,
    "An article's published version, a whole number (0: never published)."
);

/// Declares a type for one of the federation's own enums, by its stable names.
macro_rules! domain_enum {
    ($(#[$doc:meta])* $name:ident($inner:ty), $description:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) struct $name(pub(crate) $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                <$inner>::parse("", &text)
                    .map(Self)
                    .map_err(|e| D::Error::custom(problem(e)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0.as_str())
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let names = <$inner>::ALL.iter().map(|v| v.as_str());
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names))
                    .description(Some($description))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

domain_enum!(
    /// The customer's language.
    LanguageName(Language),
    "The customer's language."
);
domain_enum!(
    /// How the customer reached the hotline.
    ChannelName(Channel),
    "How the customer reached the hotline."
);
domain_enum!(
    /// Who may read a comment.
    VisibilityName(Visibility),
    "Who may read a comment: the customer too (public), every site that sees the ticket \
     (federation), or the authoring tenant and in-house only (tenant)."
);
domain_enum!(
    /// How a call ended.
    OutcomeName(CallOutcome),
    "How a call ended."
);

domain_enum!(
    /// An article's life-cycle state.
    ArticleStateName(ArticleState),
    "An article's state: draft (in-house only), published, or retired (history)."
);
domain_enum!(
    /// A suggestion's review state.
    SuggestionStateName(SuggestionState),
    "A suggestion's review state."
);

/// Declares a term of the site's own vocabulary: any string here; the served document lists
/// the site's terms as its enum (see `crate::openapi`), and the handler maps it.
macro_rules! site_term {
    ($(#[$doc:meta])* $name:ident, $component:literal, $description:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
        #[serde(transparent)]
        pub(crate) struct $name(pub(crate) String);

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string().description(Some($description)).into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($component)
            }
        }
    };
}

site_term!(
    /// A ticket status in the site's terms.
    StatusTerm,
    "Status",
    "A ticket status, in the site's terms (its mapping) or ours without one."
);
site_term!(
    /// A status a new ticket may start in, in the site's terms.
    NewStatusTerm,
    "NewTicketStatus",
    "The status a new ticket starts in: new, in_progress or resolved, in the site's terms."
);
site_term!(
    /// A priority in the site's terms.
    PriorityTerm,
    "Priority",
    "A priority, in the site's terms (its mapping) or ours without one."
);

/// A category in the site's terms: the site's mapped terms when it maps categories (the served
/// document lists them), otherwise free text.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct CategoryTerm(pub(crate) RequiredLine);

impl PartialSchema for CategoryTerm {
    fn schema() -> RefOr<Schema> {
        RequiredLine::RULE.schema("A ticket category, in the site's terms when it maps categories.")
    }
}

impl ToSchema for CategoryTerm {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Category")
    }
}
