//! The accept loop in front of tonic: TCP accept, then each connection's TLS handshake in its
//! own task, under limits that keep silent or slow connections from starving real clients
//! (review hole 14: 1,100 idle connections once held all handshake slots for 10 s each).
//!
//! A connection's life until tonic gets it, all bounded by [`AcceptLimits`]:
//!
//! 1. Accepted, if its peer holds fewer than `max_handshakes_per_peer` connections that are not
//!    established yet; otherwise it is closed at once. A peer is an IPv4 address or an IPv6 /64
//!    (one host usually owns a whole /64).
//! 2. Waits for its first byte, at most `first_byte_timeout`. Waiting holds no handshake slot,
//!    so silent connections cost the others nothing but a file descriptor.
//! 3. Takes one of `max_handshakes` slots and completes the handshake, all within
//!    `handshake_timeout` of being accepted.
//!
//! In all, at most `max_pending` connections are between accept and established; at that many
//! the loop stops accepting until one finishes, and the kernel's backlog holds new ones. That
//! bound only bites when many addresses flood at once; a network-level filter is the answer to
//! that, the per-peer bound to one noisy host.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::ServerTls;

/// Established connections waiting for tonic to pick them up.
const ESTABLISHED_BACKLOG: usize = 64;

/// How long the accept loop pauses after an accept error such as "too many open files".
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// At most one warning per this period about peers over their bound; a flood would otherwise
/// flood the log too.
const PEER_WARNING_PERIOD: Duration = Duration::from_secs(10);

/// The bounds on connections that are not established yet; see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptLimits {
    /// From accept to established TLS; a connection not through by then is closed.
    pub handshake_timeout: Duration,
    /// From accept to the connection's first byte; a connection silent for longer is closed.
    pub first_byte_timeout: Duration,
    /// Handshakes in progress at once, over all peers; a connection that has sent its first
    /// byte waits for a slot (within its handshake timeout).
    pub max_handshakes: usize,
    /// Connections one peer (IPv4 address, IPv6 /64) may have between accept and established;
    /// further ones are closed at once.
    pub max_handshakes_per_peer: usize,
    /// Connections between accept and established, over all peers; at this many the accept
    /// loop waits.
    pub max_pending: usize,
}

impl Default for AcceptLimits {
    /// The gateway's config defaults (`limits.handshake_timeout_ms` and the fields beside it).
    fn default() -> Self {
        AcceptLimits {
            handshake_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(2),
            max_handshakes: 1024,
            max_handshakes_per_peer: 32,
            max_pending: 4096,
        }
    }
}

/// The gateway's connections: accepts on `listener`, performs each TLS handshake in its own
/// task within `limits`, and yields the established streams. Ends when `shutdown` is cancelled.
///
/// Failed handshakes and accept errors are logged here, with the peer, and never yielded. The
/// item type is a `Result` only because `serve_with_incoming` requires one; tonic 0.14.5 would
/// skip an `Err` item, logging it at trace level only, but not yielding any keeps refusals
/// visible in our logs and keeps us independent of how other tonic versions treat them.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    limits: AcceptLimits,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> + Send + 'static {
    let (established, stream) = mpsc::channel(ESTABLISHED_BACKLOG);
    tokio::spawn(accept_loop(listener, tls, limits, shutdown, established));
    ReceiverStream::new(stream)
}

type Established = mpsc::Sender<io::Result<TlsStream<TcpStream>>>;

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ServerTls>,
    limits: AcceptLimits,
    shutdown: CancellationToken,
    established: Established,
) {
    let pending = Arc::new(Semaphore::new(limits.max_pending.max(1)));
    let handshakes = Arc::new(Semaphore::new(limits.max_handshakes.max(1)));
    let peers = Arc::new(PeerTable::new(limits.max_handshakes_per_peer.max(1)));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => break,
            permit = pending.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "connection failed while being accepted");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "accepting connections failed; pausing briefly");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let Some(peer_slot) = peers.admit(peer.ip()) else {
            // Dropping the stream closes it; the peer may try again once one of its
            // connections is through.
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        let connection = Connection {
            tcp,
            peer,
            accepted: Instant::now(),
            held: (permit, peer_slot),
        };
        tokio::spawn(establish(
            connection,
            tls.clone(),
            handshakes.clone(),
            limits,
            shutdown.clone(),
            established.clone(),
        ));
    }
}

/// An accepted connection and the places it holds until it is established or closed.
struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    accepted: Instant,
    held: (OwnedSemaphorePermit, PeerSlot),
}

/// Why a connection did not become established.
enum Failure {
    /// Nothing arrived within the first-byte timeout.
    Silent,
    /// The peer closed before sending anything.
    Closed,
    /// The handshake did not finish within the handshake timeout.
    TimedOut,
    /// Reading failed, or TLS refused the peer.
    Io(io::Error),
}

/// Takes `connection` through its first byte and handshake, then hands it to tonic.
async fn establish(
    connection: Connection,
    tls: Arc<ServerTls>,
    handshakes: Arc<Semaphore>,
    limits: AcceptLimits,
    shutdown: CancellationToken,
    established: Established,
) {
    let Connection {
        tcp,
        peer,
        accepted,
        held,
    } = connection;
    let outcome = tokio::select! {
        () = shutdown.cancelled() => return,
        outcome = handshake(tcp, &tls, &handshakes, limits, accepted) => outcome,
    };
    // Through or failed, the connection no longer counts as pending for its peer.
    drop(held);
    match outcome {
        Ok(stream) => {
            // A send error means the server stopped; the connection is dropped.
            let _ = established.send(Ok(stream)).await;
        }
        Err(Failure::Silent) => tracing::debug!(
            %peer,
            timeout = ?limits.first_byte_timeout,
            "connection sent nothing; closed"
        ),
        Err(Failure::Closed) => tracing::debug!(%peer, "connection closed before its hello"),
        Err(Failure::TimedOut) => tracing::debug!(
            %peer,
            timeout = ?limits.handshake_timeout,
            "TLS handshake timed out"
        ),
        Err(Failure::Io(e)) => log_refused(peer, &e),
    }
}

/// Waits for the first byte (holding no handshake slot), then takes a slot and performs the
/// handshake with the TLS config current at that moment.
async fn handshake(
    tcp: TcpStream,
    tls: &ServerTls,
    handshakes: &Arc<Semaphore>,
    limits: AcceptLimits,
    accepted: Instant,
) -> Result<TlsStream<TcpStream>, Failure> {
    let mut first = [0u8; 1];
    let first_byte_deadline = accepted + limits.first_byte_timeout.min(limits.handshake_timeout);
    match tokio::time::timeout_at(first_byte_deadline, tcp.peek(&mut first)).await {
        Err(_) => return Err(Failure::Silent),
        Ok(Ok(0)) => return Err(Failure::Closed),
        Ok(Err(e)) => return Err(Failure::Io(e)),
        Ok(Ok(_)) => {}
    }
    let through = async {
        // The semaphore is never closed, so acquiring only ever waits.
        let _slot = handshakes.clone().acquire_owned().await;
        tls.acceptor().accept(tcp).await.map_err(Failure::Io)
    };
    tokio::time::timeout_at(accepted + limits.handshake_timeout, through)
        .await
        .unwrap_or(Err(Failure::TimedOut))
}

/// Who counts as one peer: an IPv4 address (also when mapped into IPv6), or an IPv6 /64.
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// Per peer, how many of its connections are between accept and established.
#[derive(Debug)]
struct PeerTable {
    limit: usize,
    state: Mutex<PeerState>,
}

#[derive(Debug, Default)]
struct PeerState {
    pending: HashMap<IpAddr, usize>,
    /// Connections closed for their peer's bound since the last warning.
    refused: u64,
    last_warning: Option<Instant>,
}

/// One connection's place in its peer's count; given back on drop.
#[derive(Debug)]
struct PeerSlot {
    table: Arc<PeerTable>,
    key: IpAddr,
}

impl PeerTable {
    fn new(limit: usize) -> PeerTable {
        PeerTable {
            limit,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, PeerState> {
        self.state.lock()
    }

    /// A place for one more connection of `ip`, or `None` when its peer is at the bound.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let key = peer_key(ip);
        let mut state = self.lock();
        let count = state.pending.entry(key).or_default();
        if *count < self.limit {
            *count += 1;
            return Some(PeerSlot {
                table: self.clone(),
                key,
            });
        }
        state.refused += 1;
        let now = Instant::now();
        let due = state
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= PEER_WARNING_PERIOD);
        if due {
            tracing::warn!(
                peer = %ip,
                limit = self.limit,
                closed = state.refused,
                "connections closed because their peer already has limits.max_handshakes_per_peer \
                 connections waiting for or in their TLS handshake; more such warnings are held \
                 back for 10 s"
            );
            state.refused = 0;
            state.last_warning = Some(now);
        } else {
            tracing::debug!(peer = %ip, limit = self.limit, "connection closed: peer at its bound");
        }
        None
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut state = self.table.lock();
        if let Some(count) = state.pending.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.pending.remove(&self.key);
            }
        }
    }
}

/// Accept errors that concern one connection only; the next accept may well succeed.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// Logs a failed handshake: a refused client certificate at `warn` (an operator wants to see
/// revoked or foreign certificates, or that an expired CRL refuses everyone), anything else
/// (probes, resets) at `debug`.
fn log_refused(peer: SocketAddr, e: &io::Error) {
    let tls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls_error {
        Some(
            error @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::InvalidCertRevocationList(_)),
        ) => tracing::warn!(%peer, %error, "client certificate refused"),
        _ => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv6 host's other addresses in its /64 count as the same peer, so rotating the
    /// interface id does not escape the per-peer bound; a mapped IPv4 address is that address.
    #[test]
    fn peers_are_ipv4_addresses_and_ipv6_slash_64s() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(peer_key(a), peer_key(b));
        assert_ne!(peer_key(a), peer_key(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(peer_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    /// A peer at its bound is refused until one of its connections finishes, and its entry
    /// goes away with its last connection, so the table does not grow with every address seen.
    #[tokio::test]
    async fn peer_bound_is_released_on_drop() {
        let table = Arc::new(PeerTable::new(2));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let first = table.admit(ip).unwrap();
        let _second = table.admit(ip).unwrap();
        assert!(table.admit(ip).is_none());
        assert!(table.admit("192.0.2.2".parse().unwrap()).is_some());
        drop(first);
        let third = table.admit(ip);
        assert!(third.is_some());
        drop((third, _second));
        assert!(table.lock().pending.is_empty());
    }
}
