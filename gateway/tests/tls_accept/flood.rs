//! Idle connections against the accept loop (review hole 14): 1,100 TCP connections that
//! never send a byte once held all 1,024 handshake slots for the whole handshake timeout, so
//! a real site waited about 7 s for its handshake.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use hotline_gateway::tls::{AcceptLimits, ServerTls};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::fixture::{Fixture, Gateway, site_cert};

/// Idle connections opened from 127.0.0.1.
const IDLE: usize = 1100;

/// A second loopback address; Linux routes all of 127.0.0.0/8 on `lo`.
const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Counts the connections the server still holds open at `deadline`: a read that has not
/// ended by then (no end of file, no reset) is still open.
async fn still_open(connections: &mut [TcpStream], deadline: Instant) -> usize {
    let reads = connections.iter_mut().map(|connection| async move {
        let mut byte = [0u8; 1];
        match tokio::time::timeout_at(deadline, connection.read(&mut byte)).await {
            Err(_) => true,
            Ok(Ok(0) | Err(_)) => false,
            Ok(Ok(n)) => panic!("the server sent {n} bytes before any hello"),
        }
    });
    join_all(reads)
        .await
        .into_iter()
        .filter(|open| *open)
        .count()
}

/// 1,100 idle connections from one address neither delay a real site's mTLS handshake and
/// RPC from another address past 1 s, nor stay open beyond their address's bound and the
/// first-byte timeout: one noisy host cannot lock the partners out.
#[tokio::test]
async fn idle_flood_from_one_address_does_not_delay_another() {
    // The client ends of the idle connections, plus the server's ends it has not closed yet.
    let needed = IDLE as u64 + 400;
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= needed,
            "this test holds about {needed} open files, but the limit is {limit}; raise it with \
             `ulimit -n {needed}` (.ci/run raises it to the hard limit)"
        );
    }
    let fx = Fixture::new();
    let limits = AcceptLimits {
        handshake_timeout: Duration::from_secs(10),
        first_byte_timeout: Duration::from_secs(3),
        max_handshakes_per_peer: 8,
        ..AcceptLimits::default()
    };
    let tls = Arc::new(ServerTls::load(&fx.files).unwrap());
    let gateway = Gateway::start_with(tls, limits).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");

    let opened = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(gateway.addr).await.unwrap());
    }
    let asked = Instant::now();
    let served = tokio::time::timeout(
        Duration::from_secs(1),
        gateway.check_from(Some(OTHER_PEER), fx.ca.cert_pem(), Some(&site)),
    )
    .await;
    assert_eq!(
        served,
        Ok(Ok(())),
        "with {IDLE} idle connections open, the site was not served within 1 s"
    );
    let took = asked.elapsed();
    let peers = gateway.peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].map(|peer| peer.ip()), Some(OTHER_PEER), "{took:?}");

    let held = still_open(&mut idle, opened + Duration::from_secs(2)).await;
    assert_eq!(
        held, limits.max_handshakes_per_peer,
        "idle connections the server holds from one address"
    );
    let lingering = still_open(&mut idle, opened + Duration::from_secs(9)).await;
    assert_eq!(
        lingering, 0,
        "idle connections still open well past the 3 s first-byte timeout"
    );
    gateway.stop().await;
}

/// The soft limit on open files of this process, from `/proc/self/limits` (Linux).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
