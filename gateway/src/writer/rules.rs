//! Reading the store under the rules it was written by.
//!
//! A group becomes readable in the store when it is applied, and its visibility rules (and its
//! erasures) are published only once it is durable. A reader that paired a state of such a
//! group with the rules from before it could send a tenant what the group withdrew from it (a
//! subject written after the tenant lost the team, a customer erased in the same group). The
//! writer therefore marks the groups that change the rules or erase: [`RulesEpoch`] is odd
//! while one is being written, and moves on when its rules are published. A reader takes the
//! rules at an even epoch, reads, and keeps what it read only if the epoch is still the same
//! (a sequence lock); groups that change neither the rules nor erase never make readers wait.
//!
//! The same epoch tells a subscriber whether what it decided earlier still holds when it can
//! send it: a slow reader must not receive, after a policy change or an erasure, what was
//! decided before it.

use std::sync::Arc;
use std::time::Duration;

use hotline_federation::visibility::Directory;
use tokio::sync::watch;

use crate::error::{Error, Result};

/// How long a reader waits for a group that changes the rules to be published, or for the
/// store to be read again after such a group failed, before it answers `UNAVAILABLE`.
const WAIT: Duration = Duration::from_secs(5);

/// How often a read is tried before it answers `UNAVAILABLE` because the rules kept changing
/// while it ran (policy changes or registrations every few milliseconds, a long read).
pub const TRIES: u32 = 8;

/// See the module documentation.
#[derive(Debug)]
pub struct RulesEpoch {
    epoch: watch::Sender<u64>,
}

impl Default for RulesEpoch {
    fn default() -> Self {
        RulesEpoch {
            epoch: watch::channel(0).0,
        }
    }
}

impl RulesEpoch {
    /// The epoch now (odd: a group that changes the rules is being written).
    pub fn now(&self) -> u64 {
        *self.epoch.borrow()
    }

    /// True while `epoch` is the current one: nothing read since it was taken came from a group
    /// that changed the rules or erased.
    pub fn holds(&self, epoch: u64) -> bool {
        self.now() == epoch
    }

    /// The writer begins to write a group that changes the rules or erases: readers wait.
    pub(crate) fn begin_change(&self) {
        self.epoch.send_modify(|epoch| {
            if *epoch % 2 == 0 {
                *epoch += 1;
            }
        });
    }

    /// The group's rules are published (or the store was read again after it failed): readers
    /// go on.
    pub(crate) fn end_change(&self) {
        self.epoch.send_modify(|epoch| {
            if *epoch % 2 == 1 {
                *epoch += 1;
            }
        });
    }

    /// An even epoch, waiting while a group that changes the rules is being written.
    pub async fn stable(&self) -> Result<u64> {
        self.stable_within(WAIT).await
    }

    async fn stable_within(&self, wait: Duration) -> Result<u64> {
        let mut watching = self.epoch.subscribe();
        let waited = tokio::time::timeout(wait, watching.wait_for(|epoch| epoch % 2 == 0)).await;
        match waited {
            Ok(Ok(epoch)) => Ok(*epoch),
            Ok(Err(_)) => Err(Error::Unavailable("the gateway is shutting down".into())),
            Err(_) => Err(Error::Unavailable(format!(
                "the visibility rules are being changed and the store has not been read again \
                 within {} ms (a failed write?); try again",
                wait.as_millis()
            ))),
        }
    }

    /// `read`'s answer from the store with the rules it must be judged by, and their epoch:
    /// `read` is given the rules of an even epoch and called again until that epoch still holds
    /// after it, at most [`TRIES`] times.
    pub async fn read<T>(
        &self,
        rules: impl Fn() -> Arc<Directory>,
        mut read: impl FnMut(&Arc<Directory>) -> Result<T>,
    ) -> Result<(T, Arc<Directory>, u64)> {
        for _ in 0..TRIES {
            let epoch = self.stable().await?;
            let directory = rules();
            let answer = read(&directory)?;
            if self.holds(epoch) {
                return Ok((answer, directory, epoch));
            }
        }
        Err(Self::kept_changing())
    }

    /// The answer to a read the rules changed under each of its [`TRIES`].
    pub fn kept_changing() -> Error {
        Error::Unavailable(format!(
            "the visibility rules changed each of the {TRIES} times this read ran; try again"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_during_a_change_of_the_rules_is_read_again_after_it() {
        let epoch = Arc::new(RulesEpoch::default());
        let rules = || Arc::new(Directory::default());
        let calls = std::sync::atomic::AtomicU32::new(0);
        let writer = Arc::clone(&epoch);
        let (answer, _, at) = epoch
            .read(rules, |_| {
                let call = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if call == 0 {
                    // A group that changes the rules is written while this read runs, and
                    // published a moment later.
                    writer.begin_change();
                    let writer = Arc::clone(&writer);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        writer.end_change();
                    });
                }
                Ok(call)
            })
            .await
            .unwrap();
        assert_eq!(answer, 1, "the first read was thrown away and read again");
        assert_eq!(at, 2, "read at the epoch after the change");
        assert!(epoch.holds(at));
    }

    #[tokio::test]
    async fn readers_give_up_with_unavailable_when_the_rules_stay_in_change() {
        let epoch = RulesEpoch::default();
        epoch.begin_change();
        epoch.begin_change();
        assert_eq!(
            epoch.now(),
            1,
            "a second begin before the end keeps one change open"
        );
        let error = epoch
            .stable_within(Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Unavailable(m) if m.contains("try again")),
            "{error}"
        );
        epoch.end_change();
        assert_eq!(epoch.stable().await.unwrap(), 2);
    }

    /// A read longer than the gap between groups that change the rules (a catch-up chunk over
    /// hundreds of entities, a Fetch of many keys on PostgreSQL) against a steady stream of
    /// such groups: it answers, `UNAVAILABLE` after its tries, instead of retrying forever
    /// (found by an outside review).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_read_answers_under_a_steady_stream_of_rules_changes() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        let epoch = Arc::new(RulesEpoch::default());
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (epoch, stop) = (Arc::clone(&epoch), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    // A group that changes the rules, then the next a moment later.
                    epoch.begin_change();
                    std::thread::sleep(Duration::from_millis(2));
                    epoch.end_change();
                    std::thread::sleep(Duration::from_millis(8));
                }
            })
        };
        let rules = || Arc::new(Directory::default());
        let tries = AtomicU32::new(0);
        let read = epoch.read(rules, |_| {
            tries.fetch_add(1, Ordering::SeqCst);
            // Reading the store for 25 ms.
            std::thread::sleep(Duration::from_millis(25));
            Ok(())
        });
        let answered = tokio::time::timeout(Duration::from_secs(3), read).await;
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
        let tried = tries.load(Ordering::SeqCst);
        match answered {
            Ok(Ok(_)) => {}
            Ok(Err(Error::Unavailable(message))) => {
                assert_eq!(tried, TRIES, "{message}");
                assert!(message.contains("try again"), "{message}");
            }
            Ok(Err(other)) => panic!("{other}"),
            Err(_) => panic!("the read was tried {tried} times in 3 s and never answered"),
        }
    }
}
