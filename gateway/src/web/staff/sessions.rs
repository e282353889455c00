//! One-time sign-in links and the sessions they open, in memory only, each under the SHA-256
//! of its secret (a memory dump shows no usable token or session id). Both tables are
//! bounded: minting is refused while `max_links` unexpired links wait, and a new session
//! beyond `max_sessions` ends the one that was used least recently.

use std::collections::HashMap;

use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::config::DashboardConfig;
use crate::error::{Error, Result};
use crate::identity::StaffRole;

/// A secret's digest, the key it is kept under.
type Digest32 = [u8; 32];

/// A freshly minted sign-in link's secret.
#[derive(Clone, Debug)]
pub struct MintedLink {
    /// The token to put in the link (64 hex digits, 256 random bits); shown once.
    pub token: String,
    /// When it stops working, ms since the Unix epoch.
    pub expires_at_ms: u64,
}

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The staff member.
    pub staff: String,
    /// The role it signed in with.
    pub role: StaffRole,
    /// When it signed in, ms.
    pub started_ms: u64,
    /// When it last made a request, ms.
    pub last_ms: u64,
}

impl Session {
    /// The member as the audit trail names staff: `staff:<role>:<name>`.
    pub fn actor(&self) -> String {
        format!("staff:{}:{}", self.role, self.staff)
    }
}

/// An unused link.
#[derive(Clone, Debug)]
struct Link {
    staff: String,
    role: StaffRole,
    expires_at_ms: u64,
}

#[derive(Debug, Default)]
struct Tables {
    links: HashMap<Digest32, Link>,
    sessions: HashMap<Digest32, Session>,
}

/// The sign-in links and sessions of the staff dashboard.
#[derive(Debug)]
pub struct StaffSessions {
    config: DashboardConfig,
    tables: Mutex<Tables>,
}

/// 256 random bits as hex.
fn secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Unavailable(format!("no randomness for a dashboard secret: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

impl StaffSessions {
    /// Empty tables with the limits of `config`.
    pub fn new(config: &DashboardConfig) -> Self {
        StaffSessions {
            config: config.clone(),
            tables: Mutex::new(Tables::default()),
        }
    }

    fn idle_ms(&self) -> u64 {
        self.config.session_idle_secs.saturating_mul(1000)
    }

    fn max_ms(&self) -> u64 {
        self.config.session_max_secs.saturating_mul(1000)
    }

    /// Mints a one-time link for `staff` with `role`, valid `link_ttl_secs` from `now_ms`.
    pub fn mint(&self, staff: &str, role: StaffRole, now_ms: u64) -> Result<MintedLink> {
        let token = secret()?;
        let expires_at_ms = now_ms.saturating_add(self.config.link_ttl_secs.saturating_mul(1000));
        let mut tables = self.tables.lock();
        tables.links.retain(|_, link| link.expires_at_ms > now_ms);
        if tables.links.len() >= self.config.max_links {
            return Err(Error::ResourceExhausted(format!(
                "{} unused dashboard links are waiting, the limit (dashboard.max_links); \
                 use or let some expire (after {} s) before minting more",
                tables.links.len(),
                self.config.link_ttl_secs
            )));
        }
        tables.links.insert(
            digest(&token),
            Link {
                staff: staff.to_owned(),
                role,
                expires_at_ms,
            },
        );
        Ok(MintedLink {
            token,
            expires_at_ms,
        })
    }

    /// Uses the link of `token`: a new session and its id, or `None` when the token is
    /// unknown, used or expired (which the caller must not tell apart). The link is gone
    /// afterwards either way.
    pub fn redeem(&self, token: &str, now_ms: u64) -> Result<Option<(String, Session)>> {
        let id = secret()?;
        let mut tables = self.tables.lock();
        let Some(link) = tables.links.remove(&digest(token)) else {
            return Ok(None);
        };
        if link.expires_at_ms <= now_ms {
            return Ok(None);
        }
        let (idle, max) = (self.idle_ms(), self.max_ms());
        tables.sessions.retain(|_, s| live(s, now_ms, idle, max));
        if tables.sessions.len() >= self.config.max_sessions {
            let oldest = tables
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_ms)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                tables.sessions.remove(&oldest);
            }
        }
        let session = Session {
            staff: link.staff,
            role: link.role,
            started_ms: now_ms,
            last_ms: now_ms,
        };
        tables.sessions.insert(digest(&id), session.clone());
        Ok(Some((id, session)))
    }

    /// The live session of `id` (its idle time restarts), or `None` when there is none or it
    /// expired (then it is forgotten).
    pub fn session(&self, id: &str, now_ms: u64) -> Option<Session> {
        let key = digest(id);
        let (idle, max) = (self.idle_ms(), self.max_ms());
        let mut tables = self.tables.lock();
        let session = tables.sessions.get_mut(&key)?;
        if !live(session, now_ms, idle, max) {
            tables.sessions.remove(&key);
            return None;
        }
        session.last_ms = now_ms.max(session.last_ms);
        Some(session.clone())
    }

    /// Ends the session of `id`, if any.
    pub fn end(&self, id: &str) {
        self.tables.lock().sessions.remove(&digest(id));
    }

    /// How many unused links and sessions are kept (expired ones included until pruned).
    pub fn counts(&self) -> (usize, usize) {
        let tables = self.tables.lock();
        (tables.links.len(), tables.sessions.len())
    }
}

/// Whether `session` is still within its idle and total limits at `now_ms`.
fn live(session: &Session, now_ms: u64, idle_ms: u64, max_ms: u64) -> bool {
    now_ms < session.last_ms.saturating_add(idle_ms)
        && now_ms < session.started_ms.saturating_add(max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions() -> StaffSessions {
        StaffSessions::new(&DashboardConfig {
            link_ttl_secs: 10,
            session_idle_secs: 5,
            session_max_secs: 8,
            max_links: 2,
            max_sessions: 2,
        })
    }

    /// A link opens one session once; a second use, a wrong token and an expired link all
    /// answer the same `None`, so nobody learns which of them it was.
    #[test]
    fn link_works_once_and_not_after_expiry() {
        let desk = sessions();
        let link = desk.mint("alice", StaffRole::Admin, 1_000).unwrap();
        assert_eq!(link.token.len(), 64);
        let (id, session) = desk.redeem(&link.token, 2_000).unwrap().expect("first use");
        assert_eq!(session.staff, "alice");
        assert!(desk.redeem(&link.token, 2_001).unwrap().is_none());
        assert!(desk.redeem("00", 2_001).unwrap().is_none());
        let late = desk.mint("bob", StaffRole::Auditor, 1_000).unwrap();
        assert!(desk.redeem(&late.token, 11_000).unwrap().is_none());
        assert!(desk.session(&id, 2_500).is_some());
    }

    /// A session ends after its idle time, and after its total time even when busy.
    #[test]
    fn sessions_expire_idle_and_at_their_cap() {
        let desk = sessions();
        let link = desk.mint("alice", StaffRole::Admin, 0).unwrap();
        let (id, _) = desk.redeem(&link.token, 0).unwrap().unwrap();
        assert!(desk.session(&id, 4_000).is_some());
        assert!(desk.session(&id, 7_900).is_some(), "kept alive by use");
        assert!(desk.session(&id, 8_000).is_none(), "past session_max_secs");
        let link = desk.mint("bob", StaffRole::Admin, 0).unwrap();
        let (id, _) = desk.redeem(&link.token, 0).unwrap().unwrap();
        assert!(
            desk.session(&id, 5_000).is_none(),
            "idle for session_idle_secs"
        );
    }

    /// Neither table grows past its bound: minting stops at max_links, and a third session
    /// ends the least recently used one.
    #[test]
    fn tables_are_bounded() {
        let desk = sessions();
        let a = desk.mint("a", StaffRole::Admin, 0).unwrap();
        let b = desk.mint("b", StaffRole::Admin, 0).unwrap();
        assert!(matches!(
            desk.mint("c", StaffRole::Admin, 0),
            Err(Error::ResourceExhausted(_))
        ));
        let (first, _) = desk.redeem(&a.token, 1).unwrap().unwrap();
        let (_second, _) = desk.redeem(&b.token, 2).unwrap().unwrap();
        let c = desk.mint("c", StaffRole::Admin, 3).unwrap();
        let (_third, _) = desk.redeem(&c.token, 4).unwrap().unwrap();
        assert_eq!(desk.counts(), (0, 2));
        assert!(
            desk.session(&first, 5).is_none(),
            "least recently used ended"
        );
    }
}
