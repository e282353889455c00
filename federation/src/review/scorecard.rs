//! The quality scorecard: the questions staff answer for each sampled ticket, and the check of
//! one score against a report's sample. Each criterion is scored 0 (no), 1 (partly) or 2
//! (yes); every criterion of the scorecard must be scored, none other may be.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sample::QualitySample;
use crate::error::{Error, Result, quote};

/// Highest score of one criterion.
pub const MAX_POINTS: u8 = 2;
/// Longest note, in bytes.
pub const MAX_NOTE_BYTES: usize = 2000;

/// One question of the scorecard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Stable id, e.g. `solution_correct`.
    pub id: String,
    /// The question staff answer, e.g. "Was the solution correct?".
    pub question: String,
}

/// A staff member's score of one sampled ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// The ticket.
    pub ticket: String,
    /// Points per criterion id, 0 to [`MAX_POINTS`].
    pub points: BTreeMap<String, u8>,
    /// An optional remark.
    pub note: Option<String>,
    /// Who scored (staff name from the certificate).
    pub by: String,
    /// When (ms, UTC).
    pub at_ms: u64,
}

/// Checks `score` against the scorecard and the sample: the ticket is sampled, every
/// criterion is scored once, none is unknown, points are 0 to 2 and the note is short text.
pub fn check_score(scorecard: &[Criterion], sample: &QualitySample, score: &Score) -> Result<()> {
    if sample.find(&score.ticket).is_none() {
        let sampled: Vec<&str> = sample
            .partners
            .iter()
            .flat_map(|p| p.tickets.iter().map(|t| t.id.as_str()))
            .collect();
        return Err(Error::invalid(
            "ticket",
            format!(
                "{} is not in this report's quality sample; sampled: {}",
                quote(&score.ticket),
                if sampled.is_empty() {
                    "none".to_owned()
                } else {
                    sampled.join(", ")
                }
            ),
        ));
    }
    let known = || {
        scorecard
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (id, points) in &score.points {
        if !scorecard.iter().any(|c| &c.id == id) {
            return Err(Error::invalid(
                "criterion",
                format!("{} is not on the scorecard; known: {}", quote(id), known()),
            ));
        }
        if *points > MAX_POINTS {
            return Err(Error::invalid(
                format!("criterion {id}"),
                format!("{points} points is out of range; allowed: 0 (no), 1 (partly), 2 (yes)"),
            ));
        }
    }
    let missing: Vec<&str> = scorecard
        .iter()
        .filter(|c| !score.points.contains_key(&c.id))
        .map(|c| c.id.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::invalid(
            "criterion",
            format!(
                "not scored: {}; every criterion of the scorecard needs 0, 1 or 2 points",
                missing.join(", ")
            ),
        ));
    }
    if let Some(note) = &score.note {
        crate::text::check_text("note", note, MAX_NOTE_BYTES, crate::text::Lines::Many)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::sample::{PartnerSample, SampledTicket};

    fn card() -> Vec<Criterion> {
        ["solution_correct", "brand_voice"]
            .map(|id| Criterion {
                id: id.into(),
                question: format!("{id}?"),
            })
            .to_vec()
    }

    fn sample() -> QualitySample {
        QualitySample {
            seed: 1,
            size: 1,
            partners: vec![PartnerSample {
                tenant: "twenty4help".into(),
                closed: 3,
                tickets: vec![SampledTicket {
                    id: "ASZ-2026-000001".into(),
                    site: "munich".into(),
                }],
            }],
        }
    }

    fn score(ticket: &str, points: &[(&str, u8)]) -> Score {
        Score {
            ticket: ticket.into(),
            points: points.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
            note: None,
            by: "alice".into(),
            at_ms: 0,
        }
    }

    /// A full score of a sampled ticket passes; an unsampled ticket, an unknown or missing
    /// criterion and points above 2 are each refused with what is allowed.
    #[test]
    fn scores_are_checked() {
        let ok = score(
            "ASZ-2026-000001",
            &[("solution_correct", 2), ("brand_voice", 0)],
        );
        check_score(&card(), &sample(), &ok).unwrap();
        let cases = [
            (
                score(
                    "ASZ-2026-000009",
                    &[("solution_correct", 2), ("brand_voice", 1)],
                ),
                "sampled: ASZ-2026-000001",
            ),
            (
                score(
                    "ASZ-2026-000001",
                    &[("solution_correct", 2), ("brand_voice", 1), ("speed", 1)],
                ),
                "\"speed\" is not on the scorecard; known: solution_correct, brand_voice",
            ),
            (
                score("ASZ-2026-000001", &[("solution_correct", 2)]),
                "not scored: brand_voice",
            ),
            (
                score(
                    "ASZ-2026-000001",
                    &[("solution_correct", 3), ("brand_voice", 1)],
                ),
                "allowed: 0 (no), 1 (partly), 2 (yes)",
            ),
        ];
        for (bad, expected) in cases {
            let err = check_score(&card(), &sample(), &bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
