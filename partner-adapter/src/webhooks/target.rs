//! The webhook targets of the configuration and their checks.

use hyper::Uri;
use serde::Deserialize;

use crate::error::{Error, Result};

const MIN_SECRET_LEN: usize = 16;
const MAX_ATTEMPTS_LIMIT: u32 = 100;

/// A partner tool that receives a webhook for every change to a ticket the site can see.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    /// Names the target in logs and dead letters.
    pub name: String,
    /// Where to POST: `http://host:port/path` on the site's LAN.
    pub url: String,
    /// The shared secret the body is signed with; at least 16 bytes.
    pub secret: String,
    /// Failed attempts after which an event becomes a dead letter: 1 to 100, default 8.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_max_attempts() -> u32 {
    8
}

impl WebhookTarget {
    /// Checks the target; `field` is its dotted config path (e.g. `webhooks[0]`), which errors
    /// extend with the offending field (`webhooks[0].url`).
    pub fn validate(&self, field: &str) -> Result<()> {
        let config = |name: &str, problem: String| Error::Config {
            field: format!("{field}.{name}"),
            problem,
        };
        if self.name.trim().is_empty() {
            return Err(config(
                "name",
                "is empty; it names the target in logs and dead letters".to_owned(),
            ));
        }
        check_url(&self.url).map_err(|problem| config("url", problem))?;
        if self.secret.len() < MIN_SECRET_LEN {
            return Err(config(
                "secret",
                format!(
                    "is {} bytes long; at least {MIN_SECRET_LEN} bytes are required",
                    self.secret.len()
                ),
            ));
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            return Err(config(
                "max_attempts",
                format!(
                    "is {}; allowed: 1 to {MAX_ATTEMPTS_LIMIT}",
                    self.max_attempts
                ),
            ));
        }
        Ok(())
    }
}

/// Accepts exactly `http://host:port/path`; the problem otherwise.
fn check_url(url: &str) -> std::result::Result<(), String> {
    const FORM: &str = "expected http://host:port/path";
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL ({e}); {FORM}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{url}` uses https, which is not supported yet: partner tools run on the site's \
                 LAN, so use plain http ({FORM})"
            ));
        }
        Some(other) => return Err(format!("scheme `{other}` is not supported; {FORM}")),
        None => return Err(format!("`{url}` has no scheme; {FORM}")),
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("`{url}` has no host; {FORM}"));
    };
    if authority.as_str().contains('@') {
        // Not echoed: the URL holds credentials.
        return Err(format!(
            "credentials in the URL are not supported (requests are signed instead); {FORM}"
        ));
    }
    if authority.host().is_empty() {
        return Err(format!("`{url}` has no host; {FORM}"));
    }
    match authority.port_u16() {
        None => Err(format!("`{url}` has no port; {FORM}")),
        Some(0) => Err(format!("`{url}` has port 0; {FORM}")),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only plain `http://host:port/path` URLs pass.
    #[test]
    fn url_forms() {
        assert!(check_url("http://10.0.0.5:8080/hooks/hotline").is_ok());
        assert!(check_url("http://tool.lan:80").is_ok());
        for bad in [
            "https://tool.lan:443/h",
            "ftp://tool.lan:21/h",
            "http://tool.lan/h",
            "http://user:pw@tool.lan:80/h",
            "/h",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad} was accepted");
        }
    }
}
