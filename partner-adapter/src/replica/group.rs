//! Group commit for local steps: a step is applied to sled under the local lock without a
//! flush and gets a [`Pending`] ticket; after the lock is released its caller waits for a flush
//! that began after the step was applied. The first waiter that finds no flush running flushes
//! for everyone applied so far (the leader); the others wait on a condition variable. sled's
//! `apply_batch` is atomic per step and a flush makes every batch applied before it durable, so
//! one flush acknowledges a whole group.
//!
//! A leader that knows of steps on their way when it is about to flush (begun with
//! [`GroupFlush::begin`], waiting for the local lock or holding it, not yet applied) waits for
//! those, not for later ones, at most [`GATHER_MAX`], so they share its flush instead of each
//! needing one (BENCHMARKS.md, "The adapter's creates, profiled"). With no step on its way a
//! lone step is flushed at once. A waiter that holds the local lock itself (a remote entry, a
//! refresh, a replay, a restore: [`GroupFlush::wait_holding_lock`]) never gathers, and while
//! one waits no leader gathers either: the steps on their way queue behind that lock.
//!
//! A failed flush fails every step of its group: each waiter of the range the flush covered
//! gets the error, and none is acknowledged, even if a later flush succeeds before it wakes. A
//! flush that panics counts as failed.
//!
//! What readers see: sled shows an applied batch to readers before it is flushed. Nothing is
//! acknowledged before its flush, and what leaves the site (the outbox push, webhook delivery)
//! is read only after [`GroupFlush::flush_applied`], so nothing a crash could take back is ever
//! published. A local read (`GET` of a ticket) may show a write whose flush is still running.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// The longest a leader waits for steps on their way before it flushes.
pub(super) const GATHER_MAX: Duration = Duration::from_micros(500);

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
    /// Steps begun ([`GroupFlush::begin`]) since the store opened, and those of them applied or
    /// given up since: the difference is on its way.
    begun: u64,
    arrived: u64,
    /// Waiters holding the local lock ([`GroupFlush::wait_holding_lock`]).
    holding_lock: u64,
    /// A leader is gathering: arrivals must tell it.
    gathering: bool,
    /// Steps applied so far (the last place handed out).
    applied: u64,
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
#[derive(Debug)]
pub(super) struct GroupFlush {
    progress: Mutex<Progress>,
    done: Condvar,
    /// Told a gathering leader when a step arrives or a waiter holds the local lock.
    arrived: Condvar,
    /// The longest a leader waits for steps on their way ([`GATHER_MAX`]; tests set more).
    gather: Duration,
}

impl Default for GroupFlush {
    fn default() -> Self {
        GroupFlush {
            progress: Mutex::default(),
            done: Condvar::new(),
            arrived: Condvar::new(),
            gather: GATHER_MAX,
        }
    }
}

/// A step on its way to being applied: a gathering leader waits for it. Dropped when the step
/// is applied or given up (an error, a refusal), so a leader waits only for steps that will
/// come, and never longer than [`GATHER_MAX`].
#[derive(Debug)]
pub(super) struct OnTheWay<'a>(&'a GroupFlush);

impl Drop for OnTheWay<'_> {
    fn drop(&mut self) {
        let mut progress = self.0.progress.lock();
        progress.arrived += 1;
        if progress.gathering {
            self.0.arrived.notify_all();
        }
    }
}

impl GroupFlush {
    /// Notes a step about to take the local lock and be applied: a leader about to flush waits
    /// for it (at most [`GATHER_MAX`]) so that both share the flush. Take it before the lock.
    pub(super) fn begin(&self) -> OnTheWay<'_> {
        self.progress.lock().begun += 1;
        OnTheWay(self)
    }

    /// Notes a step just applied; call right after its `apply_batch`, under the local lock, so
    /// places follow the apply order.
    pub(super) fn applied(&self) -> Pending {
        let mut progress = self.progress.lock();
        progress.applied += 1;
        Pending(progress.applied)
    }

    /// Waits until `pending` is durable, flushing with `flush` when no flush is running (one
    /// flush for every step applied before it began). Fails with the flush's error when the
    /// flush that covered `pending` failed.
    pub(super) fn wait(&self, pending: Pending, flush: impl Fn() -> Result<()>) -> Result<()> {
        self.wait_for(pending, flush, true)
    }

    /// [`GroupFlush::wait`] for a caller that holds the local lock: it does not gather (the steps
    /// on their way wait for its lock), and while it waits, no leader gathers either.
    pub(super) fn wait_holding_lock(
        &self,
        pending: Pending,
        flush: impl Fn() -> Result<()>,
    ) -> Result<()> {
        {
            let mut progress = self.progress.lock();
            progress.holding_lock += 1;
            if progress.gathering {
                self.arrived.notify_all();
            }
        }
        let outcome = self.wait_for(pending, flush, false);
        self.progress.lock().holding_lock -= 1;
        outcome
    }

    fn wait_for(
        &self,
        pending: Pending,
        flush: impl Fn() -> Result<()>,
        gather: bool,
    ) -> Result<()> {
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
                    "the flush that held this write failed, so it was not acknowledged: {error}"
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
            if gather {
                // Gather the steps on their way now (see the module documentation): until as
                // many steps have arrived as had begun, which a later step arriving first can
                // cut short (a shorter wait, never a longer one).
                let (awaited, until) = (progress.begun, Instant::now() + self.gather);
                progress.gathering = true;
                while progress.arrived < awaited && progress.holding_lock == 0 {
                    if self.arrived.wait_until(&mut progress, until).timed_out() {
                        break;
                    }
                }
                progress.gathering = false;
            }
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

    /// A group whose leader would wait up to a minute for steps on their way: long enough
    /// that only the step's arrival (or its being given up) can end the wait in these tests.
    fn patient() -> Arc<GroupFlush> {
        Arc::new(GroupFlush {
            gather: Duration::from_secs(60),
            ..GroupFlush::default()
        })
    }

    /// Waits until the group's progress shows `reached` (a leader has begun, or gathers).
    fn until(group: &GroupFlush, reached: fn(&Progress) -> bool) {
        while !reached(&group.progress.lock()) {
            std::thread::yield_now();
        }
    }

    /// Fails when a test's leaders took anywhere near their minute-long bound.
    fn assert_no_bound_waited_out(started: Instant) {
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(30),
            "a leader waited out its bound: {took:?}"
        );
    }

    /// A leader waits for a step on its way (begun, not yet applied), so the two share one
    /// flush.
    #[test]
    fn a_leader_gathers_the_steps_on_their_way() {
        let group = patient();
        let first = group.applied();
        let on_the_way = group.begin();
        let flushes = AtomicU64::new(0);
        let second = std::thread::scope(|scope| {
            let leader = scope.spawn(|| {
                group.wait(first, || {
                    flushes.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            });
            // The leader has begun (it holds the flushing flag), and waits, not flushes.
            until(&group, |p| p.flushing);
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(
                flushes.load(Ordering::SeqCst),
                0,
                "the leader flushed before the step on its way arrived"
            );
            let second = group.applied();
            drop(on_the_way);
            leader.join().expect("leader").expect("flushed");
            second
        });
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
        // The second step was applied before the flush began, so that flush covered it.
        let unused = || -> Result<()> { panic!("the second step needed a flush of its own") };
        group
            .wait(second, unused)
            .expect("covered by the first flush");
        assert_eq!(group.flushes(), 1);
    }

    /// A step begun after the leader started gathering is not waited for, and a waiter that
    /// holds the local lock ends a gathering at once (the steps on their way queue behind that
    /// lock, so waiting for them would only stall everyone for the bound).
    #[test]
    fn a_leader_waits_neither_for_later_steps_nor_behind_a_held_lock() {
        let group = patient();
        let on_the_way = group.begin();
        let first = group.applied();
        let started = Instant::now();
        std::thread::scope(|scope| {
            let leader = scope.spawn(|| group.wait(first, || Ok(())));
            until(&group, |p| p.gathering);
            // A later step: the leader still waits only for the one begun before it gathered.
            let later = group.begin();
            drop(on_the_way);
            leader.join().expect("leader").expect("flushed");
            drop(later);
        });
        assert_eq!(group.flushes(), 1);

        let blocked = group.begin();
        let second = group.applied();
        std::thread::scope(|scope| {
            let leader = scope.spawn(|| group.wait(second, || Ok(())));
            until(&group, |p| p.gathering);
            let third = group.applied();
            group
                .wait_holding_lock(third, || Ok(()))
                .expect("flushed while holding the lock");
            leader.join().expect("leader").expect("flushed");
        });
        drop(blocked);
        assert_no_bound_waited_out(started);
    }

    /// With no step on its way, or one given up (an error before it was applied), the leader
    /// flushes without waiting out its bound (a minute here).
    #[test]
    fn a_leader_waits_for_no_step_that_will_not_come() {
        let group = patient();
        let started = Instant::now();
        group.wait(group.applied(), || Ok(())).expect("flushed");
        drop(group.begin());
        group.wait(group.applied(), || Ok(())).expect("flushed");
        let progress = group.progress.lock();
        assert_eq!(progress.begun, progress.arrived);
        drop(progress);
        assert_eq!(group.flushes(), 2);
        assert_no_bound_waited_out(started);
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
