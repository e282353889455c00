//! A TCP relay on 127.0.0.1 between a site and the gateway that can cut its connections
//! mid-transfer and refuse new ones: a real cut of a real mTLS connection (the relay only
//! copies bytes; TLS runs end to end through it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Not armed: no cut.
const DISARMED: i64 = i64::MAX;

#[derive(Debug, Default)]
struct Shared {
    /// Client-to-server bytes left before the cut; [`DISARMED`] when none is asked.
    left: AtomicI64,
    /// Server-to-client bytes left before the cut; [`DISARMED`] when none is asked.
    left_down: AtomicI64,
    /// Cuts made.
    cuts: AtomicU64,
    /// Client-to-server bytes relayed since the last cut (or the start).
    since_cut: AtomicU64,
    /// New connections are closed at once while set.
    refusing: AtomicBool,
    /// A cut sets `refusing`.
    hold: AtomicBool,
    /// Cancelled to cut every open connection.
    cut: parking_lot::Mutex<CancellationToken>,
}

/// The relay.
#[derive(Debug)]
pub struct CuttingProxy {
    /// Where sites connect.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl CuttingProxy {
    /// Relays 127.0.0.1:0 to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<CuttingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            left: AtomicI64::new(DISARMED),
            left_down: AtomicI64::new(DISARMED),
            ..Shared::default()
        });
        let stop = CancellationToken::new();
        let (accepting, stopped) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                if accepting.refusing.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let shared = accepting.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, shared, stopped).await;
                    }
                });
            }
        });
        Ok(CuttingProxy { addr, shared, stop })
    }

    /// Cuts every connection once `bytes` more bytes went from the sites to the gateway, and
    /// refuses new ones from then on (the site is offline) until [`CuttingProxy::offline`]
    /// with `false`.
    pub fn cut_after_and_hold(&self, bytes: u64) {
        self.shared.hold.store(true, Ordering::SeqCst);
        self.cut_after(bytes);
    }

    /// Cuts every connection once `bytes` more bytes went from the gateway to the sites (a
    /// download), and refuses new ones until [`CuttingProxy::offline`] with `false`.
    pub fn cut_downstream_after_and_hold(&self, bytes: u64) {
        self.shared.hold.store(true, Ordering::SeqCst);
        self.shared.left_down.store(
            i64::try_from(bytes).unwrap_or(DISARMED - 1),
            Ordering::SeqCst,
        );
    }

    /// Cuts every connection once `bytes` more bytes went from the sites to the gateway.
    pub fn cut_after(&self, bytes: u64) {
        self.shared.left.store(
            i64::try_from(bytes).unwrap_or(DISARMED - 1),
            Ordering::SeqCst,
        );
    }

    /// Cuts every open connection now and, while `refuse`, closes new ones at once (the site
    /// is offline); `false` lets sites connect again.
    pub fn offline(&self, refuse: bool) {
        self.shared.refusing.store(refuse, Ordering::SeqCst);
        if refuse {
            let mut current = self.shared.cut.lock();
            current.cancel();
            *current = CancellationToken::new();
        }
    }

    /// How many cuts [`CuttingProxy::cut_after`] made.
    pub fn cuts(&self) -> u64 {
        self.shared.cuts.load(Ordering::SeqCst)
    }

    /// Bytes relayed from the sites to the gateway since the last cut.
    pub fn bytes_since_cut(&self) -> u64 {
        self.shared.since_cut.load(Ordering::SeqCst)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shared.cut.lock().cancel();
    }
}

/// True when `left` was armed and `len` more bytes use it up (it is disarmed then).
fn used_up(left: &AtomicI64, len: i64) -> bool {
    if left.load(Ordering::SeqCst) == DISARMED {
        return false;
    }
    if left.fetch_sub(len, Ordering::SeqCst) - len > 0 {
        return false;
    }
    left.store(DISARMED, Ordering::SeqCst);
    true
}

/// Cuts every open connection (once per armed cut), going offline when asked to hold.
fn cut_all(shared: &Shared) {
    if shared.hold.swap(false, Ordering::SeqCst) {
        shared.refusing.store(true, Ordering::SeqCst);
    }
    shared.cuts.fetch_add(1, Ordering::SeqCst);
    shared.since_cut.store(0, Ordering::SeqCst);
    let mut current = shared.cut.lock();
    current.cancel();
    *current = CancellationToken::new();
}

async fn relay(client: TcpStream, server: TcpStream, shared: Arc<Shared>, stop: CancellationToken) {
    let cut = shared.cut.lock().clone();
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let len = i64::try_from(n).unwrap_or(i64::MAX);
            if used_up(&shared.left, len) {
                cut_all(&shared);
                return;
            }
            shared.since_cut.fetch_add(n as u64, Ordering::SeqCst);
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if used_up(&shared.left_down, i64::try_from(n).unwrap_or(i64::MAX)) {
                cut_all(&shared);
                return;
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
        () = cut.cancelled() => {}
        () = stop.cancelled() => {}
    }
}
