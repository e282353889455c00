//! The `[review]` table: how often the gateway looks for ended review periods, how many
//! tickets per partner the quality sample draws, and the scorecard staff score them on.

use std::collections::BTreeSet;

use hotline_federation::review::Criterion;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Review reports and quality sampling.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Produce reports on schedule (`false`: only through `Reviews.Generate`).
    pub enabled: bool,
    /// Seconds between two looks for ended periods without a report.
    pub check_interval_secs: u64,
    /// Tickets drawn per partner into each report's quality sample.
    pub sample_size: usize,
    /// The questions each sampled ticket is scored on (0 no, 1 partly, 2 yes).
    pub scorecard: Vec<CriterionConfig>,
}

/// One scorecard criterion.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionConfig {
    /// Stable id: lowercase letters, digits and `_`, e.g. `solution_correct`.
    pub id: String,
    /// The question, e.g. "Was the solution correct?".
    pub question: String,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        let criterion = |id: &str, question: &str| CriterionConfig {
            id: id.into(),
            question: question.into(),
        };
        ReviewConfig {
            enabled: true,
            check_interval_secs: 300,
            sample_size: 5,
            scorecard: vec![
                criterion("solution_correct", "Was the solution correct?"),
                criterion(
                    "brand_voice",
                    "Did the answers speak with the one brand voice?",
                ),
                criterion(
                    "documentation_complete",
                    "Is the ticket documented completely?",
                ),
            ],
        }
    }
}

/// Most tickets per partner in one sample.
const MAX_SAMPLE: usize = 100;
/// Most criteria on the scorecard.
const MAX_CRITERIA: usize = 20;

impl ReviewConfig {
    /// The scorecard as the domain reads it.
    pub fn criteria(&self) -> Vec<Criterion> {
        self.scorecard
            .iter()
            .map(|c| Criterion {
                id: c.id.clone(),
                question: c.question.clone(),
            })
            .collect()
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, problem: String| Err(Error::Config { field, problem });
        if !(1..=86_400).contains(&self.check_interval_secs) {
            return bad(
                "review.check_interval_secs".into(),
                format!(
                    "{} is out of range; allowed: 1 to 86400",
                    self.check_interval_secs
                ),
            );
        }
        if !(1..=MAX_SAMPLE).contains(&self.sample_size) {
            return bad(
                "review.sample_size".into(),
                format!(
                    "{} is out of range; allowed: 1 to {MAX_SAMPLE}",
                    self.sample_size
                ),
            );
        }
        if self.scorecard.is_empty() || self.scorecard.len() > MAX_CRITERIA {
            return bad(
                "review.scorecard".into(),
                format!(
                    "{} criteria; allowed: 1 to {MAX_CRITERIA}",
                    self.scorecard.len()
                ),
            );
        }
        let mut seen = BTreeSet::new();
        for (i, c) in self.scorecard.iter().enumerate() {
            let id_ok = (1..=40).contains(&c.id.len())
                && c.id.starts_with(|ch: char| ch.is_ascii_lowercase())
                && c.id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !id_ok {
                return bad(
                    format!("review.scorecard[{i}].id"),
                    format!(
                        "{:?} is not a criterion id; allowed: 1 to 40 characters of a-z, 0-9 \
                         and '_', starting with a letter",
                        c.id
                    ),
                );
            }
            if !seen.insert(c.id.as_str()) {
                return bad(
                    format!("review.scorecard[{i}].id"),
                    format!("{:?} appears twice; each criterion once", c.id),
                );
            }
            if c.question.trim().is_empty() || c.question.len() > 200 {
                return bad(
                    format!("review.scorecard[{i}].question"),
                    "must be 1 to 200 bytes of text".into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default review config is valid, and each bad value is refused naming its field.
    #[test]
    fn bad_review_values_name_their_field() {
        ReviewConfig::default().validate().unwrap();
        type Spoil = fn(&mut ReviewConfig);
        let cases: [(Spoil, &str); 4] = [
            (|c| c.check_interval_secs = 0, "review.check_interval_secs"),
            (|c| c.sample_size = 0, "review.sample_size"),
            (
                |c| c.scorecard[1].id = "Brand Voice".into(),
                "review.scorecard[1].id",
            ),
            (
                |c| c.scorecard[2].id = "solution_correct".into(),
                "review.scorecard[2].id",
            ),
        ];
        for (spoil, field) in cases {
            let mut config = ReviewConfig::default();
            spoil(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{field}: {err}");
        }
    }
}
