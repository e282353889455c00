//! The `[retention]` table: how often the gateway looks for closed tickets whose partners'
//! retention has ended (the days themselves are each focus team's policy,
//! `partner_retention_days`).

use serde::Deserialize;

use crate::error::{Error, Result};

/// The retention sweep.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Run the sweep (`false`: partners keep closed tickets until this is turned on).
    pub enabled: bool,
    /// Seconds between two sweeps (one at start).
    pub sweep_interval_secs: u64,
    /// Most tickets archived in one writer group; a sweep with more due goes on in the next
    /// group, so pushes are not held up behind a large first sweep.
    pub archive_batch: usize,
    /// Days the gateway keeps the personal data of a closed ticket (1 to 36500); after them
    /// the sweep erases it (name, email, phone, comment bodies) as an erasure does, and the
    /// ticket's facts stay for the figures. Unset: kept for ever.
    pub inhouse_days: Option<u32>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            sweep_interval_secs: 3600,
            archive_batch: 64,
            inhouse_days: None,
        }
    }
}

impl RetentionConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: field.into(),
                problem,
            })
        };
        if !(1..=86_400).contains(&self.sweep_interval_secs) {
            return bad(
                "retention.sweep_interval_secs",
                format!(
                    "{} is out of range; allowed: 1 to 86400",
                    self.sweep_interval_secs
                ),
            );
        }
        if !(1..=1024).contains(&self.archive_batch) {
            return bad(
                "retention.archive_batch",
                format!("{} is out of range; allowed: 1 to 1024", self.archive_batch),
            );
        }
        if let Some(days) = self.inhouse_days {
            if !(1..=hotline_federation::retention::MAX_DAYS).contains(&days) {
                return bad(
                    "retention.inhouse_days",
                    format!(
                        "{days} is out of range; allowed: 1 to {} days, or unset to keep \
                         closed tickets' personal data for ever",
                        hotline_federation::retention::MAX_DAYS
                    ),
                );
            }
        }
        Ok(())
    }
}
