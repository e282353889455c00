//! Group commit for local steps: a step is applied to sled under the local lock without a
//! flush and gets a [`Pending`] ticket; after the lock is released its caller waits for a flush
//! that began after the step was applied. The first waiter that finds no flush running flushes
//! for everyone applied so far (the leader); the others wait on a condition variable. sled's
//! `apply_batch` is atomic per step and a flush makes every batch applied before it durable, so
//! one flush acknowledges a whole group.
//!
//! Concurrent local writes of the API reach it as one group from the store's writer
//! (`super::writer`), whose steps are applied together as one batch (`super::stage`): each
//! reserves its place while staged ([`GroupFlush::reserve`]), and the places count as applied
//! only once that batch is; a leader flushes at once, with every step applied before it.
//!
//! A failed flush fails every step of its group: each waiter of the range the flush covered
//! gets the error, and none is acknowledged, even if a later flush succeeds before it wakes. A
//! flush that panics counts as failed. sled keeps the failed group's batch, though, and the
//! next flush that succeeds makes it durable (the outbox then pushes it): the error says so,
//! and tells the tool to read the write back before repeating it.
//!
//! What readers see: sled shows an applied batch to readers before it is flushed. Nothing is
//! acknowledged before its flush, and what leaves the site (the outbox push, webhook delivery)
//! is read only after [`GroupFlush::flush_applied`], so nothing a crash could take back is ever
//! published. A local read (`GET` of a ticket) may show a write whose flush is still running.

use std::collections::VecDeque;

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// A step applied but not yet known durable: its place in the apply order.
#[must_use = "a pending step is acknowledged only once `GroupFlush::wait` says it is durable"]
#[derive(Debug)]
pub(super) struct Pending(u64);

/// A flush that failed: the steps it covered (`after` < place <= `upto`), the error, and how
/// many of those steps have not yet been told.
#[derive(Debug)]
struct Failed {
    after: u64,
    upto: u64,
    error: String,
    untold: u64,
}

#[derive(Debug, Default)]
struct Progress {
    /// Steps applied so far (the last place handed out).
    applied: u64,
    /// Places reserved after `applied` for the steps of a group being staged
    /// ([`super::stage`]): not applied yet, so no flush covers them.
    reserved: u64,
    /// Every step at or below this place is durable.
    flushed: u64,
    /// A leader is flushing now.
    flushing: bool,
    /// Failed flushes whose waiters have not all been told.
    failed: VecDeque<Failed>,
    /// Flushes made (for the metrics and tests: a group shares one).
    flushes: u64,
    /// Flushes that failed so far, and how many of those a later successful flush (begun after
    /// them) has covered: while they differ, steps of a failed group sit in sled unflushed.
    failures: u64,
    cured: u64,
}

/// The group commit of one store (see the module documentation).
#[derive(Debug, Default)]
pub(super) struct GroupFlush {
    progress: Mutex<Progress>,
    done: Condvar,
}

impl GroupFlush {
    /// Notes a step just applied; call right after its `apply_batch`, under the local lock, so
    /// places follow the apply order.
    pub(super) fn applied(&self) -> Pending {
        let mut progress = self.progress.lock();
        debug_assert_eq!(progress.reserved, 0, "a step applied inside a staged group");
        progress.applied += 1;
        Pending(progress.applied)
    }

    /// Reserves the next place for a staged step (under the local lock, like
    /// [`GroupFlush::applied`]): it counts as applied only at [`GroupFlush::commit_reserved`],
    /// so a flush that begins before the group's batch is applied does not cover it.
    pub(super) fn reserve(&self) -> Pending {
        let mut progress = self.progress.lock();
        progress.reserved += 1;
        Pending(progress.applied + progress.reserved)
    }

    /// The staged group's batch is applied: its reserved places count as applied.
    pub(super) fn commit_reserved(&self) {
        let mut progress = self.progress.lock();
        progress.applied += progress.reserved;
        progress.reserved = 0;
    }

    /// The staged group was not applied: its places are given up (their steps are answered
    /// with the error and never waited for), and the next steps take them. Counted as a failed
    /// flush: sled may have applied part of a batch it refused, so a reader about to publish
    /// flushes first ([`GroupFlush::flush_applied`]), and fails if the store cannot.
    pub(super) fn give_up_reserved(&self) {
        let mut progress = self.progress.lock();
        progress.reserved = 0;
        progress.failures += 1;
    }

    /// Waits until `pending` is durable, flushing with `flush` when no flush is running (one
    /// flush for every step applied before it began). Fails with the flush's error when the
    /// flush that covered `pending` failed.
    pub(super) fn wait(&self, pending: Pending, flush: impl Fn() -> Result<()>) -> Result<()> {
        let place = pending.0;
        let mut progress = self.progress.lock();
        loop {
            if let Some(at) = progress
                .failed
                .iter()
                .position(|f| f.after < place && place <= f.upto)
            {
                let failed = &mut progress.failed[at];
                failed.untold -= 1;
                let error = failed.error.clone();
                if failed.untold == 0 {
                    progress.failed.remove(at);
                }
                return Err(Error::Storage(format!(
                    "the flush that held this write failed, so it was not acknowledged; the \
                     site may still hold it and send it on once a later flush succeeds, so read \
                     it back (a new ticket by its customer_ref) before writing it again: {error}"
                )));
            }
            if progress.flushed >= place {
                return Ok(());
            }
            if progress.flushing {
                self.done.wait(&mut progress);
                continue;
            }
            progress.flushing = true;
            let (after, upto, failures) = (progress.flushed, progress.applied, progress.failures);
            // A flush that panics fails its group like one that errs: `flushing` must not stay
            // set, or every later waiter would wait for ever.
            let outcome = parking_lot::MutexGuard::unlocked(&mut progress, || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(&flush))
                    .unwrap_or_else(|_| Err(Error::Storage("the store's flush panicked".into())))
            });
            progress.flushing = false;
            progress.flushes += 1;
            // Everything applied up to `upto` and not flushed before is this group; when it
            // failed, its waiters are told by `failed`, and later steps need not cover it.
            progress.flushed = upto;
            match outcome {
                Ok(()) => progress.cured = progress.cured.max(failures),
                Err(e) => {
                    progress.failures += 1;
                    progress.failed.push_back(Failed {
                        after,
                        upto,
                        error: e.to_string(),
                        untold: upto - after,
                    });
                }
            }
            self.done.notify_all();
        }
    }

    /// Makes every step applied so far durable before a reader sends it anywhere: flushes when
    /// any applied step is not yet known durable (waiters of a failed group still get their
    /// error; this reader then flushes again, so what it reads is durable).
    pub(super) fn flush_applied(&self, flush: impl Fn() -> Result<()>) -> Result<()> {
        let (target, failures) = {
            let progress = self.progress.lock();
            if progress.flushed >= progress.applied && progress.cured == progress.failures {
                return Ok(());
            }
            (progress.applied, progress.failures)
        };
        flush()?;
        let mut progress = self.progress.lock();
        progress.flushes += 1;
        progress.cured = progress.cured.max(failures);
        if progress.flushed < target && !progress.flushing {
            progress.flushed = target;
            self.done.notify_all();
        }
        Ok(())
    }

    /// Flushes made so far.
    pub(super) fn flushes(&self) -> u64 {
        self.progress.lock().flushes
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// Waits for `pending` on one thread each, flushing with `outcome`; the results and how
    /// many flushes ran.
    fn wait_all(
        group: &Arc<GroupFlush>,
        pending: Vec<Pending>,
        outcome: fn() -> Result<()>,
    ) -> (Vec<Result<()>>, u64) {
        let flushes = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = pending
            .into_iter()
            .map(|pending| {
                let (group, flushes) = (group.clone(), flushes.clone());
                std::thread::spawn(move || {
                    group.wait(pending, || {
                        flushes.fetch_add(1, Ordering::SeqCst);
                        outcome()
                    })
                })
            })
            .collect();
        let results = threads
            .into_iter()
            .map(|t| t.join().expect("waiter panicked"))
            .collect();
        (results, flushes.load(Ordering::SeqCst))
    }

    /// Eight writes applied before any flush share one: a burst costs one flush, not eight.
    #[test]
    fn one_flush_acknowledges_every_write_applied_before_it() {
        let group = Arc::new(GroupFlush::default());
        let pending = (0..8).map(|_| group.applied()).collect();
        let (results, flushes) = wait_all(&group, pending, || Ok(()));
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(flushes, 1);
        assert_eq!(group.flushes(), 1);
    }

    /// A flush that fails fails every write of its group and acknowledges none of them (a
    /// tool is never told "stored" for a write the disk refused); the next write flushes again.
    #[test]
    fn a_failed_flush_acknowledges_none_of_its_group() {
        let group = Arc::new(GroupFlush::default());
        let pending = (0..8).map(|_| group.applied()).collect();
        let (results, flushes) = wait_all(&group, pending, || {
            Err(Error::Storage("injected: the disk is gone".into()))
        });
        assert_eq!(flushes, 1, "the group shared its one failed flush");
        for result in &results {
            let error = result
                .as_ref()
                .expect_err("a write of the failed group was acknowledged");
            assert!(
                error.to_string().contains("injected: the disk is gone"),
                "{error}"
            );
        }
        assert!(
            group.progress.lock().failed.is_empty(),
            "every waiter was told"
        );
        // A later write succeeds once the flush does.
        let (results, flushes) = wait_all(&group, vec![group.applied()], || Ok(()));
        assert!(results[0].is_ok());
        assert_eq!(flushes, 1);
    }

    /// A flush that panics fails its group like one that errs, and does not leave the group
    /// commit believing a flush still runs: the next write flushes and is acknowledged.
    #[test]
    fn a_panicking_flush_fails_its_group_and_the_next_write_flushes() {
        let group = Arc::new(GroupFlush::default());
        let failed = group.wait(group.applied(), || panic!("injected: the flush panicked"));
        let error = failed.expect_err("a write was acknowledged after its flush panicked");
        assert!(error.to_string().contains("panicked"), "{error}");
        // On a thread of its own, so a wait that never ends fails the test instead of hanging.
        let (next, waiter) = (group.applied(), group.clone());
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::spawn(move || tell.send(waiter.wait(next, || Ok(()))));
        told.recv_timeout(Duration::from_secs(30))
            .expect("the next write waited for a flush that had panicked")
            .expect("the next write was flushed");
        assert_eq!(group.flushes(), 2);
    }

    /// A staged group's places are not applied until its batch is: a flush that runs
    /// meanwhile (a reader about to publish) covers only what was applied before, and a staged
    /// step waits for a flush of its own once its group is committed.
    #[test]
    fn a_flush_before_a_staged_group_is_applied_does_not_cover_it() {
        let group = GroupFlush::default();
        let before = group.applied();
        let staged: Vec<Pending> = (0..3).map(|_| group.reserve()).collect();
        let flushed = Cell::new(0);
        let count = || {
            flushed.set(flushed.get() + 1);
            Ok(())
        };
        group.flush_applied(count).expect("flush");
        assert_eq!(
            group.progress.lock().flushed,
            1,
            "the flush covered a staged step"
        );
        group
            .wait(before, count)
            .expect("the step before was durable");
        assert_eq!(
            flushed.get(),
            1,
            "the step before the group needed a flush of its own"
        );
        group.commit_reserved();
        for pending in staged {
            group
                .wait(pending, count)
                .expect("the staged step is flushed");
        }
        assert_eq!(flushed.get(), 2, "the committed group shared one flush");
        // Places given up are taken by the next steps.
        let given_up = group.reserve();
        assert_eq!(given_up.0, 5);
        group.give_up_reserved();
        // A refused batch may have left part of itself in sled: a reader flushes first.
        group.flush_applied(count).expect("flush");
        assert_eq!(
            flushed.get(),
            3,
            "a reader published after a refused batch unflushed"
        );
        assert_eq!(group.applied().0, 5);
    }

    /// After a failed flush, a reader about to publish (outbox, webhooks) flushes again, since
    /// the failed group's writes still sit unflushed in the store; then it need not flush.
    #[test]
    fn a_reader_flushes_again_after_a_failed_flush() {
        let group = GroupFlush::default();
        let pending = group.applied();
        let failed = group.wait(pending, || Err(Error::Storage("injected".into())));
        assert!(failed.is_err());
        let flushed = Cell::new(0);
        let count = || {
            flushed.set(flushed.get() + 1);
            Ok(())
        };
        group.flush_applied(count).expect("flush");
        assert_eq!(flushed.get(), 1);
        group.flush_applied(count).expect("flush");
        assert_eq!(
            flushed.get(),
            1,
            "nothing new was applied, nothing to flush"
        );
    }
}
