//! What callers hold: [`WriterHandle`], whose methods send a job to the one writer and wait
//! for its answer once the group is durable.

use super::*;

impl WriterHandle {
    /// Stores changes of `caller`; answers once they are durable.
    pub async fn push(&self, caller: Caller, changes: Vec<Change>) -> Result<Vec<Outcome>> {
        Ok(strip(self.push_with_receipts(caller, changes).await?))
    }

    /// Like [`WriterHandle::push`], with each outcome's audit receipt.
    pub async fn push_with_receipts(
        &self,
        caller: Caller,
        changes: Vec<Change>,
    ) -> Result<Vec<Receipted>> {
        let (reply, answer) = oneshot::channel();
        // Hashing and encoding every change is work the writer would otherwise do alone: it is
        // done here, on the caller's thread, while the writer commits other groups.
        let changes = changes.into_iter().map(pushed::Pushed::new).collect();
        self.tx
            .send(Job::Push {
                caller,
                changes,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Stores a tenant or site record of the gateway's own config; answers once durable.
    pub async fn register(&self, registration: Registration) -> Result<()> {
        self.register_as(GATEWAY_SITE.into(), registration).await
    }

    /// Stores a tenant or site record on behalf of `actor` (e.g. `staff:admin:alice`), recorded
    /// in the audit trail in the same commit; answers once durable.
    pub async fn register_as(&self, actor: String, registration: Registration) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Register {
                actor,
                registration,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?.map(|_| ())
    }

    /// Writes the gateway's own change to an entity (config seeding).
    pub async fn seed(&self, key: EntityKey, ops: Vec<FieldOp>) -> Result<Vec<Outcome>> {
        self.seed_as(GATEWAY_SITE.into(), key, ops).await
    }

    /// Writes a change to an entity on behalf of `actor` (staff through Admin), recorded in
    /// the audit trail in the same commit.
    pub async fn seed_as(
        &self,
        actor: String,
        key: EntityKey,
        ops: Vec<FieldOp>,
    ) -> Result<Vec<Outcome>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Seed {
                actor,
                key,
                ops,
                reply,
            })
            .await
            .map_err(|_| gone())?;
        Ok(strip(answer.await.map_err(|_| gone())??))
    }

    /// Appends `records` to the audit trail through group commit (actions that change nothing
    /// else: staff reads, status-page look-ups); their receipts once durable.
    pub async fn audit(&self, records: Vec<Record>) -> Result<Vec<Receipt>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Audit { records, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Signs a checkpoint of the trail with `secret` (the gateway's Ed25519 key seed) unless
    /// the latest one already covers its head; the new checkpoint once durable.
    pub async fn checkpoint(&self, secret: [u8; 32]) -> Result<Option<SignedCheckpoint>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Checkpoint { secret, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Adds a customer's reply to its ticket as a public comment (id `customer-<n>`, author
    /// `customer`), after the leak guard; answers once durable. Refused when the ticket is
    /// missing or deleted, or the text names a tenant, site or agent.
    pub async fn reply(&self, reply_to: CustomerReply) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Reply { reply_to, reply })
            .await
            .map_err(|_| gone())?;
        let mut outcomes = strip(answer.await.map_err(|_| gone())??);
        outcomes
            .pop()
            .ok_or_else(|| Error::Storage("the writer answered a reply with no outcome".into()))
    }

    /// Ends partners' retention of each of `tickets` that is due at the writer's clock (see
    /// [`hotline_federation::retention`]); answers, once durable, the outcomes of the tickets
    /// archived (those no longer due are left alone and have none).
    pub async fn archive(&self, tickets: Vec<EntityKey>) -> Result<Vec<Outcome>> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Archive { tickets, reply })
            .await
            .map_err(|_| gone())?;
        Ok(strip(answer.await.map_err(|_| gone())??))
    }

    /// Erases the customer of `job` (see [`ErasureJob`]); answers the stored erasure record
    /// once durable.
    pub async fn erase(&self, job: ErasureJob) -> Result<pb::Erasure> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Erase {
                job: Box::new(job),
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Stores a customer's rating of a resolved ticket, once; answers once durable. Refused
    /// when the ticket is missing, not resolved, rated already, or the remark names a tenant,
    /// site or agent.
    pub async fn rate(&self, rating: CustomerRatingRequest) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Rate { rating, reply })
            .await
            .map_err(|_| gone())?;
        let mut outcomes = strip(answer.await.map_err(|_| gone())??);
        outcomes
            .pop()
            .ok_or_else(|| Error::Storage("the writer answered a rating with no outcome".into()))
    }

    /// Grants `site` a block of `count` ticket numbers; answers once durable.
    pub async fn lease(&self, site: String, count: u32) -> Result<LeaseGrant> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Lease { site, count, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Whether the writer still takes jobs (false once it has stopped).
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Stores a review report or score; answers once durable: `true` when written, `false`
    /// for a report whose key already held one (nothing written).
    pub async fn review(&self, write: ReviewWrite) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::Review { write, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Deletes, of what the sweep's pass `found`, the expired unfinished uploads and files no
    /// comment names (see [`crate::files::sweep_these`]); answers, once durable, whether
    /// anything went.
    pub async fn sweep_files(&self, found: crate::files::Candidates) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job::SweepFiles { found, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Asks the writer for a group with nothing to do, so it reads again what another gateway
    /// sharing the store wrote; skipped when the queue is full (those jobs' groups do it).
    /// False once the writer has stopped.
    pub fn refresh(&self) -> bool {
        !matches!(
            self.tx.try_send(Job::Refresh),
            Err(mpsc::error::TrySendError::Closed(_))
        )
    }

    /// Asks the writer to finish the jobs queued so far and stop.
    pub async fn stop(&self) {
        let _ = self.tx.send(Job::Stop).await;
    }
}
