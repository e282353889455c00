//! The customer's status page (DESIGN.md section 6) on its own listener, never the mTLS port:
//! plain HTTP behind a proxy, or server-only TLS when `[web] tls_cert` and `tls_key` are set.
//!
//! Routes: `GET /` the look-up form; `POST /status` (`number`, `code`) the ticket's status and
//! public history; `POST /reply` (`number`, `code`, `body`) the customer's reply, stored as a
//! public comment through the writer; `POST /rate` (`number`, `code`, `score`, `remark`) the
//! customer's 1-5 rating of a resolved ticket, once ([`rating`]); `POST /api/status` the view as JSON. The access code
//! travels only in request bodies, never in a URL or a log line.
//!
//! Layout: this module binds nothing (the caller hands in the listener) and serves until
//! shutdown; [`handlers`] answers requests; [`lookup`] finds a ticket by number and code with
//! the rate limits of [`limits`]; [`pages`] renders HTML; [`form`] reads form fields and the
//! language; [`staff`] is the staff dashboard under `/staff/`.

mod form;
mod handlers;
mod limits;
mod lookup;
mod pages;
mod rating;
pub mod staff;
mod writes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::state::GatewayState;

pub use pages::{contrast, luminance, text_on};

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes in flight at once.
const MAX_HANDSHAKES: usize = 256;
/// How long open connections get to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Serves the status page on `listener` until `shutdown` is cancelled.
pub async fn run(
    listener: TcpListener,
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
) -> Result<()> {
    let web = &state.config.web;
    let tls = match (&web.tls_cert, &web.tls_key) {
        (Some(cert), Some(key)) => {
            Some(TlsAcceptor::from(crate::tls::web_server_config(cert, key)?))
        }
        _ => None,
    };
    let local = listener
        .local_addr()
        .map_err(|e| Error::Unavailable(format!("web listener: {e}")))?;
    tracing::info!(
        addr = %local,
        tls = tls.is_some(),
        public_url = %web.public_url,
        "status page serving"
    );
    let app = handlers::router(state.clone()).merge(staff::router(state.clone()));
    let listener = WebListener::start(listener, tls, shutdown.child_token());
    let serve = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<PeerAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = tokio::select! {
        served = serve => served,
        () = async { shutdown.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("status page connections still open after the grace period; dropping them");
            Ok(())
        }
    };
    tracing::info!("status page stopped");
    served.map_err(|e| Error::Unavailable(format!("status page failed: {e}")))
}

/// A connection of the web listener, plain or TLS.
trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// Accepted (and, with TLS, handshaken) connections. Each handshake runs in its own task with
/// a timeout, so one slow client never stalls the accepts of others.
struct WebListener {
    ready: mpsc::Receiver<(Box<dyn Connection>, SocketAddr)>,
    local: SocketAddr,
}

impl WebListener {
    fn start(listener: TcpListener, tls: Option<TlsAcceptor>, stop: CancellationToken) -> Self {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel::<(Box<dyn Connection>, SocketAddr)>(MAX_HANDSHAKES);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::debug!(%error, "web accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Some(acceptor) = tls.clone() else {
                    if tx.send((Box::new(stream), peer)).await.is_err() {
                        return;
                    }
                    continue;
                };
                let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "too many TLS handshakes in flight; connection dropped");
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((Box::new(tls), peer)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "web TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "web TLS handshake timed out"),
                    }
                });
            }
        });
        WebListener { ready, local }
    }
}

impl Listener for WebListener {
    type Io = Box<dyn Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop stopped (shutdown): wait for the server to stop too.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The peer address of a connection (the proxy's, when one sits in front).
#[derive(Clone, Copy, Debug)]
struct PeerAddr(SocketAddr);

impl Connected<IncomingStream<'_, WebListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, WebListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}
