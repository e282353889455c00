//! One job of a group, done into it, and the answer each job gets once the group is durable
//! (or fails).

use tokio::sync::oneshot;

use super::group::Group;
use super::{Job, LeaseGrant, Receipted, Writer};
use crate::error::{Error, Result};
use hotline_federation::audit::{Receipt, SignedCheckpoint};

/// A job done in a group: where its answer goes and the answer (`None` when the group failed
/// before or at it), sent only once the group is durable.
pub(super) enum Done {
    Changes(
        oneshot::Sender<Result<Vec<Receipted>>>,
        Option<Vec<Receipted>>,
    ),
    Lease(
        oneshot::Sender<Result<LeaseGrant>>,
        Option<Result<LeaseGrant>>,
    ),
    Review(oneshot::Sender<Result<bool>>, Option<bool>),
    Erasure(
        oneshot::Sender<Result<hotline_proto::v1::Erasure>>,
        Option<hotline_proto::v1::Erasure>,
    ),
    Audit(oneshot::Sender<Result<Vec<Receipt>>>, Option<Vec<Receipt>>),
    Checkpoint(
        oneshot::Sender<Result<Option<SignedCheckpoint>>>,
        Option<Option<SignedCheckpoint>>,
    ),
}

impl Done {
    pub(super) fn answer(self) {
        match self {
            Done::Changes(tx, Some(outcomes)) => drop(tx.send(Ok(outcomes))),
            Done::Lease(tx, Some(grant)) => drop(tx.send(grant)),
            Done::Review(tx, Some(written)) => drop(tx.send(Ok(written))),
            Done::Erasure(tx, Some(erasure)) => drop(tx.send(Ok(erasure))),
            Done::Audit(tx, Some(receipts)) => drop(tx.send(Ok(receipts))),
            Done::Checkpoint(tx, Some(signed)) => drop(tx.send(Ok(signed))),
            // Not reached: a failed group is answered with `fail`.
            Done::Changes(_, None)
            | Done::Lease(_, None)
            | Done::Review(_, None)
            | Done::Erasure(_, None)
            | Done::Audit(_, None)
            | Done::Checkpoint(_, None) => {}
        }
    }

    pub(super) fn fail(self, error: Error) {
        match self {
            Done::Changes(tx, _) => drop(tx.send(Err(error))),
            Done::Lease(tx, _) => drop(tx.send(Err(error))),
            Done::Review(tx, _) => drop(tx.send(Err(error))),
            Done::Erasure(tx, _) => drop(tx.send(Err(error))),
            Done::Audit(tx, _) => drop(tx.send(Err(error))),
            Done::Checkpoint(tx, _) => drop(tx.send(Err(error))),
        }
    }
}

impl Writer {
    /// Does one job into the group, unless an earlier one failed (`failure`) or there is no
    /// group; a failure here is noted in `failure`. `None` for a stop, and for a job answered
    /// already (a refused registration).
    pub(super) fn work(
        &mut self,
        group: &mut Option<Group>,
        job: Job,
        failure: &mut Option<Error>,
    ) -> Option<Done> {
        let mut attempt = |run: &mut dyn FnMut(&mut Self, &mut Group) -> Result<()>| {
            if failure.is_some() {
                return;
            }
            if let Some(group) = group.as_mut() {
                if let Err(error) = run(self, group) {
                    *failure = Some(error);
                }
            }
        };
        Some(match job {
            Job::Push {
                caller,
                mut changes,
                reply,
            } => {
                let mut outcomes = None;
                attempt(&mut |w, g| {
                    let done: Vec<Receipted> = std::mem::take(&mut changes)
                        .into_iter()
                        .map(|pushed| w.process(g, &caller, pushed))
                        .collect::<Result<_>>()?;
                    outcomes = Some(done);
                    Ok(())
                });
                Done::Changes(reply, outcomes)
            }
            Job::Register {
                actor,
                registration,
                reply,
            } => {
                let (mut outcomes, mut refusal) = (None, None);
                attempt(&mut |w, g| {
                    refusal = w.refuse_registration(g, &registration);
                    if refusal.is_none() {
                        w.process_registration(g, &actor, &registration);
                        outcomes = Some(Vec::new());
                    }
                    Ok(())
                });
                if let Some(refusal) = refusal {
                    // Answered at once: nothing of it is in the group.
                    let _ = reply.send(Err(refusal));
                    return None;
                }
                Done::Changes(reply, outcomes)
            }
            Job::Seed {
                actor,
                key,
                ops,
                reply,
            } => {
                let mut outcomes = None;
                attempt(&mut |w, g| {
                    let done = w.process_seed(g, &actor, "seed", key.clone(), ops.clone())?;
                    outcomes = Some(vec![done]);
                    Ok(())
                });
                Done::Changes(reply, outcomes)
            }
            Job::Audit { records, reply } => {
                let mut receipts = None;
                attempt(&mut |w, g| {
                    receipts = Some(records.iter().map(|r| w.record(g, r.clone())).collect());
                    Ok(())
                });
                Done::Audit(reply, receipts)
            }
            Job::Checkpoint { secret, reply } => {
                let mut signed = None;
                attempt(&mut |w, g| {
                    signed = Some(w.process_checkpoint(g, &secret));
                    Ok(())
                });
                Done::Checkpoint(reply, signed)
            }
            Job::Reply { reply_to, reply } => {
                let mut outcomes = None;
                attempt(&mut |w, g| {
                    outcomes = Some(vec![w.process_reply(g, &reply_to)?]);
                    Ok(())
                });
                Done::Changes(reply, outcomes)
            }
            Job::Rate { rating, reply } => {
                let mut outcomes = None;
                attempt(&mut |w, g| {
                    outcomes = Some(vec![w.process_rating(g, &rating)?]);
                    Ok(())
                });
                Done::Changes(reply, outcomes)
            }
            Job::Archive { tickets, reply } => {
                let mut outcomes = None;
                attempt(&mut |w, g| {
                    let mut done = Vec::new();
                    for ticket in &tickets {
                        done.extend(w.process_archive(g, ticket)?);
                    }
                    outcomes = Some(done);
                    Ok(())
                });
                Done::Changes(reply, outcomes)
            }
            Job::Erase { job, reply } => {
                let mut erasure = None;
                attempt(&mut |w, g| {
                    erasure = Some(w.process_erasure(g, &job)?);
                    Ok(())
                });
                Done::Erasure(reply, erasure)
            }
            Job::Lease { site, count, reply } => {
                let mut grant = None;
                attempt(&mut |w, g| {
                    grant = Some(w.process_lease(g, &site, count)?);
                    Ok(())
                });
                Done::Lease(reply, grant)
            }
            Job::Review { write, reply } => {
                let mut written = None;
                attempt(&mut |w, g| {
                    written = Some(w.process_review(g, &write)?);
                    Ok(())
                });
                Done::Review(reply, written)
            }
            Job::SweepFiles { found, reply } => {
                let mut swept = None;
                attempt(&mut |w, g| {
                    let sites: Vec<String> = g.registry.sites.keys().cloned().collect();
                    let now = (w.settings.now_ms)();
                    let batch = crate::files::sweep_these(
                        w.store.as_ref(),
                        now,
                        &sites,
                        &g.batch,
                        &found,
                        &mut g.files,
                    )?;
                    swept = Some(!batch.is_empty());
                    g.batch.writes.extend(batch.writes);
                    Ok(())
                });
                Done::Review(reply, swept)
            }
            Job::Refresh | Job::Stop => return None,
        })
    }
}
