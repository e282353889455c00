//! The customer's rating on the status page: once a ticket is resolved, a 1-5 rating with an
//! optional remark, one per ticket. The words never name who handled the ticket; the rating is
//! stored in-house only (`TicketField::Rating`) and counted in the service figures.

use std::fmt::Write as _;

use hotline_federation::EntityState;
use hotline_federation::authority::current_status;
use hotline_federation::change::MAX_RATING_REMARK;
use hotline_federation::model::{Language, TicketStatus};

use super::pages::escape;

/// Whether the page offers the rating form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offer {
    /// Resolved (or closed) and not rated: the form is shown.
    Open,
    /// Rated already: a thank-you is shown.
    Given,
    /// Not resolved yet: nothing is shown.
    NotYet,
}

/// What became of a rating the customer sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RatingNotice {
    /// Stored.
    Saved,
    /// The ticket was rated already.
    Twice,
    /// The ticket is not resolved yet.
    NotResolved,
    /// The score was not 1 to 5, or the remark too long or holding control characters.
    Invalid,
    /// The remark named something customers' messages may not hold.
    Refused,
    /// It could not be stored.
    Failed,
}

/// The offer for `ticket`.
pub(super) fn offer(ticket: &EntityState) -> Offer {
    if ticket.registers.contains_key("rating") {
        Offer::Given
    } else if matches!(
        current_status(ticket),
        Some(TicketStatus::Resolved | TicketStatus::Closed)
    ) {
        Offer::Open
    } else {
        Offer::NotYet
    }
}

/// The longest remark, in bytes.
pub(super) const MAX_REMARK: usize = MAX_RATING_REMARK;

/// The rating section of the status page (`hidden` carries number and code).
pub(super) fn section(language: Language, offer: Offer, hidden: &str) -> String {
    let de = language == Language::De;
    let mut out = String::new();
    match offer {
        Offer::NotYet => {}
        Offer::Given => {
            let _ = writeln!(
                out,
                "<p class=\"rated\">{}</p>",
                if de {
                    "Danke für Ihre Bewertung."
                } else {
                    "Thank you for your rating."
                }
            );
        }
        Offer::Open => {
            let (legend, remark, send) = if de {
                (
                    "Wie zufrieden sind Sie mit der Lösung? (1 = gar nicht, 5 = sehr)",
                    "Ihre Anmerkung (freiwillig)",
                    "Bewertung senden",
                )
            } else {
                (
                    "How satisfied are you with the solution? (1 = not at all, 5 = very)",
                    "Your remark (optional)",
                    "Send rating",
                )
            };
            let lang = language.as_str();
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/rate?lang={lang}\" class=\"rating\">\n{hidden}\
                 <fieldset><legend>{legend}</legend>\n"
            );
            for score in 1..=5 {
                let _ = writeln!(
                    out,
                    "<label><input type=\"radio\" name=\"score\" value=\"{score}\" required> {score}</label>"
                );
            }
            let _ = write!(
                out,
                "</fieldset>\n<label for=\"remark\">{remark}</label>\n\
                 <textarea id=\"remark\" name=\"remark\" rows=\"3\" maxlength=\"{MAX_REMARK}\"></textarea>\n\
                 <button type=\"submit\">{send}</button>\n</form>\n"
            );
        }
    }
    out
}

/// The notice above the page: its class (`done` or `problem`) and text.
pub(super) fn notice(language: Language, notice: RatingNotice) -> (&'static str, String) {
    let de = language == Language::De;
    let text = match (notice, de) {
        (RatingNotice::Saved, true) => "Danke, Ihre Bewertung ist bei uns angekommen.",
        (RatingNotice::Saved, false) => "Thank you, your rating has reached us.",
        (RatingNotice::Twice, true) => {
            "Dieses Ticket wurde bereits bewertet; eine Bewertung je Ticket. Nichts wurde geändert."
        }
        (RatingNotice::Twice, false) => {
            "This ticket has been rated already; one rating per ticket. Nothing was changed."
        }
        (RatingNotice::NotResolved, true) => {
            "Sie können das Ticket bewerten, sobald es gelöst ist. Nichts wurde gesendet."
        }
        (RatingNotice::NotResolved, false) => {
            "You can rate the ticket once it is resolved. Nothing was sent."
        }
        (RatingNotice::Invalid, true) => {
            "Bitte wählen Sie eine Bewertung von 1 bis 5; die Anmerkung darf höchstens 1000 Zeichen ohne Steuerzeichen haben. Nichts wurde gesendet."
        }
        (RatingNotice::Invalid, false) => {
            "Please choose a rating from 1 to 5; the remark may have at most 1000 characters and no control characters. Nothing was sent."
        }
        (RatingNotice::Refused, true) => {
            "Ihre Anmerkung enthält einen Namen, den wir nicht annehmen können. Bitte formulieren Sie sie um. Nichts wurde gesendet."
        }
        (RatingNotice::Refused, false) => {
            "Your remark contains a name we cannot accept. Please rephrase it. Nothing was sent."
        }
        (RatingNotice::Failed, true) => {
            "Ihre Bewertung konnte gerade nicht gespeichert werden; bitte versuchen Sie es später erneut."
        }
        (RatingNotice::Failed, false) => {
            "Your rating could not be stored just now; please try again later."
        }
    };
    let class = if notice == RatingNotice::Saved {
        "done"
    } else {
        "problem"
    };
    (class, escape(text))
}
