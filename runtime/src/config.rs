//! What the services' config files share: reading a TOML file, the `[log]` table, and listen
//! addresses. Each service keeps its own config type and error; these return
//! [`ConfigProblem`], which each service turns into its own error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// What is wrong with a config: a file that cannot be read or parsed, or a field's value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigProblem {
    /// The file could not be read, or is not valid TOML for the config.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong (serde names the line and the field).
        problem: String,
    },
    /// A field has a value that is not allowed.
    #[error("config field `{field}`: {problem}")]
    Field {
        /// The field, dotted.
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

/// Reads and parses the TOML file at `path` (unknown fields are refused by the config types).
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T, ConfigProblem> {
    let file = |problem: String| ConfigProblem::File {
        path: path.into(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
    toml::from_str(&text).map_err(|e| file(e.to_string()))
}

/// The `[log]` table of every service.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// A `tracing` filter, e.g. `info` or `hotline_gateway=debug`; `RUST_LOG` wins when set.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl LogConfig {
    /// Checks the format.
    pub fn validate(&self) -> Result<(), ConfigProblem> {
        if matches!(self.format.as_str(), "text" | "json") {
            return Ok(());
        }
        Err(ConfigProblem::Field {
            field: "log.format".into(),
            problem: format!("{:?} is not known; known: text, json", self.format),
        })
    }
}

/// Checks that the id in `field` is a slug (the federation's rule for tenant, site and team ids).
pub fn slug(field: &str, value: &str) -> Result<(), ConfigProblem> {
    hotline_federation::ids::check_slug(field, value).map_err(|e| ConfigProblem::Field {
        field: field.into(),
        problem: e.to_string(),
    })
}

/// Parses the listen address in `field`; `example` shows the expected form.
pub fn listen_addr(field: &str, value: &str, example: &str) -> Result<SocketAddr, ConfigProblem> {
    value.parse().map_err(|e| ConfigProblem::Field {
        field: field.into(),
        problem: format!("{value:?} is not an address like {example}: {e}"),
    })
}

/// The `[ops]` table of every service: the plain HTTP operations port (`/metrics`, `/healthz`,
/// `/readyz`, see [`crate::ops`]). Each service has its own default address.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Address of the operations port; empty turns it off.
    pub listen: String,
}

impl OpsConfig {
    /// The operations port on `listen`.
    pub fn on(listen: &str) -> OpsConfig {
        OpsConfig {
            listen: listen.into(),
        }
    }

    /// The address to listen on, or `None` when the port is off; a bad address names the field
    /// `ops.listen` and shows `example`.
    pub fn listen_addr(&self, example: &str) -> Result<Option<SocketAddr>, ConfigProblem> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        listen_addr("ops.listen", self.listen.trim(), example).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad file names its path and the problem; a bad log format names the field and what is
    /// allowed; a bad address shows the expected form.
    #[test]
    fn problems_say_where_and_what_is_allowed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[log]\nformat = 3\n").expect("write");
        #[derive(Debug, Deserialize)]
        struct File {
            #[allow(dead_code)]
            log: LogConfig,
        }
        let problem = read_toml::<File>(&path).expect_err("a number is no format");
        let text = problem.to_string();
        assert!(
            text.contains("bad.toml") && text.contains("format"),
            "{text}"
        );
        let missing = read_toml::<File>(&dir.path().join("none.toml")).expect_err("no file");
        assert!(matches!(missing, ConfigProblem::File { .. }), "{missing:?}");

        let log = LogConfig {
            format: "xml".into(),
            ..LogConfig::default()
        };
        let problem = log.validate().expect_err("xml is not known").to_string();
        assert!(problem.contains("log.format") && problem.contains("text, json"));
        assert!(LogConfig::default().validate().is_ok());

        let bad = listen_addr("listen", "localhost", "127.0.0.1:7443").expect_err("no port");
        assert!(bad.to_string().contains("127.0.0.1:7443"), "{bad}");
        assert_eq!(
            listen_addr("listen", "127.0.0.1:80", "x").ok(),
            "127.0.0.1:80".parse().ok()
        );
    }

    /// `[ops] listen`: empty turns the port off, a bad address names `ops.listen` and the
    /// expected form, and a table without `listen` is refused rather than silently off.
    #[test]
    fn ops_listen_is_checked() {
        assert_eq!(
            OpsConfig::on("").listen_addr("127.0.0.1:9464").ok(),
            Some(None)
        );
        assert_eq!(
            OpsConfig::on("127.0.0.1:0").listen_addr("x").ok(),
            Some("127.0.0.1:0".parse().ok())
        );
        let bad = OpsConfig::on("metrics:9464")
            .listen_addr("127.0.0.1:9464")
            .expect_err("a host name is no address")
            .to_string();
        assert!(
            bad.contains("ops.listen")
                && bad.contains("metrics:9464")
                && bad.contains("127.0.0.1:9464"),
            "{bad}"
        );
        let empty: Result<OpsConfig, _> = toml::from_str("");
        assert!(empty.is_err(), "an [ops] table needs listen");
    }
}
