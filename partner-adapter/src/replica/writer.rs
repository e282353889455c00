//! The writer of the API's local writes: one thread takes the writes waiting in its queue,
//! runs them one after another under a single hold of the local lock, writes their steps as one
//! sled batch ([`super::stage`]: sled writes its log twice per batch, so a batch per create
//! cost two disk writes per create), and answers each after the group flush that holds it
//! ([`super::group`]); each caller awaits only its own answer. A batch sled refuses fails every
//! write of the group.
//!
//! Why a thread of its own: with 32 API clients on two cores, writing through the blocking pool
//! meant 32 threads queueing on the local lock and then on the flush's condition variable, so a
//! create was handed between threads several times (BENCHMARKS.md, "The adapter's creates,
//! profiled"). Through the writer the write itself occupies no blocking thread and takes no
//! lock of its own: its task waits on its answer, and the writer's next group is whatever
//! arrived during the last flush. A create's answer also brings the brand and leak guard its
//! first customer message is rendered from, so the caller renders it without another trip to
//! the store.
//!
//! What stays as on the blocking path ([`Replica::checked_change`], which brand publishing and
//! call imports still use, and replays): the same checks, merge and step (`finish_local`), the
//! same group commit (an answer only after the flush that holds the write; a failed flush
//! fails its whole group, and a refused write stores nothing), and
//! the same local lock, so remote entries, refreshes and replays still interleave with local
//! writes only between steps.
//!
//! Every write of a group is answered after the group's batch, a refused one too ([`Ran`]): a
//! refusal may rest on what an earlier step of the group staged, so it is told once that is
//! stored (or told the store's error when the batch is refused, so its caller tries again).
//!
//! The thread holds the store only while it writes a group (a weak reference otherwise): the
//! store is let go before the group's writes are answered, so a stopped adapter's store closes
//! once the last applied write is answered. The thread ends when every [`LocalWriter`] is
//! dropped.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Weak};

use hotline_federation::model::EntityKey;
use hotline_federation::{Change, EntityState, Hlc, HybridClock};
use tokio::sync::oneshot;

use super::{OpeningFace, Pending, Replica, Step};
use crate::error::{Error, Result};
use crate::events::TicketEvents;

/// The most writes one hold of the local lock applies (remote entries wait for the lock).
const GROUP_MAX: usize = 256;

/// A write as the writer runs it under the local lock: how to answer it once its group is
/// known, `None` when it panicked (its answer is dropped).
type Job = Box<dyn FnOnce(&Replica, &mut HybridClock) -> Option<Ran> + Send>;

/// What a write's step gives the writer: the caller's value, and the place of what it applied
/// (`None` when it applied nothing).
type Written<T> = Result<(T, Option<Pending>)>;

/// A write the writer ran: its place in the group commit when it applied something, and how
/// to answer it once the group's batch (and then the flush that holds its place) is known.
/// Every write of a group is answered only then, a refused one too: its refusal may rest on
/// what an earlier step of the group staged (an id already taken, the last number used), so
/// it is told only once that is stored, and told the store's error if the batch is refused.
struct Ran {
    pending: Option<Pending>,
    answer: Box<dyn FnOnce(Result<()>) + Send>,
}

/// A handle on the writer (see the module documentation); clones share one thread.
#[derive(Clone, Debug)]
pub struct LocalWriter {
    queue: mpsc::Sender<Job>,
}

impl LocalWriter {
    /// Starts the writer of `replica`.
    pub fn start(replica: &Arc<Replica>) -> Result<LocalWriter> {
        let (queue, jobs) = mpsc::channel();
        let replica = Arc::downgrade(replica);
        std::thread::Builder::new()
            .name("local-writer".into())
            .spawn(move || write_groups(&replica, &jobs))
            .map_err(|e| Error::Storage(format!("cannot start the local writer thread: {e}")))?;
        Ok(LocalWriter { queue })
    }

    /// [`Replica::checked_change`] through the writer: `build` runs on the writer's thread.
    pub async fn checked_change(
        &self,
        key: EntityKey,
        now_ms: u64,
        events: Arc<TicketEvents>,
        build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change> + Send + 'static,
    ) -> Result<(Change, EntityState)> {
        self.write(checked_change(key, now_ms, events, build)).await
    }

    /// [`Replica::try_new_ticket`] through the writer: `None` (and `build` not called) when
    /// the lease is used up. With the ticket comes what its first customer message is rendered
    /// from ([`Replica::opening_face`]), read by the writer as the create's group stands.
    pub async fn try_new_ticket(
        &self,
        now_ms: u64,
        events: Arc<TicketEvents>,
        build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change> + Send + 'static,
    ) -> Result<Option<NewTicket>> {
        self.write(new_ticket(now_ms, events, build)).await
    }

    /// Queues `step` and waits for its answer: its value once the flush that holds what it
    /// applied succeeded, its error once its group's batch is stored.
    async fn write<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Replica, &mut HybridClock) -> Written<T> + Send + 'static,
    ) -> Result<T> {
        self.submit(step)?.await.map_err(|_| stopped())?
    }

    /// Queues `step`; its answer comes on the returned channel.
    fn submit<T: Send + 'static>(
        &self,
        step: impl FnOnce(&Replica, &mut HybridClock) -> Written<T> + Send + 'static,
    ) -> Result<oneshot::Receiver<Result<T>>> {
        let (tell, answer) = oneshot::channel();
        let job: Job = Box::new(move |replica, clock| {
            Some(match step(replica, clock) {
                Err(e) => Ran {
                    pending: None,
                    answer: Box::new(move |stored| {
                        let _ = tell.send(stored.and(Err(e)));
                    }),
                },
                Ok((value, pending)) => Ran {
                    pending,
                    answer: Box::new(move |flushed| {
                        let _ = tell.send(flushed.map(|()| value));
                    }),
                },
            })
        });
        self.queue.send(job).map_err(|_| stopped())?;
        Ok(answer)
    }
}

/// What the writer runs for [`LocalWriter::checked_change`].
fn checked_change(
    key: EntityKey,
    now_ms: u64,
    events: Arc<TicketEvents>,
    build: impl FnOnce(u64, Hlc, &EntityState, &mut Step) -> Result<Change> + Send + 'static,
) -> impl FnOnce(&Replica, &mut HybridClock) -> Written<(Change, EntityState)> + Send + 'static {
    move |replica, clock| {
        let (change, after, pending) =
            replica.finish_local(clock, Step::default(), &key, now_ms, &events, true, build)?;
        Ok(((change, after), Some(pending)))
    }
}

/// A ticket the writer created: its change, its state, and what its first customer message
/// is rendered from (`None`: the brand has no such template, or could not be read).
pub type NewTicket = (Change, EntityState, Option<OpeningFace>);

/// What the writer runs for [`LocalWriter::try_new_ticket`].
fn new_ticket(
    now_ms: u64,
    events: Arc<TicketEvents>,
    build: impl FnOnce(&str, u64, Hlc, &EntityState) -> Result<Change> + Send + 'static,
) -> impl FnOnce(&Replica, &mut HybridClock) -> Written<Option<NewTicket>> + Send + 'static {
    move |replica, clock| {
        // Read before the step, which leaves the brand as it is: a read that fails (the ticket
        // is stored without its first customer message) or panics (nothing is stored) has
        // nothing staged to answer for.
        let face = replica.opening_face().unwrap_or_else(|error| {
            tracing::warn!(%error, "no first customer message: the brand could not be read");
            None
        });
        let Some((change, after, pending)) =
            replica.new_ticket_under(clock, now_ms, &events, build)?
        else {
            return Ok((None, None));
        };
        Ok((Some((change, after, face)), Some(pending)))
    }
}

/// The answer to a write the writer dropped unanswered: it stopped, or the write panicked.
fn stopped() -> Error {
    Error::Storage(
        "the store's writer stopped before this write was answered, so it may or may not be \
         stored; read it back before writing again"
            .into(),
    )
}

/// The writer's loop: a group is the first write waiting and every write queued behind it (at
/// most [`GROUP_MAX`]); applied under one hold of the local lock, then each answered after its
/// flush (the first wait flushes for the whole group).
fn write_groups(replica: &Weak<Replica>, jobs: &mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let group: Vec<Job> = std::iter::once(first)
            .chain(jobs.try_iter().take(GROUP_MAX - 1))
            .collect();
        // The store is gone: dropping the group tells its callers.
        let Some(replica) = replica.upgrade() else {
            return;
        };
        let (ran, stored) = {
            let mut clock = replica.clock();
            // The group's steps are staged and applied as one batch ([`super::stage`]).
            replica.begin_stage();
            let ran: Vec<Ran> = group
                .into_iter()
                .filter_map(|job| {
                    // A panicking write drops its answer (its caller is told); the clock is
                    // moved only by a step that was staged, so the others go on (a batch the
                    // store refuses leaves it moved on, harmless: it only goes forward).
                    std::panic::catch_unwind(AssertUnwindSafe(|| job(&replica, &mut clock)))
                        .unwrap_or_else(|_| {
                            tracing::error!("a local write panicked; its caller was told");
                            None
                        })
                })
                .collect();
            (ran, replica.apply_stage())
        };
        let flushed: Vec<_> = match stored {
            Ok(()) => ran
                .into_iter()
                .map(|Ran { pending, answer }| {
                    let outcome = match pending {
                        Some(pending) => replica.durable(pending),
                        None => Ok(()),
                    };
                    (answer, outcome)
                })
                .collect(),
            Err(e) => {
                tracing::error!(error = %e, "the store refused a group of local writes");
                let message = e.to_string();
                ran.into_iter()
                    .map(|Ran { answer, .. }| (answer, Err(Error::Storage(message.clone()))))
                    .collect()
            }
        };
        // Let go of the store before answering: once the last write is answered, a stopping
        // adapter's store closes.
        drop(replica);
        for (answer, outcome) in flushed {
            answer(outcome);
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
