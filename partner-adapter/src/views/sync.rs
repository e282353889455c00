//! What the sync status and the dead-letter endpoints answer.

use super::*;

/// The link to the gateway.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SyncStatus)]
pub struct SyncStatusView {
    /// This site.
    #[schema(value_type = Slug)]
    pub site: String,
    /// This site's tenant.
    #[schema(value_type = Slug)]
    pub tenant: String,
    /// A session with the gateway is up.
    pub connected: bool,
    /// The address of the gateway that session is with (`gateway.url` or one of
    /// `gateway.replicas`: after a session ends the site tries the next in turn); null while
    /// not connected.
    pub gateway: Option<String>,
    /// Last time anything arrived from the gateway, in ms since the Unix epoch (0: never).
    pub last_contact_ms: u64,
    /// Position in the gateway's log applied here.
    pub cursor: u64,
    /// The gateway's head as last heard (at least `cursor`).
    pub gateway_head: u64,
    /// `gateway_head` - `cursor`.
    pub lag: u64,
    /// Local changes not yet accepted by the gateway.
    pub outbox_depth: u64,
    /// Changes the gateway refused (`GET /v1/dead-letters`).
    pub dead_letters: u64,
    /// How far this site's clock ran ahead of the gateway's at the last heartbeat, ms
    /// (negative: behind; null before the first). The heartbeat that opens a session is read
    /// against the time the site asked to subscribe, so a wait behind the catch-up never
    /// counts as a lead. Beyond the gateway's allowed skew, local writes are refused with 503
    /// `clock_skew`.
    pub clock_ahead_ms: Option<i64>,
    /// Entities whose local copy waits to be replaced by the gateway's, after a refused change
    /// or a duplicate acknowledgement.
    pub awaiting_gateway_copy: u64,
    /// Changes the gateway acknowledged since the adapter started.
    pub pushed_since_start: u64,
    /// Of those, changes the gateway already held (re-sent after an acknowledgement was lost).
    pub duplicates_since_start: u64,
    /// Ticket numbers left in the leased blocks.
    pub ticket_numbers_left: u64,
    /// Why the gateway refused the last lease of ticket numbers; null once a lease succeeds.
    /// Syncing goes on; the lease is asked for again later.
    pub lease_refused: Option<String>,
    /// Webhook deliveries queued, over all targets.
    pub webhooks_pending: u64,
    /// Webhook events given up (`GET /v1/webhooks/dead-letters`).
    pub webhook_dead_letters: u64,
    /// Why the last session ended; empty if none.
    pub last_error: String,
    /// Closed tickets purged here because partners' retention of them ended (the gateway
    /// keeps them in-house), since this replica was created.
    pub retention_purged: u64,
    /// When the last of them was purged, in ms since the Unix epoch; null if never.
    pub last_retention_purge_ms: Option<u64>,
    /// Whole files this site holds (each stored once, whatever number of comments carries it).
    pub files_stored: u64,
    /// The bytes of those files.
    pub file_bytes: u64,
}

/// A change the gateway refused.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeadLetter)]
pub struct DeadLetterView {
    /// The change's sequence number at this site; replay with it.
    pub origin_seq: u64,
    /// The entity's id (a ticket number or call log).
    pub entity: String,
    /// Why it was refused, e.g. `REJECT_REASON_INVALID` (a number if unknown).
    pub reason: String,
    /// The stable name of the rule it broke, e.g. `only_inhouse_reroutes`; absent for letters
    /// parked before gateways named rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The gateway's explanation.
    pub message: String,
    /// When refused, in ms since the Unix epoch.
    pub at_ms: u64,
}

/// Changes the gateway refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterList {
    /// The dead letters.
    pub dead_letters: Vec<DeadLetterView>,
}
