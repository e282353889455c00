//! The adapter's configuration: defaults, then one TOML file, then `HOTLINE_...` overrides, then
//! validation that names the field. Tests build values directly.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use hotline_runtime::config::slug;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::mapping::MappingConfig;
use crate::webhooks::WebhookTarget;

/// The whole adapter configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdapterConfig {
    /// The federation (trust domain) of the certificates.
    pub federation: String,
    /// This site's tenant.
    pub tenant: String,
    /// This site.
    pub site: String,
    /// Directory of the local sled store.
    pub data_dir: PathBuf,
    /// How to reach the gateway.
    pub gateway: GatewayLink,
    /// Client TLS files.
    pub tls: ClientTls,
    /// The local HTTP API.
    pub api: ApiConfig,
    /// One bearer token per partner tool.
    pub tools: Vec<ToolToken>,
    /// Webhook targets.
    pub webhooks: Vec<WebhookTarget>,
    /// Vocabulary mapping.
    pub mapping: MappingConfig,
    /// Sync behaviour.
    pub sync: SyncConfig,
    /// Logging.
    pub log: LogConfig,
    /// The customer status page's address (the gateway's web listener), used for the
    /// `{status_url}` placeholder of the brand's templates; empty: templates that use it cannot
    /// be rendered here.
    pub status_page_url: String,
    /// The operations port (`/metrics`, `/healthz`, `/readyz`); `listen = ""` turns it off.
    pub ops: OpsConfig,
    /// Files attached to comments.
    pub files: FilesConfig,
}

/// Files attached to comments (`crate::files`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesConfig {
    /// Largest file the API takes, in bytes (1 to 256 MiB; keep it within the gateway's
    /// `limits.max_file_bytes`). Larger uploads get 413 and nothing is kept.
    pub max_bytes: u64,
    /// When the site fetches the files of comments it receives: `lazy` on first read through
    /// the API, `eager` as soon as the comment arrives.
    pub fetch: FetchMode,
}

/// When a site fetches received files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchMode {
    /// On first read.
    Lazy,
    /// As soon as a comment carrying the file arrives.
    Eager,
}

impl Default for FilesConfig {
    fn default() -> Self {
        FilesConfig {
            max_bytes: hotline_federation::attachment::DEFAULT_MAX_BYTES,
            fetch: FetchMode::Lazy,
        }
    }
}

pub use hotline_runtime::config::OpsConfig;

/// The operations port's default address.
pub const DEFAULT_OPS_LISTEN: &str = "127.0.0.1:9465";

/// The gateway's address.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayLink {
    /// `https://host:port`.
    pub url: String,
    /// Further gateways of the federation (replicas on one PostgreSQL database), each
    /// `https://host:port` with the same certificate name: when a session with the gateway in
    /// use ends or cannot start, the next one is tried, in turn.
    pub replicas: Vec<String>,
    /// The name the gateway's certificate carries.
    pub server_name: String,
}

impl GatewayLink {
    /// The gateways in the order they are tried: `url`, then `replicas`.
    pub fn urls(&self) -> Vec<&str> {
        std::iter::once(self.url.as_str())
            .chain(self.replicas.iter().map(String::as_str))
            .collect()
    }
}

/// Client certificate, key and the federation CA.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientTls {
    /// The federation CA.
    pub ca_cert: PathBuf,
    /// This site's certificate.
    pub cert: PathBuf,
    /// This site's key.
    pub key: PathBuf,
}

/// The local API.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on (keep it on the site's LAN).
    pub listen: String,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

/// A partner tool and its bearer token.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolToken {
    /// The tool, e.g. `crm`.
    pub name: String,
    /// Its token (at least 24 characters).
    pub token: String,
}

/// Sync behaviour.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncConfig {
    /// Changes per push.
    pub push_batch: usize,
    /// First reconnect delay, ms.
    pub backoff_min_ms: u64,
    /// Longest reconnect delay, ms.
    pub backoff_max_ms: u64,
    /// Ticket numbers asked for per lease.
    pub lease_size: u32,
    /// Lease again when fewer numbers than this are left.
    pub lease_low_water: u32,
    /// Largest lease asked for: a lease is twice the numbers used in the last minute, at least
    /// `lease_size` and at most this (keep it within the gateway's `limits.max_lease`).
    pub lease_max_size: u32,
    /// While connected, how long a ticket create that finds no leased number left waits for
    /// the refill before it is refused (409), ms; 0 refuses at once. Offline it never waits.
    pub number_wait_ms: u64,
    /// Webhook retry delays, ms.
    pub webhook_backoff_min_ms: u64,
    /// Longest webhook retry delay, ms.
    pub webhook_backoff_max_ms: u64,
    /// Largest gRPC message sent to or received from the gateway, in bytes: at least the
    /// gateway's `limits.max_message_bytes` (16 MiB by default on both ends), and never below
    /// `hotline_federation::limits::MIN_MESSAGE_BYTES`, what the largest entity or change needs.
    pub max_message_bytes: usize,
    /// How often the site reports its outbox depth, dead letters, cursor and clock to the
    /// gateway (the staff dashboard's sync health), ms.
    pub report_interval_ms: u64,
}

pub use hotline_runtime::config::LogConfig;

impl Default for AdapterConfig {
    fn default() -> Self {
        AdapterConfig {
            federation: "hotline".into(),
            tenant: String::new(),
            site: String::new(),
            data_dir: PathBuf::from("hotline-adapter-data"),
            gateway: GatewayLink::default(),
            tls: ClientTls::default(),
            api: ApiConfig::default(),
            tools: Vec::new(),
            webhooks: Vec::new(),
            mapping: MappingConfig::default(),
            sync: SyncConfig::default(),
            log: LogConfig::default(),
            status_page_url: String::new(),
            ops: OpsConfig::on(DEFAULT_OPS_LISTEN),
            files: FilesConfig::default(),
        }
    }
}

impl Default for GatewayLink {
    fn default() -> Self {
        GatewayLink {
            url: "https://127.0.0.1:7443".into(),
            replicas: Vec::new(),
            server_name: "localhost".into(),
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 256 * 1024,
        }
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            push_batch: 256,
            backoff_min_ms: 200,
            backoff_max_ms: 30_000,
            lease_size: 500,
            lease_low_water: 100,
            lease_max_size: 10_000,
            number_wait_ms: 2_000,
            webhook_backoff_min_ms: 500,
            webhook_backoff_max_ms: 60_000,
            max_message_bytes: 16 * 1024 * 1024,
            report_interval_ms: 5_000,
        }
    }
}

/// The environment variables that override config fields.
pub const ENV_OVERRIDES: &[&str] = &[
    "HOTLINE_FEDERATION",
    "HOTLINE_TENANT",
    "HOTLINE_SITE",
    "HOTLINE_DATA_DIR",
    "HOTLINE_GATEWAY_URL",
    "HOTLINE_GATEWAY_SERVER_NAME",
    "HOTLINE_API_LISTEN",
    "HOTLINE_TLS_CA_CERT",
    "HOTLINE_TLS_CERT",
    "HOTLINE_TLS_KEY",
    "HOTLINE_LOG_FORMAT",
    "HOTLINE_LOG_LEVEL",
    "HOTLINE_OPS_LISTEN",
];

impl AdapterConfig {
    /// Defaults, then the file, then `env`, then validation.
    pub fn load(path: Option<&Path>, env: &[(String, String)]) -> Result<Self> {
        let mut config = match path {
            Some(path) => hotline_runtime::config::read_toml(path)?,
            None => AdapterConfig::default(),
        };
        for (name, value) in env {
            let value = value.clone();
            match name.as_str() {
                "HOTLINE_FEDERATION" => config.federation = value,
                "HOTLINE_TENANT" => config.tenant = value,
                "HOTLINE_SITE" => config.site = value,
                "HOTLINE_DATA_DIR" => config.data_dir = value.into(),
                "HOTLINE_GATEWAY_URL" => config.gateway.url = value,
                "HOTLINE_GATEWAY_SERVER_NAME" => config.gateway.server_name = value,
                "HOTLINE_API_LISTEN" => config.api.listen = value,
                "HOTLINE_STATUS_PAGE_URL" => config.status_page_url = value,
                "HOTLINE_TLS_CA_CERT" => config.tls.ca_cert = value.into(),
                "HOTLINE_TLS_CERT" => config.tls.cert = value.into(),
                "HOTLINE_TLS_KEY" => config.tls.key = value.into(),
                "HOTLINE_LOG_FORMAT" => config.log.format = value,
                "HOTLINE_LOG_LEVEL" => config.log.level = value,
                "HOTLINE_OPS_LISTEN" => config.ops.listen = value,
                _ => {}
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// The API listen address.
    pub fn api_addr(&self) -> Result<SocketAddr> {
        Ok(hotline_runtime::config::listen_addr(
            "api.listen",
            &self.api.listen,
            "127.0.0.1:8080",
        )?)
    }

    /// The operations port's address, or `None` when it is off.
    pub fn ops_addr(&self) -> Result<Option<SocketAddr>> {
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
        if !(1..=hotline_federation::attachment::MAX_FILE_BYTES).contains(&self.files.max_bytes) {
            return bad(
                "files.max_bytes",
                format!(
                    "{} is not allowed; allowed: 1 to {} (256 MiB)",
                    self.files.max_bytes,
                    hotline_federation::attachment::MAX_FILE_BYTES
                ),
            );
        }
        slug("tenant", &self.tenant)?;
        slug("site", &self.site)?;
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir", "must be set".into());
        }
        if !self.gateway.url.starts_with("https://") {
            return bad(
                "gateway.url",
                format!(
                    "{:?}: the gateway is reached over https://host:port",
                    self.gateway.url
                ),
            );
        }
        if self.gateway.replicas.len() > 16 {
            return bad(
                "gateway.replicas",
                format!("{} given; at most 16", self.gateway.replicas.len()),
            );
        }
        for (i, url) in self.gateway.replicas.iter().enumerate() {
            if !url.starts_with("https://") {
                return bad(
                    &format!("gateway.replicas[{i}]"),
                    format!("{url:?}: a gateway is reached over https://host:port"),
                );
            }
        }
        if self.gateway.server_name.is_empty() {
            return bad(
                "gateway.server_name",
                "must name the gateway certificate's DNS name".into(),
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
        self.api_addr()?;
        self.ops_addr()?;
        if self.api.max_body_bytes < 1024 {
            return bad("api.max_body_bytes", "must be at least 1024".into());
        }
        if self.tools.is_empty() {
            return bad(
                "tools",
                "at least one tool token is needed, or nobody can call the API".into(),
            );
        }
        for (i, tool) in self.tools.iter().enumerate() {
            slug(&format!("tools[{i}].name"), &tool.name)?;
            if tool.token.len() < 24 {
                return bad(
                    &format!("tools[{i}].token"),
                    "must be at least 24 characters".into(),
                );
            }
            if self.tools[..i].iter().any(|t| t.token == tool.token) {
                return bad(
                    &format!("tools[{i}].token"),
                    "is used by another tool; give each tool its own".into(),
                );
            }
        }
        for (i, target) in self.webhooks.iter().enumerate() {
            target.validate(&format!("webhooks[{i}]"))?;
        }
        crate::mapping::Mapping::new(&self.mapping)?;
        let s = &self.sync;
        if s.push_batch == 0 || s.push_batch > 512 {
            return bad(
                "sync.push_batch",
                format!("{}: allowed 1 to 512", s.push_batch),
            );
        }
        let least = hotline_federation::limits::MIN_MESSAGE_BYTES;
        if s.max_message_bytes < least {
            return bad(
                "sync.max_message_bytes",
                format!(
                    "{} is below {least}, what the largest entity or change needs in one \
                     message; allowed: {least} or more, and at least the gateway's \
                     limits.max_message_bytes",
                    s.max_message_bytes
                ),
            );
        }
        if s.backoff_min_ms == 0 || s.backoff_min_ms > s.backoff_max_ms {
            return bad(
                "sync.backoff_min_ms",
                "must be at least 1 and at most sync.backoff_max_ms".into(),
            );
        }
        if s.webhook_backoff_min_ms == 0 || s.webhook_backoff_min_ms > s.webhook_backoff_max_ms {
            return bad(
                "sync.webhook_backoff_min_ms",
                "must be at least 1 and at most sync.webhook_backoff_max_ms".into(),
            );
        }
        if s.lease_size == 0 || s.lease_size > 10_000 {
            return bad(
                "sync.lease_size",
                format!("{}: allowed 1 to 10000", s.lease_size),
            );
        }
        if s.lease_low_water >= s.lease_size {
            return bad(
                "sync.lease_low_water",
                "must be below sync.lease_size".into(),
            );
        }
        if s.lease_max_size < s.lease_size || s.lease_max_size > 10_000 {
            return bad(
                "sync.lease_max_size",
                format!(
                    "{}: allowed sync.lease_size ({}) to 10000",
                    s.lease_max_size, s.lease_size
                ),
            );
        }
        if s.number_wait_ms > 60_000 {
            return bad(
                "sync.number_wait_ms",
                format!("{}: allowed 0 to 60000 (one minute)", s.number_wait_ms),
            );
        }
        if !(100..=600_000).contains(&s.report_interval_ms) {
            return bad(
                "sync.report_interval_ms",
                format!(
                    "{}: allowed 100 to 600000 (ten minutes)",
                    s.report_interval_ms
                ),
            );
        }
        self.log.validate()?;
        Ok(())
    }
}
