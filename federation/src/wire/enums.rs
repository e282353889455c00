//! Wire enums (`i32` on the wire) to domain enums and back. Unspecified and unknown numbers are
//! errors that list the allowed names.

use hotline_proto::v1 as pb;

use crate::error::{Error, Result};
use crate::model::{
    ArticleState, CallOutcome, Channel, EntityKind, Language, Priority, ReviewCadence,
    SuggestionState, TicketStatus, Visibility,
};

/// A domain enum with a wire counterpart.
pub trait WireEnum: Sized {
    /// Converts a wire number that must be set; `field` names it in the error.
    fn from_wire(field: &str, raw: i32) -> Result<Self> {
        Self::from_wire_optional(field, raw)?.ok_or_else(|| {
            Error::invalid(field, format!("must be set; allowed: {}", Self::allowed()))
        })
    }

    /// Converts a wire number where unspecified (0) means `None`.
    fn from_wire_optional(field: &str, raw: i32) -> Result<Option<Self>>;

    /// The wire number.
    fn to_wire(self) -> i32;

    /// The allowed names, comma separated.
    fn allowed() -> String;
}

macro_rules! wire_enum {
    ($domain:ident <=> $pb:ident { $($variant:ident),+ $(,)? }) => {
        impl WireEnum for $domain {
            fn from_wire_optional(field: &str, raw: i32) -> Result<Option<Self>> {
                match pb::$pb::try_from(raw) {
                    Ok(pb::$pb::Unspecified) => Ok(None),
                    $(Ok(pb::$pb::$variant) => Ok(Some($domain::$variant)),)+
                    Err(_) => Err(Error::invalid(
                        field,
                        format!("{raw} is not a known value; allowed: {}", Self::allowed()),
                    )),
                }
            }

            fn to_wire(self) -> i32 {
                match self {
                    $($domain::$variant => pb::$pb::$variant as i32,)+
                }
            }

            fn allowed() -> String {
                $domain::known()
            }
        }
    };
}

wire_enum!(EntityKind <=> EntityKind { Ticket, Article, Brand, Policy, Suggestion, CallLog });
wire_enum!(Language <=> Language { De, En });
wire_enum!(Visibility <=> Visibility { Public, Federation, Tenant });
wire_enum!(TicketStatus <=> TicketStatus {
    New,
    InProgress,
    WaitingOnCustomer,
    Escalated,
    Resolved,
    Closed,
});
wire_enum!(Priority <=> Priority { Low, Normal, High, Critical });
wire_enum!(Channel <=> Channel { Phone, Email, Portal, Chat });
wire_enum!(ArticleState <=> ArticleState { Draft, Published, Retired });
wire_enum!(CallOutcome <=> CallOutcome { Offered, Answered, Abandoned, Transferred });
wire_enum!(ReviewCadence <=> ReviewCadence { Weekly, Biweekly, Monthly });
wire_enum!(SuggestionState <=> SuggestionState { Open, Accepted, Rejected });
