//! Identifiers: tenants, sites, focus teams, entity ids and public ticket numbers. Each has one
//! validating constructor whose error says what is allowed.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, quote};

/// The tenant id of the in-house team, which sees everything.
pub const INHOUSE: &str = "inhouse";

/// Longest slug (tenant, site, focus team, article id), in characters.
pub const MAX_SLUG_LEN: usize = 64;

/// Checks a slug: 1 to 64 characters of `a-z`, `0-9`, `-`, starting with a letter.
pub fn check_slug(field: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_SLUG_LEN
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{} is not a valid id; allowed: 1 to {MAX_SLUG_LEN} characters of a-z, 0-9 and \
                 '-', starting with a letter",
                quote(value)
            ),
        ))
    }
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` (see [`check_slug`]); `field` names it in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self> {
                check_slug(field, value)?;
                Ok(Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// An organisation in the federation: `inhouse` or a partner.
    TenantId
);
slug_id!(
    /// One location of a tenant running one adapter; unique in the federation.
    SiteId
);

impl TenantId {
    /// The in-house tenant.
    pub fn inhouse() -> Self {
        TenantId(INHOUSE.to_owned())
    }

    /// True for the in-house team.
    pub fn is_inhouse(&self) -> bool {
        self.0 == INHOUSE
    }
}

/// One public ticket number, the same at every site: `PREFIX-YYYY-NNNNNN`, e.g.
/// `ASZ-2026-004711`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicNumber {
    /// Two to five upper-case letters.
    pub prefix: String,
    /// The year the number was issued in.
    pub year: u32,
    /// The running number within the year, 1 to 999,999.
    pub number: u64,
}

/// The highest running number a public ticket number can carry.
pub const MAX_TICKET_NUMBER: u64 = 999_999;

impl PublicNumber {
    /// Parses `PREFIX-YYYY-NNNNNN`.
    pub fn parse(field: &str, text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                field,
                format!(
                    "{} is not a public ticket number; expected PREFIX-YYYY-NNNNNN, e.g. \
                     ASZ-2026-004711 (prefix 2 to 5 letters A-Z, year 2000 to 2999, six digits)",
                    quote(text)
                ),
            )
        };
        let mut parts = text.split('-');
        let (Some(prefix), Some(year), Some(number), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let prefix_ok =
            (2..=5).contains(&prefix.len()) && prefix.chars().all(|c| c.is_ascii_uppercase());
        let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
        if !prefix_ok || !digits(year, 4) || !digits(number, 6) {
            return Err(bad());
        }
        let year: u32 = year.parse().map_err(|_| bad())?;
        let number: u64 = number.parse().map_err(|_| bad())?;
        if !(2000..=2999).contains(&year) || number == 0 {
            return Err(bad());
        }
        Ok(PublicNumber {
            prefix: prefix.to_owned(),
            year,
            number,
        })
    }
}

impl fmt::Display for PublicNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}-{:06}", self.prefix, self.year, self.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Public numbers round-trip through text, so every site prints the same number.
    #[test]
    fn public_number_round_trips() {
        let n = PublicNumber::parse("id", "ASZ-2026-004711").unwrap();
        assert_eq!(n.number, 4711);
        assert_eq!(n.to_string(), "ASZ-2026-004711");
    }

    /// Malformed numbers are refused with the expected format in the message.
    #[test]
    fn public_number_refuses_garbage() {
        for bad in [
            "",
            "ASZ-2026-4711",
            "asz-2026-004711",
            "ASZ-1999-000001",
            "ASZ-2026-000000",
        ] {
            let err = PublicNumber::parse("key.id", bad).unwrap_err();
            assert!(
                err.to_string().contains("PREFIX-YYYY-NNNNNN"),
                "{bad}: {err}"
            );
        }
    }

    /// Slugs refuse upper case, path characters and empty strings, naming the field.
    #[test]
    fn slugs_refuse_path_characters() {
        for bad in ["", "Munich", "../etc", "a/b", "9lives"] {
            let err = SiteId::parse("origin_site", bad).unwrap_err();
            assert_eq!(err.field(), Some("origin_site"));
        }
        assert!(SiteId::parse("s", "dortmund").is_ok());
    }

    /// A 1 MiB id is refused with a short message that still names the field and the rule, so
    /// a default client can read the answer.
    #[test]
    fn huge_ids_get_short_messages() {
        let huge = "A".repeat(1024 * 1024);
        for err in [
            SiteId::parse("change.origin_site", &huge).unwrap_err(),
            PublicNumber::parse("change.key.id", &huge).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(message.len() < 300, "{} bytes: {message}", message.len());
            assert!(message.starts_with("change."), "{message}");
            assert!(message.contains("(1048576 bytes)"), "{message}");
        }
    }
}
