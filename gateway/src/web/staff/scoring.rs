//! The scoring forms of a review report's quality sample on the dashboard: one form per
//! sampled ticket (each criterion 0, 1 or 2, an optional note) posting to
//! `/staff/reviews/{id}/score`, and reading such a form back into a [`Score`].
//!
//! The criteria are the report's own scorecard (copied from `review.scorecard` in the config
//! when the report was produced), which is what [`crate::review::score`] checks a score
//! against: a scorecard changed in the config later cannot offer a criterion the report's
//! check would refuse.

use std::collections::BTreeMap;
use std::fmt::Write;

use hotline_federation::review::Score;
use hotline_federation::review::scorecard::MAX_POINTS;

use super::layout::{escape, url_encode};
use crate::error::Error;
use crate::review::StoredReport;

/// The form field of criterion `id`.
const CRITERION: &str = "c.";

/// The labels of the points 0, 1 and 2.
const POINTS: [&str; 3] = ["0: no", "1: partly", "2: yes"];

/// The scoring forms of `stored`'s sampled tickets, each with its current score chosen.
pub fn forms(stored: &StoredReport) -> String {
    let report = &stored.report;
    let action = format!("/staff/reviews/{}/score", url_encode(&report.id));
    let mut out = String::from("<h2>Score the quality sample</h2>");
    if report.sample.partners.iter().all(|p| p.tickets.is_empty()) {
        out.push_str("<p class=\"none\">No ticket was sampled for this period.</p>");
        return out;
    }
    for partner in &report.sample.partners {
        for ticket in &partner.tickets {
            let current = stored.scores.iter().find(|s| s.ticket == ticket.id);
            let _ = write!(
                out,
                "<form class=\"score\" method=\"post\" action=\"{action}\" id=\"t-{id}\">\
                 <input type=\"hidden\" name=\"ticket\" value=\"{id}\">\
                 <p><strong>{id}</strong> ({tenant}, {site}){state}</p>",
                action = escape(&action),
                id = escape(&ticket.id),
                tenant = escape(&partner.tenant),
                site = escape(&ticket.site),
                state = match current {
                    Some(score) =>
                        format!(" <span class=\"ok\">scored by {}</span>", escape(&score.by)),
                    None => " <span class=\"none\">not scored yet</span>".to_owned(),
                },
            );
            for criterion in &report.scorecard {
                let chosen = current.and_then(|s| s.points.get(&criterion.id)).copied();
                let _ = write!(
                    out,
                    "<label>{question} <select name=\"{CRITERION}{id}\" required>\
                     <option value=\"\">choose</option>",
                    question = escape(&criterion.question),
                    id = escape(&criterion.id),
                );
                for (points, label) in POINTS.iter().enumerate() {
                    let selected = if chosen == Some(points as u8) {
                        " selected"
                    } else {
                        ""
                    };
                    let _ = write!(out, "<option value=\"{points}\"{selected}>{label}</option>");
                }
                out.push_str("</select></label>");
            }
            let note = current.and_then(|s| s.note.as_deref()).unwrap_or_default();
            let _ = write!(
                out,
                "<label>Note <input name=\"note\" maxlength=\"500\" value=\"{}\"></label>\
                 <button type=\"submit\">Save score</button></form>",
                escape(note)
            );
        }
    }
    out
}

/// The score a submitted form asks for, by `by` at `at_ms`: the ticket, every `c.<criterion>`
/// field as points, the note if not blank. Whether the ticket is sampled and the criteria
/// are the scorecard's is checked by [`crate::review::score`], with its own messages.
pub fn parse(form: &[(String, String)], by: &str, at_ms: u64) -> Result<Score, Error> {
    let mut ticket = String::new();
    let mut note = None;
    let mut points = BTreeMap::new();
    for (name, value) in form {
        let value = value.trim();
        if name == "ticket" {
            ticket = value.to_owned();
        } else if name == "note" {
            note = (!value.is_empty()).then(|| value.to_owned());
        } else if let Some(criterion) = name.strip_prefix(CRITERION) {
            if value.is_empty() {
                // Left unchosen: the scorecard check names every criterion not scored.
                continue;
            }
            let parsed = value
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= MAX_POINTS)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "criterion {criterion}: {value:?} is not a score; allowed: 0 (no), \
                         1 (partly), 2 (yes)"
                    ))
                })?;
            if points.insert(criterion.to_owned(), parsed).is_some() {
                return Err(Error::InvalidArgument(format!(
                    "criterion {criterion:?} is scored twice; score each criterion once"
                )));
            }
        }
    }
    if ticket.is_empty() {
        return Err(Error::InvalidArgument(
            "ticket: the form names no ticket; score a ticket of the quality sample from its form"
                .into(),
        ));
    }
    Ok(Score {
        ticket,
        points,
        note,
        by: by.to_owned(),
        at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A complete form reads as the score the staff member chose, blank note dropped.
    #[test]
    fn form_reads_as_score() {
        let score = parse(
            &form(&[("ticket", "T-1"), ("c.a", "2"), ("c.b", "0"), ("note", " ")]),
            "alice",
            7,
        )
        .unwrap();
        assert_eq!(score.ticket, "T-1");
        assert_eq!(score.points.get("a"), Some(&2));
        assert_eq!(score.points.get("b"), Some(&0));
        assert_eq!(
            (score.note, score.by.as_str(), score.at_ms),
            (None, "alice", 7)
        );
    }

    /// Points out of range, twice the same criterion and a missing ticket are refused with
    /// what is allowed, so a tampered form stores nothing.
    #[test]
    fn bad_forms_say_what_is_allowed() {
        let out_of_range = parse(&form(&[("ticket", "T"), ("c.a", "3")]), "a", 0).unwrap_err();
        assert!(
            out_of_range
                .to_string()
                .contains("\"3\" is not a score; allowed: 0"),
            "{out_of_range}"
        );
        let twice = parse(
            &form(&[("ticket", "T"), ("c.a", "1"), ("c.a", "2")]),
            "a",
            0,
        );
        assert!(twice.unwrap_err().to_string().contains("scored twice"));
        let none = parse(&form(&[("c.a", "1")]), "a", 0).unwrap_err();
        assert!(none.to_string().contains("names no ticket"), "{none}");
    }
}
