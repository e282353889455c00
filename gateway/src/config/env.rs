//! `HOTLINE_...` environment variables that override single config fields.

use super::GatewayConfig;
use crate::error::{Error, Result};

impl GatewayConfig {
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
                "postgres.url" => self.postgres.url = value.clone(),
                "log.format" => self.log.format = value.clone(),
                "log.level" => self.log.level = value.clone(),
                "tls.ca_cert" => self.tls.ca_cert = value.into(),
                "tls.cert" => self.tls.cert = value.into(),
                "tls.key" => self.tls.key = value.into(),
                "tls.crl" => self.tls.crl = Some(value.into()),
                "web.listen" => self.web.listen = value.clone(),
                "web.tls_cert" => self.web.tls_cert = Some(value.into()),
                "web.tls_key" => self.web.tls_key = Some(value.into()),
                "web.public_url" => self.web.public_url = value.clone(),
                "ops.listen" => self.ops.listen = value.clone(),
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
}

/// The environment variables that override config fields, and the field each sets.
pub const ENV_OVERRIDES: &[(&str, &str)] = &[
    ("HOTLINE_FEDERATION", "federation"),
    ("HOTLINE_LISTEN", "listen"),
    ("HOTLINE_DATA_DIR", "data_dir"),
    ("HOTLINE_STORAGE", "storage"),
    ("HOTLINE_POSTGRES_URL", "postgres.url"),
    ("HOTLINE_LOG_FORMAT", "log.format"),
    ("HOTLINE_LOG_LEVEL", "log.level"),
    ("HOTLINE_TLS_CA_CERT", "tls.ca_cert"),
    ("HOTLINE_TLS_CERT", "tls.cert"),
    ("HOTLINE_TLS_KEY", "tls.key"),
    ("HOTLINE_TLS_CRL", "tls.crl"),
    ("HOTLINE_WEB_LISTEN", "web.listen"),
    ("HOTLINE_WEB_TLS_CERT", "web.tls_cert"),
    ("HOTLINE_WEB_TLS_KEY", "web.tls_key"),
    ("HOTLINE_WEB_PUBLIC_URL", "web.public_url"),
    ("HOTLINE_OPS_LISTEN", "ops.listen"),
];
