//! The gateway's configuration: a serde struct with safe defaults, read from one TOML file, then
//! overridden by `HOTLINE_...` environment variables, then validated with errors that name the
//! field. Tests build values directly and never touch the process environment.
//!
//! Layout: this module holds the config and its file and environment handling; `limits` the
//! `[limits]` table with its defaults and checks; `web` the `[web]` table of the customer's
//! status page.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hotline_federation::ids::INHOUSE;
use hotline_federation::model::ReviewCadence;
use hotline_runtime::config::slug;
use serde::Deserialize;

use crate::error::{Error, Result};

mod audit;
mod env;
mod limits;
mod postgres;
mod retention;
mod review;
mod web;
// The staff dashboard (issue 15).
mod dashboard;
use crate::tls::CrlExpired;
pub use audit::AuditConfig;
pub use dashboard::DashboardConfig;
pub use env::ENV_OVERRIDES;
pub use limits::Limits;
pub use postgres::PostgresConfig;
pub use retention::RetentionConfig;
pub use review::{CriterionConfig, ReviewConfig};
pub use web::WebConfig;

/// The default of [`GatewayConfig::storage_cache_mib`].
pub const DEFAULT_STORAGE_CACHE_MIB: u64 = 32;

/// The whole gateway configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The federation (SPIFFE trust domain) every certificate must belong to.
    pub federation: String,
    /// Address to listen on.
    pub listen: String,
    /// Directory of the store (sled or redb).
    pub data_dir: PathBuf,
    /// `auto` (default: the engine whose store `data_dir` holds, redb for a new one), `redb`,
    /// `sled` (both durable), `postgres` (a PostgreSQL database, `[postgres]`) or `memory`
    /// (tests and demos only). See [`crate::store::engine`].
    pub storage: String,
    /// The database for `storage = "postgres"`.
    pub postgres: PostgresConfig,
    /// The engine's cache of store pages, in MiB (8 to 65536; both engines' own default is
    /// 1024). redb kept to it at 900,000 tickets; sled held several times this (BENCHMARKS.md,
    /// "How cost grows").
    pub storage_cache_mib: u64,
    /// Prefix of public ticket numbers, e.g. `ASZ`.
    pub ticket_prefix: String,
    /// Largest accepted clock lead of a site, in milliseconds.
    pub max_skew_ms: u64,
    /// Logging.
    pub log: LogConfig,
    /// TLS files.
    pub tls: TlsConfig,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The customer's status page (off unless `web.listen` is set).
    pub web: WebConfig,
    /// The operations port (`/metrics`, `/healthz`, `/readyz`); `listen = ""` turns it off.
    pub ops: OpsConfig,
    /// The staff dashboard's sign-in links and sessions (served on the web listener).
    pub dashboard: DashboardConfig,
    /// Tenants of the federation.
    pub tenants: Vec<TenantConfig>,
    /// Sites and their tenants.
    pub sites: Vec<SiteConfig>,
    /// Focus teams and their policy.
    pub focus_teams: Vec<FocusTeamConfig>,
    /// Review reports and the quality scorecard.
    pub review: ReviewConfig,
    /// The audit trail's signing key and checkpoint interval.
    pub audit: AuditConfig,
    /// The sweep that ends partners' retention of closed tickets.
    pub retention: RetentionConfig,
}

pub use hotline_runtime::config::LogConfig;
pub use hotline_runtime::config::OpsConfig;

/// The operations port's default address.
pub const DEFAULT_OPS_LISTEN: &str = "127.0.0.1:9464";

/// TLS files (PEM) and the CRL.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// The federation CA that signs every client certificate.
    pub ca_cert: PathBuf,
    /// The gateway's server certificate chain.
    pub cert: PathBuf,
    /// The gateway's private key.
    pub key: PathBuf,
    /// The CRL of revoked certificates; reloaded when the file changes.
    pub crl: Option<PathBuf>,
    /// How often the TLS files are checked for changes, in milliseconds.
    pub reload_interval_ms: u64,
    /// While the CRL is past its nextUpdate: `refuse` every client certificate (fail closed,
    /// the default) or `warn` and accept them.
    pub crl_expired: String,
    /// Warn once less than this share (percent, 0 to 100) of the CRL's validity is left; 0
    /// warns only once it has expired.
    pub crl_warn_remaining_percent: u8,
    /// How often a CRL warning is repeated while it holds, in seconds.
    pub crl_warn_interval_s: u64,
}

/// One tenant.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant id.
    pub id: String,
    /// Human name (never shown to customers).
    #[serde(default)]
    pub name: String,
}

/// One site.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Site id.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// Human name, e.g. "Görlitz" (never shown to customers; the leak guard refuses it in
    /// customer-visible text, as it does the id).
    #[serde(default)]
    pub name: Option<String>,
}

/// One focus team and its policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusTeamConfig {
    /// Focus team id.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Tenants that handle its tickets (in-house always does).
    #[serde(default)]
    pub handlers: Vec<String>,
    /// Answer-time target in seconds.
    #[serde(default = "default_sla_seconds")]
    pub sla_answer_seconds: u32,
    /// Service-level target in percent.
    #[serde(default = "default_sla_percent")]
    pub sla_target_percent: u32,
    /// First-contact resolution target in percent.
    #[serde(default = "default_fcr_percent")]
    pub fcr_target_percent: u32,
    /// `weekly`, `biweekly` or `monthly`.
    #[serde(default = "default_cadence")]
    pub review_cadence: String,
    /// Tenants granted the customer's PII on this team's tickets.
    #[serde(default)]
    pub pii_grants: Vec<String>,
    /// Days partner sites keep a closed ticket of this team before it is purged there (the
    /// gateway keeps it in-house); 0 purges at the next sweep after closing. Unset leaves the
    /// stored policy's value (set through Admin), or 90 where none was ever set.
    #[serde(default)]
    pub partner_retention_days: Option<u32>,
}

fn default_sla_seconds() -> u32 {
    25
}
fn default_sla_percent() -> u32 {
    80
}
fn default_fcr_percent() -> u32 {
    75
}
fn default_cadence() -> String {
    "weekly".into()
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            federation: "hotline".into(),
            listen: "127.0.0.1:7443".into(),
            data_dir: PathBuf::from("hotline-gateway-data"),
            storage: "auto".into(),
            storage_cache_mib: DEFAULT_STORAGE_CACHE_MIB,
            postgres: PostgresConfig::default(),
            ticket_prefix: "ASZ".into(),
            max_skew_ms: hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
            log: LogConfig::default(),
            tls: TlsConfig {
                reload_interval_ms: 2000,
                ..TlsConfig::default()
            },
            limits: Limits::default(),
            web: WebConfig::default(),
            ops: OpsConfig::on(DEFAULT_OPS_LISTEN),
            dashboard: DashboardConfig::default(),
            tenants: vec![TenantConfig {
                id: INHOUSE.into(),
                name: "In-house IT".into(),
            }],
            sites: Vec::new(),
            focus_teams: Vec::new(),
            review: ReviewConfig::default(),
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            ca_cert: PathBuf::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            crl: None,
            reload_interval_ms: 2000,
            crl_expired: "refuse".into(),
            crl_warn_remaining_percent: 30,
            crl_warn_interval_s: 3600,
        }
    }
}

impl GatewayConfig {
    /// Defaults, then the file at `path` (if any), then `env` overrides, then validation.
    pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<Self> {
        let mut config = match path {
            Some(path) => Self::from_toml_file(path)?,
            None => GatewayConfig::default(),
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML file (without validating).
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        Ok(hotline_runtime::config::read_toml(path)?)
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        Ok(hotline_runtime::config::listen_addr(
            "listen",
            &self.listen,
            "127.0.0.1:7443",
        )?)
    }

    /// The operations port's address, or `None` when it is off.
    pub fn ops_listen_addr(&self) -> Result<Option<SocketAddr>> {
        Ok(self.ops.listen_addr(DEFAULT_OPS_LISTEN)?)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: field.into(),
                problem,
            })
        };
        slug("federation", &self.federation)?;
        self.listen_addr()?;
        if !matches!(
            self.storage.as_str(),
            "auto" | "sled" | "redb" | "postgres" | "memory"
        ) {
            return bad(
                "storage",
                format!(
                    "{:?} is not known; known: auto, sled, redb, postgres, memory",
                    self.storage
                ),
            );
        }
        if self.storage == "postgres" {
            self.postgres.validate()?;
        }
        if !(8..=65536).contains(&self.storage_cache_mib) {
            return bad(
                "storage_cache_mib",
                format!("{}: allowed are 8 to 65536 (MiB)", self.storage_cache_mib),
            );
        }
        if self.storage != "memory" && self.data_dir.as_os_str().is_empty() {
            return bad(
                "data_dir",
                format!("must be set for {} storage", self.storage),
            );
        }
        let prefix_ok = (2..=5).contains(&self.ticket_prefix.len())
            && self.ticket_prefix.chars().all(|c| c.is_ascii_uppercase());
        if !prefix_ok {
            return bad(
                "ticket_prefix",
                format!("{:?}: allowed are 2 to 5 letters A-Z", self.ticket_prefix),
            );
        }
        self.log.validate()?;
        if self.audit.checkpoint_interval_secs == 0 {
            return bad(
                "audit.checkpoint_interval_secs",
                "must be at least 1 (seconds between signed checkpoints)".into(),
            );
        }
        for (field, path) in [
            ("tls.ca_cert", &self.tls.ca_cert),
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
        ] {
            if path.as_os_str().is_empty() {
                return bad(field, "must name a PEM file".into());
            }
        }
        if self.tls.reload_interval_ms == 0 {
            return bad("tls.reload_interval_ms", "must be at least 1".into());
        }
        if CrlExpired::parse(&self.tls.crl_expired).is_none() {
            return bad(
                "tls.crl_expired",
                format!(
                    "{:?} is not known; known: {}",
                    self.tls.crl_expired,
                    CrlExpired::KNOWN
                ),
            );
        }
        if self.tls.crl_warn_remaining_percent > 100 {
            return bad(
                "tls.crl_warn_remaining_percent",
                format!(
                    "{} is not a percentage; allowed: 0 to 100",
                    self.tls.crl_warn_remaining_percent
                ),
            );
        }
        if self.tls.crl_warn_interval_s == 0 {
            return bad("tls.crl_warn_interval_s", "must be at least 1".into());
        }
        self.limits.validate()?;
        self.web.validate()?;
        self.ops_listen_addr()?;
        self.dashboard.validate()?;
        self.review.validate()?;
        self.retention.validate()?;

        let mut tenants = BTreeSet::new();
        for (i, tenant) in self.tenants.iter().enumerate() {
            slug(&format!("tenants[{i}].id"), &tenant.id)?;
            if !tenants.insert(tenant.id.as_str()) {
                return bad(
                    &format!("tenants[{i}].id"),
                    format!("{:?} is listed twice", tenant.id),
                );
            }
        }
        if !tenants.contains(INHOUSE) {
            return bad(
                "tenants",
                format!("the in-house tenant {INHOUSE:?} must be listed"),
            );
        }
        let known = |field: String, tenant: &str| -> Result<()> {
            if tenants.contains(tenant) {
                Ok(())
            } else {
                let list = tenants.iter().copied().collect::<Vec<_>>().join(", ");
                bad(
                    &field,
                    format!("tenant {tenant:?} is not configured; known: {list}"),
                )
            }
        };
        let mut sites = BTreeSet::new();
        for (i, site) in self.sites.iter().enumerate() {
            slug(&format!("sites[{i}].id"), &site.id)?;
            if site.id == crate::writer::GATEWAY_SITE {
                return bad(
                    &format!("sites[{i}].id"),
                    "\"gateway\" is reserved for the gateway itself".into(),
                );
            }
            if site.id == crate::writer::CUSTOMER_SITE {
                return bad(
                    &format!("sites[{i}].id"),
                    "\"customer\" is reserved for customers' replies (comment ids customer-<n>)"
                        .into(),
                );
            }
            if site.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
                return bad(
                    &format!("sites[{i}].name"),
                    "must not be empty when given".into(),
                );
            }
            if !sites.insert(site.id.as_str()) {
                return bad(
                    &format!("sites[{i}].id"),
                    format!("{:?} is listed twice", site.id),
                );
            }
            known(format!("sites[{i}].tenant"), &site.tenant)?;
        }
        let mut teams = BTreeSet::new();
        for (i, team) in self.focus_teams.iter().enumerate() {
            let at = |f: &str| format!("focus_teams[{i}].{f}");
            slug(&at("id"), &team.id)?;
            if !teams.insert(team.id.as_str()) {
                return bad(&at("id"), format!("{:?} is listed twice", team.id));
            }
            if team.name.trim().is_empty() {
                return bad(&at("name"), "must not be empty".into());
            }
            for (j, h) in team.handlers.iter().enumerate() {
                known(format!("{}[{j}]", at("handlers")), h)?;
            }
            for (j, g) in team.pii_grants.iter().enumerate() {
                known(format!("{}[{j}]", at("pii_grants")), g)?;
            }
            if !(1..=3600).contains(&team.sla_answer_seconds) {
                return bad(&at("sla_answer_seconds"), "allowed: 1 to 3600".into());
            }
            for (f, v) in [
                ("sla_target_percent", team.sla_target_percent),
                ("fcr_target_percent", team.fcr_target_percent),
            ] {
                if v > 100 {
                    return bad(
                        &at(f),
                        format!("{v} is not a percentage; allowed: 0 to 100"),
                    );
                }
            }
            if let Some(days) = team.partner_retention_days {
                hotline_federation::retention::check_days(days).map_err(|e| Error::Config {
                    field: at("partner_retention_days"),
                    problem: e.to_string(),
                })?;
            }
            ReviewCadence::parse(&at("review_cadence"), &team.review_cadence).map_err(|e| {
                Error::Config {
                    field: at("review_cadence"),
                    problem: e.to_string(),
                }
            })?;
        }
        Ok(())
    }

    /// The tenant of a configured site.
    pub fn site_tenant(&self, site: &str) -> Option<&str> {
        self.sites
            .iter()
            .find(|s| s.id == site)
            .map(|s| s.tenant.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests;
