//! Who is writing a file's records right now. Uploads (`put_piece`, `finish`, `status`) run
//! outside the writer, and the writer's groups delete files (the sweep, an erasure's last
//! reference, a refused comment's upload); each holds the file's digest while it reads and
//! writes, a group until it is durable. So a group never deletes a file between an upload's
//! look and its write (a holder or piece record left without its file, or "stored" answered
//! for a file the group then deletes), and an upload never starts on a file a group is
//! deleting before the deletion is stored.
//!
//! The writer never waits for a claim (it leaves a file an upload holds; the sweep comes back
//! to it): a site's upload, however large, never holds up a group. Only the writer holds
//! several digests at once, and an upload holds one and waits for nothing else while it does,
//! so no two wait for each other. Within one gateway: replicas sharing a PostgreSQL store do
//! not see each other's claims (a finish checks each piece it copies against its first
//! pass for that reason: `upload::finish`).

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

/// The digests held now, by uploads or by a writer group.
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashSet<[u8; 32]>>,
    freed: Condvar,
}

impl Claims {
    /// No digest held.
    pub fn new() -> Arc<Claims> {
        Arc::new(Claims::default())
    }

    /// True while someone holds `digest`.
    pub fn is_held(&self, digest: &[u8; 32]) -> bool {
        self.held.lock().contains(digest)
    }
}

/// Digests held until this is dropped.
#[derive(Debug)]
pub struct Claim {
    claims: Arc<Claims>,
    digests: Vec<[u8; 32]>,
}

impl Claim {
    /// A claim holding nothing yet (a writer group's, before it deletes a file).
    pub fn none(claims: &Arc<Claims>) -> Claim {
        Claim {
            claims: Arc::clone(claims),
            digests: Vec::new(),
        }
    }

    /// Holds `digest`, waiting while another claim holds it; at once when this one does.
    pub fn wait_for(&mut self, digest: &[u8; 32]) {
        if self.digests.contains(digest) {
            return;
        }
        let mut held = self.claims.held.lock();
        while held.contains(digest) {
            self.claims.freed.wait(&mut held);
        }
        held.insert(*digest);
        self.digests.push(*digest);
    }

    /// Holds `digest` unless another claim holds it (false then, and nothing is held).
    pub fn try_take(&mut self, digest: &[u8; 32]) -> bool {
        if self.digests.contains(digest) {
            return true;
        }
        if !self.claims.held.lock().insert(*digest) {
            return false;
        }
        self.digests.push(*digest);
        true
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.digests.is_empty() {
            return;
        }
        let mut held = self.claims.held.lock();
        for digest in &self.digests {
            held.remove(digest);
        }
        drop(held);
        self.claims.freed.notify_all();
    }
}

/// Runs `upload` (a piece, a finish, a status answer) while holding the file `sha256`
/// names; a name that is no SHA-256 holds nothing (`upload` refuses it).
pub fn while_held<T>(claims: &Arc<Claims>, sha256: &str, upload: impl FnOnce() -> T) -> T {
    let mut claim = Claim::none(claims);
    if let Some(digest) = super::digest_of(sha256) {
        claim.wait_for(&digest);
    }
    upload()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A digest held by one claim: another's try fails and its wait lasts until the first is
    /// dropped; the same claim takes it again at once; other digests are free.
    #[test]
    fn a_digest_is_held_by_one_claim_at_a_time() {
        let claims = Claims::new();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let mut group = Claim::none(&claims);
        assert!(group.try_take(&a));
        assert!(group.try_take(&a), "the holder takes it again");
        group.wait_for(&a);
        let mut other = Claim::none(&claims);
        assert!(!other.try_take(&a));
        assert!(other.try_take(&b));
        drop(other);
        assert!(!claims.is_held(&b));

        let (tx, rx) = mpsc::channel();
        let waiting = {
            let claims = Arc::clone(&claims);
            std::thread::spawn(move || {
                while_held(&claims, &super::super::hex(&a), || tx.send(()).unwrap());
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "the upload ran while the group held its file"
        );
        drop(group);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the upload runs once the group let go");
        waiting.join().unwrap();
        assert!(!claims.is_held(&a), "the upload let go when it ended");
    }
}
