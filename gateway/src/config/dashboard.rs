//! The `[dashboard]` table: the staff dashboard under `/staff/` on the web listener, its
//! one-time sign-in links and its sessions.

use serde::Deserialize;

use crate::error::{Error, Result};

/// The staff dashboard's sign-in links and sessions.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// How long a minted sign-in link works, in seconds (it works once).
    pub link_ttl_secs: u64,
    /// A session ends after this many seconds without a request.
    pub session_idle_secs: u64,
    /// A session ends this many seconds after sign-in, however busy.
    pub session_max_secs: u64,
    /// Most unused sign-in links kept at once; minting more is refused until some expire.
    pub max_links: usize,
    /// Most sessions kept at once; when full, the oldest session ends.
    pub max_sessions: usize,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            link_ttl_secs: 600,
            session_idle_secs: 1800,
            session_max_secs: 28_800,
            max_links: 256,
            max_sessions: 256,
        }
    }
}

impl DashboardConfig {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: format!("dashboard.{field}"),
                problem,
            })
        };
        if !(1..=86_400).contains(&self.link_ttl_secs) {
            return bad(
                "link_ttl_secs",
                format!(
                    "{} is out of range; allowed: 1 to 86400 (a day)",
                    self.link_ttl_secs
                ),
            );
        }
        if !(1..=self.session_max_secs.max(1)).contains(&self.session_idle_secs) {
            return bad(
                "session_idle_secs",
                format!(
                    "{} is out of range; allowed: 1 to session_max_secs ({})",
                    self.session_idle_secs, self.session_max_secs
                ),
            );
        }
        if !(1..=7 * 86_400).contains(&self.session_max_secs) {
            return bad(
                "session_max_secs",
                format!(
                    "{} is out of range; allowed: 1 to 604800 (a week)",
                    self.session_max_secs
                ),
            );
        }
        for (field, value) in [
            ("max_links", self.max_links),
            ("max_sessions", self.max_sessions),
        ] {
            if !(1..=100_000).contains(&value) {
                return bad(
                    field,
                    format!("{value} is out of range; allowed: 1 to 100000"),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::DashboardConfig;

    /// The defaults are valid, and an idle limit beyond the session's whole life is refused
    /// with an error naming the field, so a typo cannot make sessions outlive their cap.
    #[test]
    fn defaults_pass_and_bad_fields_are_named() {
        DashboardConfig::default().validate().expect("defaults");
        let config = DashboardConfig {
            session_idle_secs: 30_000,
            ..DashboardConfig::default()
        };
        let error = config.validate().expect_err("idle above max").to_string();
        assert!(error.contains("dashboard.session_idle_secs"), "{error}");
        let config = DashboardConfig {
            link_ttl_secs: 0,
            ..DashboardConfig::default()
        };
        let error = config.validate().expect_err("zero ttl").to_string();
        assert!(error.contains("dashboard.link_ttl_secs"), "{error}");
    }
}
