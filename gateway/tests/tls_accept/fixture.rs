//! What every TLS test needs: a PKI generated per test, the gateway's TLS files on disk, and a
//! real tonic server (the health service) behind our accept loop on `127.0.0.1:0`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline_gateway::identity::{Identity, identity_of};
use hotline_gateway::tls::{AcceptLimits, ServerTls, TlsFiles, incoming, spawn_reloader};
use hotline_runtime::pki::{CertAuthority, CertSpec, IssuedCert};
use tempfile::TempDir;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::InterceptorLayer;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

pub(crate) const FEDERATION: &str = "acme";

/// How long the certificates issued here are valid.
pub(crate) const ONE_DAY: time::Duration = time::Duration::days(1);

/// A certificate for site `tenant`/`site` of [`FEDERATION`], valid for a day, signed by `ca`.
pub(crate) fn site_cert(ca: &CertAuthority, tenant: &str, site: &str) -> IssuedCert {
    ca.issue_site(FEDERATION, tenant, site, ONE_DAY).unwrap()
}

/// A client certificate with exactly these URI SANs, valid for a day from `not_before`.
pub(crate) fn client_cert(
    ca: &CertAuthority,
    uris: &[&str],
    not_before: OffsetDateTime,
) -> IssuedCert {
    ca.issue_custom(CertSpec {
        uri_sans: uris.iter().map(|uri| (*uri).to_owned()).collect(),
        not_before,
        not_after: not_before + ONE_DAY,
        client_auth: true,
    })
    .unwrap()
}

/// The federation CA and the gateway's TLS files (with an empty CRL) in a temporary directory.
pub(crate) struct Fixture {
    _dir: TempDir,
    pub(crate) ca: CertAuthority,
    pub(crate) files: TlsFiles,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::generate(FEDERATION).unwrap();
        let server = ca
            .issue_server(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], ONE_DAY)
            .unwrap();
        let files = TlsFiles {
            ca_cert: dir.path().join("ca.pem"),
            cert: dir.path().join("gateway.pem"),
            key: dir.path().join("gateway.key"),
            crl: Some(dir.path().join("crl.pem")),
        };
        std::fs::write(&files.ca_cert, ca.cert_pem()).unwrap();
        std::fs::write(&files.cert, &server.cert_pem).unwrap();
        std::fs::write(&files.key, &server.key_pem).unwrap();
        let fixture = Fixture {
            _dir: dir,
            ca,
            files,
        };
        fixture.revoke(&[], 1);
        fixture
    }

    /// Writes a CRL, numbered `crl_number`, that revokes `revoked`.
    pub(crate) fn revoke(&self, revoked: &[&IssuedCert], crl_number: u64) {
        let serials: Vec<_> = revoked.iter().map(|cert| cert.serial.clone()).collect();
        self.write_crl(&self.ca.crl_pem(&serials, crl_number).unwrap());
    }

    pub(crate) fn write_crl(&self, pem: &str) {
        std::fs::write(self.files.crl.as_ref().unwrap(), pem).unwrap();
    }
}

/// A running server: health service behind our accept loop, with the CRL reloader, and an
/// interceptor that records each caller's identity and address (or refuses the call without
/// an identity).
pub(crate) struct Gateway {
    pub(crate) addr: SocketAddr,
    pub(crate) tls: Arc<ServerTls>,
    pub(crate) seen: Arc<Mutex<Vec<Identity>>>,
    pub(crate) peers: Arc<Mutex<Vec<Option<SocketAddr>>>>,
    shutdown: CancellationToken,
    served: JoinHandle<Result<(), tonic::transport::Error>>,
    reloader: JoinHandle<()>,
}

impl Gateway {
    /// Starts serving; the listener is bound before this returns, so clients may connect at
    /// once (the kernel queues them until the accept loop takes them).
    pub(crate) async fn start(files: &TlsFiles, handshake_timeout: Duration) -> Gateway {
        let tls = Arc::new(ServerTls::load(files).unwrap());
        let limits = AcceptLimits {
            handshake_timeout,
            first_byte_timeout: handshake_timeout.min(AcceptLimits::default().first_byte_timeout),
            ..AcceptLimits::default()
        };
        Gateway::start_with(tls, limits).await
    }

    /// Starts serving with `tls` as loaded by the caller, within `limits`.
    pub(crate) async fn start_with(tls: Arc<ServerTls>, limits: AcceptLimits) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let reloader = spawn_reloader(
            tls.clone(),
            Duration::from_millis(50),
            shutdown.child_token(),
        );
        let connections = incoming(listener, tls.clone(), limits, shutdown.child_token());
        let seen: Arc<Mutex<Vec<Identity>>> = Arc::default();
        let peers: Arc<Mutex<Vec<Option<SocketAddr>>>> = Arc::default();
        let (recorder, peer_recorder) = (seen.clone(), peers.clone());
        let check_identity = move |request: tonic::Request<()>| {
            let identity = identity_of(&request, FEDERATION).map_err(tonic::Status::from)?;
            recorder.lock().unwrap().push(identity);
            peer_recorder.lock().unwrap().push(request.remote_addr());
            Ok(request)
        };
        let (_, health) = tonic_health::server::health_reporter();
        let served = tokio::spawn(
            Server::builder()
                .layer(InterceptorLayer::new(check_identity))
                .add_service(health)
                .serve_with_incoming_shutdown(connections, shutdown.clone().cancelled_owned()),
        );
        Gateway {
            addr,
            tls,
            seen,
            peers,
            shutdown,
            served,
            reloader,
        }
    }

    /// Health Check over a new connection; on failure the status code (if the RPC got that far)
    /// and the whole error chain as text.
    pub(crate) async fn check(
        &self,
        ca_pem: &str,
        client: Option<&IssuedCert>,
    ) -> Result<(), String> {
        self.check_from(None, ca_pem, client).await
    }

    /// [`Gateway::check`] from the local address `from` (any of 127.0.0.0/8 works on Linux).
    pub(crate) async fn check_from(
        &self,
        from: Option<IpAddr>,
        ca_pem: &str,
        client: Option<&IssuedCert>,
    ) -> Result<(), String> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        if let Some(cert) = client {
            tls = tls.identity(tonic::transport::Identity::from_pem(
                &cert.cert_pem,
                &cert.key_pem,
            ));
        }
        let channel = Endpoint::from_shared(format!("https://{}", self.addr))
            .unwrap()
            .local_address(from)
            .tls_config(tls)
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| error_chain(&e))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(|_| ())
            .map_err(|status| format!("{:?}: {}", status.code(), error_chain(&status)))
    }

    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(10), self.served)
            .await
            .expect("server did not stop within 10 s");
        served.unwrap().unwrap();
        self.reloader.await.unwrap();
    }
}

pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The log lines of this test, captured from a subscriber set for the current thread (the
/// tests run on tokio's current-thread runtime, so the server's tasks log here too).
#[derive(Clone, Default)]
pub(crate) struct LogCapture {
    lines: Arc<Mutex<Vec<u8>>>,
    _guard: Option<Arc<tracing::subscriber::DefaultGuard>>,
}

impl LogCapture {
    /// Captures `info` and above until the returned value is dropped.
    pub(crate) fn start() -> LogCapture {
        let lines: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = LogCapture {
            lines: lines.clone(),
            _guard: None,
        };
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        LogCapture {
            lines,
            _guard: Some(Arc::new(tracing::subscriber::set_default(subscriber))),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().unwrap()).into_owned()
    }

    /// Waits up to 5 s for a line containing `needle`; panics with the log otherwise.
    pub(crate) async fn wait_for(&self, needle: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.text().contains(needle) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no log line contains {needle:?}; the log:\n{}",
                self.text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lines.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
