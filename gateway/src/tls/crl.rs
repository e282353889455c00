//! How current the gateway's CRL is, and what happens when it is not (review hole 16).
//!
//! A CRL is current until its `nextUpdate`; after that it may be missing revocations. By
//! default the gateway fails closed: rustls' `ExpirationPolicy::Enforce` refuses every client
//! certificate while the CRL is expired ([`CrlExpired::Refuse`], config
//! `tls.crl_expired = "refuse"`). [`CrlExpired::Warn`] accepts them and warns instead. Either
//! way the reloader warns well before expiry, once less than
//! [`CrlPolicy::warn_remaining_percent`] of the CRL's validity is left, and repeats every
//! [`CrlPolicy::warn_interval`]; each warning names the fix, `hotline pki crl`, which the
//! gateway picks up without a restart.

use std::path::Path;
use std::time::Duration;

use rustls_pki_types::CertificateRevocationListDer;
use tokio::time::Instant;
use x509_parser::time::ASN1Time;

/// What to do with client certificates while the CRL is past its `nextUpdate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlExpired {
    /// Refuse every client certificate (fail closed); the default.
    Refuse,
    /// Accept them, as if the CRL were current, and log a warning periodically.
    Warn,
}

impl CrlExpired {
    /// The config spellings, for error messages.
    pub const KNOWN: &'static str = "refuse, warn";

    /// Parses the config value `refuse` or `warn`.
    pub fn parse(text: &str) -> Option<CrlExpired> {
        match text {
            "refuse" => Some(CrlExpired::Refuse),
            "warn" => Some(CrlExpired::Warn),
            _ => None,
        }
    }
}

/// How the gateway treats an expiring or expired CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlPolicy {
    /// Refuse or accept clients while the CRL is expired.
    pub expired: CrlExpired,
    /// Warn once less than this share (percent) of the CRL's validity (`nextUpdate` minus
    /// `thisUpdate`) is left; 0 warns only once it has expired.
    pub warn_remaining_percent: u8,
    /// How often a warning is repeated while it holds.
    pub warn_interval: Duration,
}

impl Default for CrlPolicy {
    /// Fail closed; warn with 30% of the validity left (about two days of a week-long CRL),
    /// hourly.
    fn default() -> Self {
        CrlPolicy {
            expired: CrlExpired::Refuse,
            warn_remaining_percent: 30,
            warn_interval: Duration::from_secs(3600),
        }
    }
}

/// When the CRL that expires first of those in the CRL file was issued and when it expires, in
/// seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrlWindow {
    /// Its `thisUpdate`.
    pub this_update: i64,
    /// Its `nextUpdate`.
    pub next_update: i64,
}

/// How current the CRL is at some moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlHealth {
    /// More than the warning share of its validity is left.
    Current,
    /// Current, but less than the warning share of its validity is left.
    ExpiresSoon {
        /// Its `nextUpdate`, in seconds since the Unix epoch.
        next_update: i64,
        /// Seconds until then.
        left_s: i64,
    },
    /// Past its `nextUpdate`.
    Expired {
        /// Its `nextUpdate`, in seconds since the Unix epoch.
        next_update: i64,
        /// Seconds since then.
        ago_s: i64,
    },
}

impl CrlWindow {
    /// The window of the CRL in `crls` that expires first; an error says which one is
    /// unreadable or lacks a `nextUpdate`.
    pub(crate) fn of(crls: &[CertificateRevocationListDer<'_>]) -> Result<CrlWindow, String> {
        let mut first: Option<CrlWindow> = None;
        for (i, der) in crls.iter().enumerate() {
            let (_, crl) = x509_parser::parse_x509_crl(der.as_ref())
                .map_err(|e| format!("CRL {} of the file is not readable: {e}", i + 1))?;
            let next_update = crl
                .next_update()
                .ok_or_else(|| format!("CRL {} of the file has no nextUpdate", i + 1))?;
            let window = CrlWindow {
                this_update: crl.last_update().timestamp(),
                next_update: next_update.timestamp(),
            };
            if first.is_none_or(|f| window.next_update < f.next_update) {
                first = Some(window);
            }
        }
        first.ok_or_else(|| "holds no CRL".to_owned())
    }

    /// How current the CRL is at `now` (seconds since the Unix epoch).
    pub fn health(&self, now: i64, warn_remaining_percent: u8) -> CrlHealth {
        let left_s = self.next_update.saturating_sub(now);
        if left_s <= 0 {
            return CrlHealth::Expired {
                next_update: self.next_update,
                ago_s: -left_s,
            };
        }
        let validity = i128::from(self.next_update.saturating_sub(self.this_update).max(0));
        if i128::from(left_s) * 100 < validity * i128::from(warn_remaining_percent) {
            CrlHealth::ExpiresSoon {
                next_update: self.next_update,
                left_s,
            }
        } else {
            CrlHealth::Current
        }
    }
}

/// When to repeat a CRL warning: at once when the health changes, then every interval.
#[derive(Debug, Default)]
pub(crate) struct CrlWarnings {
    last: Option<(std::mem::Discriminant<CrlHealth>, Instant)>,
}

impl CrlWarnings {
    /// Whether `health` is to be logged at `now`; `Current` never is, and resets.
    pub(crate) fn due(&mut self, health: CrlHealth, now: Instant, interval: Duration) -> bool {
        if health == CrlHealth::Current {
            self.last = None;
            return false;
        }
        let kind = std::mem::discriminant(&health);
        let due = match self.last {
            Some((last_kind, at)) => last_kind != kind || now.duration_since(at) >= interval,
            None => true,
        };
        if due {
            self.last = Some((kind, now));
        }
        due
    }
}

/// Logs `health` of the CRL at `path`: `warn` while it expires soon or is expired but
/// accepted, `error` while it is expired and refuses every client.
pub(crate) fn log(health: CrlHealth, path: &Path, expired: CrlExpired) {
    let crl = path.display();
    match (health, expired) {
        (CrlHealth::Current, _) => {}
        (
            CrlHealth::ExpiresSoon {
                next_update,
                left_s,
            },
            _,
        ) => tracing::warn!(
            %crl,
            next_update = %utc(next_update),
            hours_left = left_s / 3600,
            "the CRL expires soon; renew it with `hotline pki crl` (the gateway reloads it \
             without a restart), or clients will be {} once it expires",
            match expired {
                CrlExpired::Refuse => "refused (tls.crl_expired = \"refuse\")",
                CrlExpired::Warn => "accepted against an outdated CRL (tls.crl_expired = \"warn\")",
            }
        ),
        (CrlHealth::Expired { next_update, ago_s }, CrlExpired::Refuse) => tracing::error!(
            %crl,
            next_update = %utc(next_update),
            hours_ago = ago_s / 3600,
            "the CRL has expired, so every client certificate is refused \
             (tls.crl_expired = \"refuse\"); renew it with `hotline pki crl` (the gateway \
             reloads it without a restart)"
        ),
        (CrlHealth::Expired { next_update, ago_s }, CrlExpired::Warn) => tracing::warn!(
            %crl,
            next_update = %utc(next_update),
            hours_ago = ago_s / 3600,
            "the CRL has expired; clients are still accepted because tls.crl_expired = \
             \"warn\", but revocations made since are not known here; renew it with \
             `hotline pki crl`"
        ),
    }
}

/// Seconds since the Unix epoch as an RFC 2822 date in UTC.
fn utc(seconds: i64) -> String {
    match ASN1Time::from_timestamp(seconds) {
        Ok(time) => time.to_rfc2822().unwrap_or_else(|_| time.to_string()),
        Err(_) => format!("{seconds} s after the Unix epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    /// A week-long CRL is current for its first 70%, then expires soon, then has expired, so the
    /// operator hears of it about two days ahead.
    #[test]
    fn health_follows_the_window() {
        let window = CrlWindow {
            this_update: 0,
            next_update: 7 * DAY,
        };
        assert_eq!(window.health(4 * DAY, 30), CrlHealth::Current);
        assert_eq!(
            window.health(5 * DAY, 30),
            CrlHealth::ExpiresSoon {
                next_update: 7 * DAY,
                left_s: 2 * DAY
            }
        );
        assert_eq!(
            window.health(7 * DAY, 30),
            CrlHealth::Expired {
                next_update: 7 * DAY,
                ago_s: 0
            }
        );
        assert_eq!(window.health(6 * DAY, 0), CrlHealth::Current);
    }

    /// A warning repeats only after the interval, but at once when the CRL goes from expiring
    /// to expired, and again after a renewal lapses anew.
    #[test]
    fn warnings_repeat_per_interval_and_on_change() {
        let hour = Duration::from_secs(3600);
        let start = Instant::now();
        let soon = CrlHealth::ExpiresSoon {
            next_update: 10,
            left_s: 5,
        };
        let expired = CrlHealth::Expired {
            next_update: 10,
            ago_s: 1,
        };
        let mut warnings = CrlWarnings::default();
        assert!(warnings.due(soon, start, hour));
        assert!(!warnings.due(soon, start + hour / 2, hour));
        assert!(warnings.due(soon, start + hour, hour));
        assert!(warnings.due(expired, start + hour, hour));
        assert!(!warnings.due(CrlHealth::Current, start + hour, hour));
        assert!(warnings.due(soon, start + hour, hour));
    }

    /// Only the two documented spellings are accepted.
    #[test]
    fn crl_expired_parses_known_values() {
        assert_eq!(CrlExpired::parse("refuse"), Some(CrlExpired::Refuse));
        assert_eq!(CrlExpired::parse("warn"), Some(CrlExpired::Warn));
        assert_eq!(CrlExpired::parse("ignore"), None);
    }
}
