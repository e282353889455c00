//! A cuttable link: a loopback TCP forwarder between one site and the gateway, so the demo can
//! take a site offline for some minutes (its adapter keeps serving its tools, only the link is
//! gone) and bring it back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The switch of a forwarder.
#[derive(Clone, Debug)]
pub struct Link {
    /// Where the site connects instead of the gateway.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Link {
    /// Starts forwarding from a new loopback port to `gateway`.
    pub async fn start(gateway: SocketAddr, shutdown: CancellationToken) -> std::io::Result<Link> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let link = Link { addr, up, cuts };
        let accepting = link.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    () = shutdown.cancelled() => break,
                };
                let Ok((client, _)) = accepted else { continue };
                if !accepting.up.load(Ordering::SeqCst) {
                    continue; // dropped: the link is down
                }
                let mut cut = accepting.cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(gateway).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Ok(link)
    }

    /// Cuts every connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
