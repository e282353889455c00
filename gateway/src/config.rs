//! The gateway's configuration: a serde struct with safe defaults, read from one TOML file, then
//! overridden by `HOTLINE_...` environment variables, then validated with errors that name the
//! field. Tests build values directly and never touch the process environment.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hotline_federation::ids::{INHOUSE, check_slug};
use hotline_federation::limits::{MAX_CHANGE_BYTES, MAX_ENTITY_BYTES, MIN_MESSAGE_BYTES};
use hotline_federation::model::ReviewCadence;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::tls::CrlExpired;

/// The whole gateway configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// The federation (SPIFFE trust domain) every certificate must belong to.
    pub federation: String,
    /// Address to listen on.
    pub listen: String,
    /// Directory of the sled store.
    pub data_dir: PathBuf,
    /// `sled` (default, durable) or `memory` (tests and demos only).
    pub storage: String,
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
    /// Tenants of the federation.
    pub tenants: Vec<TenantConfig>,
    /// Sites and their tenants.
    pub sites: Vec<SiteConfig>,
    /// Focus teams and their policy.
    pub focus_teams: Vec<FocusTeamConfig>,
}

/// Logging settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `hotline_gateway=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

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

/// Limits, buffers and timeouts.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most changes in one push.
    pub max_push_changes: usize,
    /// Largest push, in encoded bytes; larger pushes get INVALID_ARGUMENT.
    pub max_push_bytes: usize,
    /// Hard cap on any gRPC message received or sent, in bytes; at least
    /// `hotline_federation::limits::MIN_MESSAGE_BYTES` (about 4.1 MiB), so that every entity
    /// and every change fits. Each adapter's `sync.max_message_bytes` must be at least this.
    pub max_message_bytes: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// From accept to an established TLS connection, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// From accept to a connection's first byte, in milliseconds; a connection silent for
    /// longer is closed. Waiting holds no handshake slot. At most `handshake_timeout_ms`.
    pub first_byte_timeout_ms: u64,
    /// TLS handshakes in progress at once (counted from a connection's first byte).
    pub max_handshakes: usize,
    /// Connections one peer (IPv4 address, IPv6 /64) may have between accept and established
    /// TLS; further ones are closed at once.
    pub max_handshakes_per_peer: usize,
    /// Connections between accept and established TLS over all peers; at this many the
    /// gateway stops accepting until one finishes.
    pub max_pending_connections: usize,
    /// HTTP/2 keepalive ping interval, in seconds.
    pub keepalive_interval_s: u64,
    /// HTTP/2 keepalive ping timeout, in seconds.
    pub keepalive_timeout_s: u64,
    /// Events buffered per subscriber before it counts as slow.
    pub subscriber_buffer: usize,
    /// How long a subscriber may leave a full buffer unread before it is disconnected, ms.
    pub stall_timeout_ms: u64,
    /// Committed changes buffered for live subscribers; one further behind is disconnected.
    pub broadcast_capacity: usize,
    /// Heartbeat interval on a quiet stream, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// How many log entries are kept; older cursors get a snapshot.
    pub log_retention: u64,
    /// Most ticket numbers in one lease.
    pub max_lease: u32,
    /// Connections older than this are closed (after a grace period), so a certificate revoked
    /// by a new CRL cannot keep an old connection forever; seconds.
    pub max_connection_age_s: u64,
    /// After a shutdown signal, how long open connections get to finish before they are
    /// dropped; milliseconds.
    pub shutdown_grace_ms: u64,
    /// Changes per second each tenant may push (its quota), averaged.
    pub tenant_changes_per_second: u64,
    /// Changes a tenant may push at once above its rate (at least `max_push_changes`).
    pub tenant_burst: u64,
    /// Most refused changes the gateway keeps per site (dead letters); beyond, a refusal is
    /// still answered (the site parks it) but not stored at the gateway.
    pub max_dead_letters_per_site: usize,
    /// Largest refused change (encoded) the gateway keeps as a dead letter; a larger one is
    /// answered and parked at its site, but not stored at the gateway. With
    /// `max_dead_letters_per_site` this bounds what one site's refusals take on disk.
    pub max_dead_letter_bytes: usize,
    /// Most subscriptions one tenant holds open at once (all its sites together; a site holds
    /// one, two briefly while it reconnects). A slot is free as soon as its stream closes.
    pub tenant_subscriptions: usize,
    /// Entities per second each tenant may fetch (its Fetch quota), averaged.
    pub tenant_fetches_per_second: u64,
    /// Entities a tenant may fetch at once above its rate (at least `max_push_changes`, the
    /// most one Fetch names).
    pub tenant_fetch_burst: u64,
    /// Most ticket numbers a site may hold leased but not yet used (per year); a lease beyond
    /// it is refused until the site has used some. Well above an adapter's lease size.
    pub max_unused_numbers_per_site: u64,
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
            storage: "sled".into(),
            ticket_prefix: "ASZ".into(),
            max_skew_ms: hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
            log: LogConfig::default(),
            tls: TlsConfig {
                reload_interval_ms: 2000,
                ..TlsConfig::default()
            },
            limits: Limits::default(),
            tenants: vec![TenantConfig {
                id: INHOUSE.into(),
                name: "In-house IT".into(),
            }],
            sites: Vec::new(),
            focus_teams: Vec::new(),
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

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_push_changes: 512,
            max_push_bytes: 4 * 1024 * 1024,
            max_message_bytes: 16 * 1024 * 1024,
            max_concurrent_streams: 256,
            handshake_timeout_ms: 10_000,
            first_byte_timeout_ms: 2_000,
            max_handshakes: 1024,
            max_handshakes_per_peer: 32,
            max_pending_connections: 4096,
            keepalive_interval_s: 30,
            keepalive_timeout_s: 10,
            subscriber_buffer: 1024,
            stall_timeout_ms: 10_000,
            broadcast_capacity: 8192,
            heartbeat_interval_ms: 5_000,
            log_retention: 1_000_000,
            max_lease: 10_000,
            max_connection_age_s: 3600,
            shutdown_grace_ms: 10_000,
            tenant_changes_per_second: 5_000,
            tenant_burst: 20_000,
            max_dead_letters_per_site: 1_000,
            max_dead_letter_bytes: 256 * 1024,
            tenant_subscriptions: 64,
            tenant_fetches_per_second: 2_000,
            tenant_fetch_burst: 10_000,
            max_unused_numbers_per_site: 20_000,
        }
    }
}

/// The environment variables that override config fields, and the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("HOTLINE_FEDERATION", "federation"),
    ("HOTLINE_LISTEN", "listen"),
    ("HOTLINE_DATA_DIR", "data_dir"),
    ("HOTLINE_STORAGE", "storage"),
    ("HOTLINE_LOG_FORMAT", "log.format"),
    ("HOTLINE_LOG_LEVEL", "log.level"),
    ("HOTLINE_TLS_CA_CERT", "tls.ca_cert"),
    ("HOTLINE_TLS_CERT", "tls.cert"),
    ("HOTLINE_TLS_KEY", "tls.key"),
    ("HOTLINE_TLS_CRL", "tls.crl"),
];

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
        let text = std::fs::read_to_string(path).map_err(|e| Error::File {
            path: path.into(),
            problem: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| Error::File {
            path: path.into(),
            problem: e.to_string(),
        })
    }

    /// Applies `HOTLINE_...` overrides (see [`ENV_OVERRIDES`]); unknown `HOTLINE_` names are
    /// left for other components.
    pub fn apply_env(&mut self, env: &[(String, String)]) -> Result<()> {
        for (name, value) in env {
            let Some((_, field)) = ENV_OVERRIDES.iter().find(|(n, _)| n == name) else {
                continue;
            };
            match *field {
                "federation" => self.federation = value.clone(),
                "listen" => self.listen = value.clone(),
                "data_dir" => self.data_dir = value.into(),
                "storage" => self.storage = value.clone(),
                "log.format" => self.log.format = value.clone(),
                "log.level" => self.log.level = value.clone(),
                "tls.ca_cert" => self.tls.ca_cert = value.into(),
                "tls.cert" => self.tls.cert = value.into(),
                "tls.key" => self.tls.key = value.into(),
                "tls.crl" => self.tls.crl = Some(value.into()),
                other => {
                    return Err(Error::Config {
                        field: other.into(),
                        problem: format!("{name} maps to an unknown field"),
                    });
                }
            }
        }
        Ok(())
    }

    /// The listen address, parsed.
    pub fn listen_addr(&self) -> Result<SocketAddr> {
        self.listen.parse().map_err(|e| Error::Config {
            field: "listen".into(),
            problem: format!(
                "{:?} is not an address like 127.0.0.1:7443: {e}",
                self.listen
            ),
        })
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: field.into(),
                problem,
            })
        };
        let slug = |field: &str, value: &str| {
            check_slug(field, value).map_err(|e| Error::Config {
                field: field.into(),
                problem: e.to_string(),
            })
        };
        slug("federation", &self.federation)?;
        self.listen_addr()?;
        if !matches!(self.storage.as_str(), "sled" | "memory") {
            return bad(
                "storage",
                format!("{:?} is not known; known: sled, memory", self.storage),
            );
        }
        if self.storage == "sled" && self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must be set for sled storage".into());
        }
        let prefix_ok = (2..=5).contains(&self.ticket_prefix.len())
            && self.ticket_prefix.chars().all(|c| c.is_ascii_uppercase());
        if !prefix_ok {
            return bad(
                "ticket_prefix",
                format!("{:?}: allowed are 2 to 5 letters A-Z", self.ticket_prefix),
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return bad(
                "log.format",
                format!("{:?} is not known; known: text, json", self.log.format),
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

impl Limits {
    fn validate(&self) -> Result<()> {
        let positive = [
            ("limits.max_push_changes", self.max_push_changes as u64),
            ("limits.max_push_bytes", self.max_push_bytes as u64),
            ("limits.max_message_bytes", self.max_message_bytes as u64),
            (
                "limits.max_concurrent_streams",
                u64::from(self.max_concurrent_streams),
            ),
            ("limits.handshake_timeout_ms", self.handshake_timeout_ms),
            ("limits.first_byte_timeout_ms", self.first_byte_timeout_ms),
            ("limits.max_handshakes", self.max_handshakes as u64),
            (
                "limits.max_handshakes_per_peer",
                self.max_handshakes_per_peer as u64,
            ),
            (
                "limits.max_pending_connections",
                self.max_pending_connections as u64,
            ),
            ("limits.keepalive_interval_s", self.keepalive_interval_s),
            ("limits.keepalive_timeout_s", self.keepalive_timeout_s),
            ("limits.subscriber_buffer", self.subscriber_buffer as u64),
            ("limits.stall_timeout_ms", self.stall_timeout_ms),
            ("limits.broadcast_capacity", self.broadcast_capacity as u64),
            ("limits.heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("limits.log_retention", self.log_retention),
            ("limits.max_lease", u64::from(self.max_lease)),
            ("limits.max_connection_age_s", self.max_connection_age_s),
            ("limits.shutdown_grace_ms", self.shutdown_grace_ms),
            (
                "limits.tenant_changes_per_second",
                self.tenant_changes_per_second,
            ),
            (
                "limits.max_dead_letters_per_site",
                self.max_dead_letters_per_site as u64,
            ),
            (
                "limits.max_dead_letter_bytes",
                self.max_dead_letter_bytes as u64,
            ),
            (
                "limits.tenant_subscriptions",
                self.tenant_subscriptions as u64,
            ),
            (
                "limits.tenant_fetches_per_second",
                self.tenant_fetches_per_second,
            ),
            (
                "limits.max_unused_numbers_per_site",
                self.max_unused_numbers_per_site,
            ),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::Config {
                    field: field.into(),
                    problem: "must be at least 1".into(),
                });
            }
        }
        if self.first_byte_timeout_ms > self.handshake_timeout_ms {
            return Err(Error::Config {
                field: "limits.first_byte_timeout_ms".into(),
                problem: format!(
                    "{} is above limits.handshake_timeout_ms ({}), which already bounds the \
                     wait for the first byte; allowed: 1 to {}",
                    self.first_byte_timeout_ms,
                    self.handshake_timeout_ms,
                    self.handshake_timeout_ms
                ),
            });
        }
        if self.max_handshakes_per_peer > self.max_pending_connections {
            return Err(Error::Config {
                field: "limits.max_handshakes_per_peer".into(),
                problem: format!(
                    "{} is above limits.max_pending_connections ({}); one peer could hold \
                     every place; allowed: 1 to {}",
                    self.max_handshakes_per_peer,
                    self.max_pending_connections,
                    self.max_pending_connections
                ),
            });
        }
        if self.tenant_burst < self.max_push_changes as u64 {
            return Err(Error::Config {
                field: "limits.tenant_burst".into(),
                problem: format!(
                    "{} is below limits.max_push_changes ({}); a full push could never pass",
                    self.tenant_burst, self.max_push_changes
                ),
            });
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(Error::Config {
                field: "limits.max_message_bytes".into(),
                problem: format!(
                    "{} is below {MIN_MESSAGE_BYTES}, what the largest entity ({MAX_ENTITY_BYTES} \
                     bytes) or change ({MAX_CHANGE_BYTES} bytes) needs in one message; allowed: \
                     {MIN_MESSAGE_BYTES} or more",
                    self.max_message_bytes
                ),
            });
        }
        if self.tenant_fetch_burst < self.max_push_changes as u64 {
            return Err(Error::Config {
                field: "limits.tenant_fetch_burst".into(),
                problem: format!(
                    "{} is below limits.max_push_changes ({}); a full fetch could never pass",
                    self.tenant_fetch_burst, self.max_push_changes
                ),
            });
        }
        if self.max_push_bytes > self.max_message_bytes {
            return Err(Error::Config {
                field: "limits.max_push_bytes".into(),
                problem: format!(
                    "{} is above limits.max_message_bytes ({}); it must not be",
                    self.max_push_bytes, self.max_message_bytes
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> GatewayConfig {
        GatewayConfig {
            tls: TlsConfig {
                ca_cert: "ca.pem".into(),
                cert: "gw.pem".into(),
                key: "gw.key".into(),
                crl: None,
                reload_interval_ms: 1000,
                ..TlsConfig::default()
            },
            ..GatewayConfig::default()
        }
    }

    /// A site of an unknown tenant is refused with the field path and the known tenants.
    #[test]
    fn unknown_tenant_names_the_field() {
        let mut config = valid();
        config.sites.push(SiteConfig {
            id: "dortmund".into(),
            tenant: "nobody".into(),
        });
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("sites[0].tenant"), "{err}");
        assert!(err.contains("known: inhouse"), "{err}");
    }

    /// A message limit too small for the largest entity is refused naming the field and the
    /// smallest allowed value; that smallest value passes.
    #[test]
    fn message_limit_must_carry_the_largest_entity() {
        let mut config = valid();
        config.limits.max_push_bytes = 1024;
        config.limits.max_message_bytes = 4 * 1024 * 1024;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("limits.max_message_bytes"), "{err}");
        assert!(
            err.contains(&format!("allowed: {MIN_MESSAGE_BYTES} or more")),
            "{err}"
        );
        config.limits.max_message_bytes = MIN_MESSAGE_BYTES;
        config.validate().expect("the smallest allowed limit");
    }

    /// Environment overrides win over the file, and only known names are read.
    #[test]
    fn env_overrides_listen_and_data_dir() {
        let mut config = valid();
        let env = vec![
            ("HOTLINE_LISTEN".to_owned(), "127.0.0.1:9000".to_owned()),
            ("HOTLINE_DATA_DIR".to_owned(), "/srv/gw".to_owned()),
            ("HOTLINE_UNRELATED".to_owned(), "x".to_owned()),
        ];
        config.apply_env(&env).unwrap();
        assert_eq!(config.listen, "127.0.0.1:9000");
        assert_eq!(config.data_dir, PathBuf::from("/srv/gw"));
    }

    /// Unknown keys in the TOML file are an error, so a typo does not silently use a default.
    #[test]
    fn unknown_toml_keys_are_refused() {
        let err = toml::from_str::<GatewayConfig>("listen_addr = \"x\"").unwrap_err();
        assert!(err.to_string().contains("listen_addr"), "{err}");
    }

    /// A bad review cadence names its focus team entry and the known cadences.
    #[test]
    fn bad_cadence_is_refused() {
        let mut config = valid();
        config.focus_teams.push(FocusTeamConfig {
            id: "plants".into(),
            name: "Plants".into(),
            handlers: vec![],
            sla_answer_seconds: 25,
            sla_target_percent: 80,
            fcr_target_percent: 75,
            review_cadence: "daily".into(),
            pii_grants: vec![],
        });
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("focus_teams[0].review_cadence"), "{err}");
        assert!(err.contains("weekly, biweekly, monthly"), "{err}");
    }

    /// Each new accept and CRL limit is checked at start, and the error names the field and
    /// what is allowed, so a typo cannot switch off the flood protection or fail-closed CRLs.
    #[test]
    fn accept_and_crl_limits_name_the_field() {
        type Spoil = fn(&mut GatewayConfig);
        let cases: [(&str, Spoil, &str); 6] = [
            (
                "limits.first_byte_timeout_ms",
                |c| c.limits.first_byte_timeout_ms = 0,
                "at least 1",
            ),
            (
                "limits.first_byte_timeout_ms",
                |c| c.limits.first_byte_timeout_ms = c.limits.handshake_timeout_ms + 1,
                "allowed: 1 to 10000",
            ),
            (
                "limits.max_handshakes_per_peer",
                |c| c.limits.max_handshakes_per_peer = c.limits.max_pending_connections + 1,
                "allowed: 1 to 4096",
            ),
            (
                "limits.max_handshakes",
                |c| c.limits.max_handshakes = 0,
                "at least 1",
            ),
            (
                "tls.crl_expired",
                |c| c.tls.crl_expired = "ignore".into(),
                "known: refuse, warn",
            ),
            (
                "tls.crl_warn_remaining_percent",
                |c| c.tls.crl_warn_remaining_percent = 101,
                "allowed: 0 to 100",
            ),
        ];
        valid().validate().unwrap();
        for (field, spoil, allowed) in cases {
            let mut config = valid();
            spoil(&mut config);
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(&format!("`{field}`")), "{err}");
            assert!(err.contains(allowed), "{err}");
        }
    }
}
