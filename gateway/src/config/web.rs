//! The `[web]` table: the customer's status page on its own listener (never the mTLS port),
//! plain HTTP behind a proxy or server-only TLS, with its rate limits.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The customer's status page.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Address of the web listener; empty turns the status page off.
    pub listen: String,
    /// Server certificate chain (PEM) for HTTPS; unset serves plain HTTP (behind a proxy).
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The page's address as customers reach it (printed in links and logs); empty when the
    /// listener's own address is the public one.
    pub public_url: String,
    /// A request header that carries the customer's address when a proxy sits in front (its
    /// last entry counts, e.g. `X-Forwarded-For`); empty uses the peer address.
    pub client_address_header: String,
    /// Look-ups and replies one client address may make per minute.
    pub attempts_per_client_per_minute: u32,
    /// Wrong codes one ticket number may take per 15 minutes before every attempt on it is
    /// refused (existing or not) until the window ends.
    pub failures_per_ticket_per_15_minutes: u32,
    /// Most client addresses and ticket numbers the rate limits track at once; when full,
    /// new ones are refused until old windows end.
    pub max_tracked: usize,
    /// Largest customer reply, in bytes.
    pub max_reply_bytes: usize,
    /// Every look-up (right code, wrong code, missing ticket) is answered no sooner than this
    /// many milliseconds after it arrived, so its timing does not tell whether a ticket
    /// exists (the work behind the answer differs by a store read and a decode).
    pub answer_floor_ms: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen: String::new(),
            tls_cert: None,
            tls_key: None,
            public_url: String::new(),
            client_address_header: String::new(),
            attempts_per_client_per_minute: 20,
            failures_per_ticket_per_15_minutes: 10,
            max_tracked: 10_000,
            max_reply_bytes: 4096,
            answer_floor_ms: 50,
        }
    }
}

impl WebConfig {
    /// The listen address, or `None` when the status page is off.
    pub fn listen_addr(&self) -> Result<Option<SocketAddr>> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(hotline_runtime::config::listen_addr(
            "web.listen",
            &self.listen,
            "0.0.0.0:8080",
        )?))
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, problem: String| {
            Err(Error::Config {
                field: format!("web.{field}"),
                problem,
            })
        };
        self.listen_addr()?;
        if self.answer_floor_ms > 5_000 {
            return bad(
                "answer_floor_ms",
                format!("{} is too long; allowed: 0 to 5000", self.answer_floor_ms),
            );
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return bad("tls_key", "must be set when tls_cert is".into()),
            (None, Some(_)) => return bad("tls_cert", "must be set when tls_key is".into()),
            (Some(cert), Some(key)) => {
                for (field, path) in [("tls_cert", cert), ("tls_key", key)] {
                    if path.as_os_str().is_empty() {
                        return bad(field, "must name a PEM file".into());
                    }
                }
            }
            (None, None) => {}
        }
        let url = self.public_url.trim();
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            return bad(
                "public_url",
                format!("{url:?} must start with https:// or http://"),
            );
        }
        let header_ok = self
            .client_address_header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !header_ok {
            return bad(
                "client_address_header",
                format!(
                    "{:?} is not a header name; allowed: letters, digits and '-'",
                    self.client_address_header
                ),
            );
        }
        for (field, value) in [
            (
                "attempts_per_client_per_minute",
                self.attempts_per_client_per_minute,
            ),
            (
                "failures_per_ticket_per_15_minutes",
                self.failures_per_ticket_per_15_minutes,
            ),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.max_tracked < 16 {
            return bad(
                "max_tracked",
                format!("{} is too small; allowed: at least 16", self.max_tracked),
            );
        }
        let most = hotline_federation::change::MAX_COMMENT_BODY;
        if !(1..=most).contains(&self.max_reply_bytes) {
            return bad(
                "max_reply_bytes",
                format!(
                    "{} is out of range; allowed: 1 to {most} (the longest comment)",
                    self.max_reply_bytes
                ),
            );
        }
        Ok(())
    }
}
