//! The gateway's limits, buffers and timeouts (the `[limits]` table), their safe defaults and
//! their validation.

use hotline_federation::limits::{MAX_CHANGE_BYTES, MAX_ENTITY_BYTES, MIN_MESSAGE_BYTES};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Limits, buffers and timeouts.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most changes in one push.
    pub max_push_changes: usize,
    /// Largest push, in encoded bytes; larger pushes get INVALID_ARGUMENT.
    pub max_push_bytes: usize,
    /// Hard cap on any gRPC message received or sent, in bytes; at least
    /// `hotline_federation::limits::MIN_MESSAGE_BYTES` (about 4.1 MiB), so that every entity
    /// and every change fits. Each adapter's `sync.max_message_bytes` must be at least this.
    pub max_message_bytes: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// From accept to an established TLS connection, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// From accept to a connection's first byte, in milliseconds; a connection silent for
    /// longer is closed. Waiting holds no handshake slot. At most `handshake_timeout_ms`.
    pub first_byte_timeout_ms: u64,
    /// TLS handshakes in progress at once (counted from a connection's first byte).
    pub max_handshakes: usize,
    /// Connections one peer (IPv4 address, IPv6 /64) may have between accept and established
    /// TLS; further ones are closed at once.
    pub max_handshakes_per_peer: usize,
    /// Connections between accept and established TLS over all peers; at this many the
    /// gateway stops accepting until one finishes.
    pub max_pending_connections: usize,
    /// HTTP/2 keepalive ping interval, in seconds.
    pub keepalive_interval_s: u64,
    /// HTTP/2 keepalive ping timeout, in seconds.
    pub keepalive_timeout_s: u64,
    /// Events buffered per subscriber before it counts as slow.
    pub subscriber_buffer: usize,
    /// How long a subscriber may leave a full buffer unread before it is disconnected, ms.
    pub stall_timeout_ms: u64,
    /// Committed changes buffered for live subscribers; one further behind is disconnected.
    pub broadcast_capacity: usize,
    /// Heartbeat interval on a quiet stream, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// How many log entries are kept; older cursors get a snapshot.
    pub log_retention: u64,
    /// Most ticket numbers in one lease.
    pub max_lease: u32,
    /// Connections older than this are closed (after a grace period), so a certificate revoked
    /// by a new CRL cannot keep an old connection forever; seconds.
    pub max_connection_age_s: u64,
    /// After a shutdown signal, how long open connections get to finish before they are
    /// dropped; milliseconds.
    pub shutdown_grace_ms: u64,
    /// Changes per second each tenant may push (its quota), averaged.
    pub tenant_changes_per_second: u64,
    /// Changes a tenant may push at once above its rate (at least `max_push_changes`).
    pub tenant_burst: u64,
    /// Most refused changes the gateway keeps per site (dead letters); beyond, a refusal is
    /// still answered (the site parks it) but not stored at the gateway.
    pub max_dead_letters_per_site: usize,
    /// Largest refused change (encoded) the gateway keeps as a dead letter; a larger one is
    /// answered and parked at its site, but not stored at the gateway. With
    /// `max_dead_letters_per_site` this bounds what one site's refusals take on disk.
    pub max_dead_letter_bytes: usize,
    /// Most subscriptions one tenant holds open at once (all its sites together; a site holds
    /// one, two briefly while it reconnects). A slot is free as soon as its stream closes.
    pub tenant_subscriptions: usize,
    /// Entities per second each tenant may fetch (its Fetch quota), averaged.
    pub tenant_fetches_per_second: u64,
    /// Entities a tenant may fetch at once above its rate (at least `max_push_changes`, the
    /// most one Fetch names).
    pub tenant_fetch_burst: u64,
    /// Most ticket numbers a site may hold leased but not yet used (per year); a lease beyond
    /// it is refused until the site has used some. Well above an adapter's lease size.
    pub max_unused_numbers_per_site: u64,
    /// Largest file a site may upload (`Federation.PutFile`), in bytes: 1 to 256 MiB; larger
    /// uploads are refused with INVALID_ARGUMENT before any byte is stored.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_push_changes: 512,
            max_push_bytes: 4 * 1024 * 1024,
            max_message_bytes: 16 * 1024 * 1024,
            max_concurrent_streams: 256,
            handshake_timeout_ms: 10_000,
            first_byte_timeout_ms: 2_000,
            max_handshakes: 1024,
            max_handshakes_per_peer: 32,
            max_pending_connections: 4096,
            keepalive_interval_s: 30,
            keepalive_timeout_s: 10,
            subscriber_buffer: 1024,
            stall_timeout_ms: 10_000,
            broadcast_capacity: 8192,
            heartbeat_interval_ms: 5_000,
            log_retention: 1_000_000,
            max_lease: 10_000,
            max_connection_age_s: 3600,
            shutdown_grace_ms: 10_000,
            tenant_changes_per_second: 5_000,
            tenant_burst: 20_000,
            max_dead_letters_per_site: 1_000,
            max_dead_letter_bytes: 256 * 1024,
            tenant_subscriptions: 64,
            tenant_fetches_per_second: 2_000,
            tenant_fetch_burst: 10_000,
            max_unused_numbers_per_site: 20_000,
            max_file_bytes: hotline_federation::attachment::DEFAULT_MAX_BYTES,
        }
    }
}

impl Limits {
    /// Checks every limit; the error names the field.
    pub(super) fn validate(&self) -> Result<()> {
        let positive = [
            ("limits.max_push_changes", self.max_push_changes as u64),
            ("limits.max_push_bytes", self.max_push_bytes as u64),
            ("limits.max_message_bytes", self.max_message_bytes as u64),
            (
                "limits.max_concurrent_streams",
                u64::from(self.max_concurrent_streams),
            ),
            ("limits.handshake_timeout_ms", self.handshake_timeout_ms),
            ("limits.first_byte_timeout_ms", self.first_byte_timeout_ms),
            ("limits.max_handshakes", self.max_handshakes as u64),
            (
                "limits.max_handshakes_per_peer",
                self.max_handshakes_per_peer as u64,
            ),
            (
                "limits.max_pending_connections",
                self.max_pending_connections as u64,
            ),
            ("limits.keepalive_interval_s", self.keepalive_interval_s),
            ("limits.keepalive_timeout_s", self.keepalive_timeout_s),
            ("limits.subscriber_buffer", self.subscriber_buffer as u64),
            ("limits.stall_timeout_ms", self.stall_timeout_ms),
            ("limits.broadcast_capacity", self.broadcast_capacity as u64),
            ("limits.heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("limits.log_retention", self.log_retention),
            ("limits.max_lease", u64::from(self.max_lease)),
            ("limits.max_connection_age_s", self.max_connection_age_s),
            ("limits.shutdown_grace_ms", self.shutdown_grace_ms),
            (
                "limits.tenant_changes_per_second",
                self.tenant_changes_per_second,
            ),
            (
                "limits.max_dead_letters_per_site",
                self.max_dead_letters_per_site as u64,
            ),
            (
                "limits.max_dead_letter_bytes",
                self.max_dead_letter_bytes as u64,
            ),
            (
                "limits.tenant_subscriptions",
                self.tenant_subscriptions as u64,
            ),
            (
                "limits.tenant_fetches_per_second",
                self.tenant_fetches_per_second,
            ),
            (
                "limits.max_unused_numbers_per_site",
                self.max_unused_numbers_per_site,
            ),
        ];
        if !(1..=hotline_federation::attachment::MAX_FILE_BYTES).contains(&self.max_file_bytes) {
            return Err(Error::Config {
                field: "limits.max_file_bytes".into(),
                problem: format!(
                    "{} is not allowed; allowed: 1 to {} (256 MiB)",
                    self.max_file_bytes,
                    hotline_federation::attachment::MAX_FILE_BYTES
                ),
            });
        }
        for (field, value) in positive {
            if value == 0 {
                return Err(Error::Config {
                    field: field.into(),
                    problem: "must be at least 1".into(),
                });
            }
        }
        if self.first_byte_timeout_ms > self.handshake_timeout_ms {
            return Err(Error::Config {
                field: "limits.first_byte_timeout_ms".into(),
                problem: format!(
                    "{} is above limits.handshake_timeout_ms ({}), which already bounds the \
                     wait for the first byte; allowed: 1 to {}",
                    self.first_byte_timeout_ms,
                    self.handshake_timeout_ms,
                    self.handshake_timeout_ms
                ),
            });
        }
        if self.max_handshakes_per_peer > self.max_pending_connections {
            return Err(Error::Config {
                field: "limits.max_handshakes_per_peer".into(),
                problem: format!(
                    "{} is above limits.max_pending_connections ({}); one peer could hold \
                     every place; allowed: 1 to {}",
                    self.max_handshakes_per_peer,
                    self.max_pending_connections,
                    self.max_pending_connections
                ),
            });
        }
        if self.tenant_burst < self.max_push_changes as u64 {
            return Err(Error::Config {
                field: "limits.tenant_burst".into(),
                problem: format!(
                    "{} is below limits.max_push_changes ({}); a full push could never pass",
                    self.tenant_burst, self.max_push_changes
                ),
            });
        }
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            return Err(Error::Config {
                field: "limits.max_message_bytes".into(),
                problem: format!(
                    "{} is below {MIN_MESSAGE_BYTES}, what the largest entity ({MAX_ENTITY_BYTES} \
                     bytes) or change ({MAX_CHANGE_BYTES} bytes) needs in one message; allowed: \
                     {MIN_MESSAGE_BYTES} or more",
                    self.max_message_bytes
                ),
            });
        }
        if self.tenant_fetch_burst < self.max_push_changes as u64 {
            return Err(Error::Config {
                field: "limits.tenant_fetch_burst".into(),
                problem: format!(
                    "{} is below limits.max_push_changes ({}); a full fetch could never pass",
                    self.tenant_fetch_burst, self.max_push_changes
                ),
            });
        }
        if self.max_push_bytes > self.max_message_bytes {
            return Err(Error::Config {
                field: "limits.max_push_bytes".into(),
                problem: format!(
                    "{} is above limits.max_message_bytes ({}); it must not be",
                    self.max_push_bytes, self.max_message_bytes
                ),
            });
        }
        Ok(())
    }
}
