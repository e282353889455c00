//! End to end through the gateway's TLS layer: a real tonic server (the health service) behind
//! `tls::incoming` on `127.0.0.1:0`, called by tonic clients holding certificates from a PKI
//! generated here with `hotline::pki`. With TLS 1.3 a refused client certificate does not fail
//! `connect()`, so every check makes an RPC over a new connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline::pki::{CertAuthority, CertSpec, IssuedCert};
use hotline_gateway::identity::{Identity, identity_of};
use hotline_gateway::tls::{ServerTls, TlsFiles, incoming, spawn_reloader};
use tempfile::TempDir;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::InterceptorLayer;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const FEDERATION: &str = "acme";

/// How long the certificates issued here are valid.
const ONE_DAY: time::Duration = time::Duration::days(1);

/// A certificate for site `tenant`/`site` of [`FEDERATION`], valid for a day, signed by `ca`.
fn site_cert(ca: &CertAuthority, tenant: &str, site: &str) -> IssuedCert {
    ca.issue_site(FEDERATION, tenant, site, ONE_DAY).unwrap()
}

/// A client certificate with exactly these URI SANs, valid for a day from `not_before`.
fn client_cert(ca: &CertAuthority, uris: &[&str], not_before: OffsetDateTime) -> IssuedCert {
    ca.issue_custom(CertSpec {
        uri_sans: uris.iter().map(|uri| (*uri).to_owned()).collect(),
        not_before,
        not_after: not_before + ONE_DAY,
        client_auth: true,
    })
    .unwrap()
}

/// The federation CA and the gateway's TLS files (with an empty CRL) in a temporary directory.
struct Fixture {
    _dir: TempDir,
    ca: CertAuthority,
    files: TlsFiles,
}

impl Fixture {
    fn new() -> Fixture {
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
    fn revoke(&self, revoked: &[&IssuedCert], crl_number: u64) {
        let serials: Vec<_> = revoked.iter().map(|cert| cert.serial.clone()).collect();
        self.write_crl(&self.ca.crl_pem(&serials, crl_number).unwrap());
    }

    fn write_crl(&self, pem: &str) {
        std::fs::write(self.files.crl.as_ref().unwrap(), pem).unwrap();
    }
}

/// A running server: health service behind our accept loop, with the CRL reloader, and an
/// interceptor that records each caller's identity (or refuses the call without one).
struct Gateway {
    addr: SocketAddr,
    tls: Arc<ServerTls>,
    seen: Arc<Mutex<Vec<Identity>>>,
    shutdown: CancellationToken,
    served: JoinHandle<Result<(), tonic::transport::Error>>,
    reloader: JoinHandle<()>,
}

impl Gateway {
    /// Starts serving; the listener is bound before this returns, so clients may connect at
    /// once (the kernel queues them until the accept loop takes them).
    async fn start(files: &TlsFiles, handshake_timeout: Duration) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = Arc::new(ServerTls::load(files).unwrap());
        let shutdown = CancellationToken::new();
        let reloader = spawn_reloader(
            tls.clone(),
            Duration::from_millis(50),
            shutdown.child_token(),
        );
        let connections = incoming(
            listener,
            tls.clone(),
            handshake_timeout,
            shutdown.child_token(),
        );
        let seen: Arc<Mutex<Vec<Identity>>> = Arc::default();
        let recorder = seen.clone();
        let check_identity = move |request: tonic::Request<()>| {
            let identity = identity_of(&request, FEDERATION).map_err(tonic::Status::from)?;
            recorder.lock().unwrap().push(identity);
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
            shutdown,
            served,
            reloader,
        }
    }

    /// Health Check over a new connection; on failure the status code (if the RPC got that far)
    /// and the whole error chain as text.
    async fn check(&self, ca_pem: &str, client: Option<&IssuedCert>) -> Result<(), String> {
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

    async fn stop(self) {
        self.shutdown.cancel();
        let served = tokio::time::timeout(Duration::from_secs(10), self.served)
            .await
            .expect("server did not stop within 10 s");
        served.unwrap().unwrap();
        self.reloader.await.unwrap();
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A site with a valid certificate is served, and the handler learns who it is from the
/// certificate: the base of all tenancy.
#[tokio::test]
async fn valid_site_cert_is_served_and_identified() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");

    gateway.check(fx.ca.cert_pem(), Some(&site)).await.unwrap();

    assert_eq!(
        *gateway.seen.lock().unwrap(),
        [Identity::Site {
            tenant: "partner-a".into(),
            site: "dortmund".into()
        }]
    );
    gateway.stop().await;
}

/// A certificate from another CA is refused, even though it names a plausible site.
#[tokio::test]
async fn client_of_another_ca_is_refused() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let stranger_ca = CertAuthority::generate("stranger").unwrap();
    let stranger = site_cert(&stranger_ca, "partner-a", "dortmund");

    let refused = gateway
        .check(fx.ca.cert_pem(), Some(&stranger))
        .await
        .unwrap_err();

    assert!(refused.contains("UnknownCA"), "{refused}");
    assert!(gateway.seen.lock().unwrap().is_empty());
    gateway.stop().await;
}

/// A client without a certificate is refused during the handshake, before any handler runs.
#[tokio::test]
async fn client_without_certificate_is_refused() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;

    let refused = gateway.check(fx.ca.cert_pem(), None).await.unwrap_err();

    assert!(refused.contains("CertificateRequired"), "{refused}");
    assert!(gateway.seen.lock().unwrap().is_empty());
    gateway.stop().await;
}

/// An expired certificate is refused, so a site that missed its renewal cannot sync.
#[tokio::test]
async fn expired_client_cert_is_refused() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let uri = format!("spiffe://{FEDERATION}/tenant/partner-a/site/dortmund");
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    let expired = client_cert(&fx.ca, &[&uri], two_days_ago);

    let refused = gateway
        .check(fx.ca.cert_pem(), Some(&expired))
        .await
        .unwrap_err();

    assert!(refused.contains("CertificateExpired"), "{refused}");
    gateway.stop().await;
}

/// Writing a CRL that revokes a certificate locks it out of new connections without a
/// restart, while other certificates keep working (DESIGN.md section 5).
#[tokio::test]
async fn revoked_cert_is_refused_after_crl_reload_without_restart() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let doomed = site_cert(&fx.ca, "partner-a", "bochum");
    let kept = site_cert(&fx.ca, "partner-a", "essen");
    gateway
        .check(fx.ca.cert_pem(), Some(&doomed))
        .await
        .unwrap();

    fx.revoke(&[&doomed], 2);
    let mut refused = None;
    for _ in 0..250 {
        match gateway.check(fx.ca.cert_pem(), Some(&doomed)).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }

    let refused = refused.expect("the revoked certificate was still served after 5 s");
    assert!(refused.contains("CertificateRevoked"), "{refused}");
    gateway.check(fx.ca.cert_pem(), Some(&kept)).await.unwrap();
    gateway.stop().await;
}

/// A broken CRL file fails the reload with the file named and keeps the previous config, so a
/// bad write neither unrevokes certificates nor locks everyone out.
#[tokio::test]
async fn broken_crl_keeps_the_previous_config() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let doomed = site_cert(&fx.ca, "partner-a", "bochum");
    let kept = site_cert(&fx.ca, "partner-a", "essen");
    fx.revoke(&[&doomed], 2);
    gateway.tls.reload().unwrap();

    fx.write_crl("-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n");
    let err = gateway.tls.reload().unwrap_err();

    assert!(err.to_string().contains("crl.pem"), "{err}");
    let refused = gateway
        .check(fx.ca.cert_pem(), Some(&doomed))
        .await
        .unwrap_err();
    assert!(refused.contains("CertificateRevoked"), "{refused}");
    gateway.check(fx.ca.cert_pem(), Some(&kept)).await.unwrap();
    gateway.stop().await;
}

/// A client that connects and never says hello neither stalls other clients nor holds its
/// connection beyond the handshake timeout.
#[tokio::test]
async fn silent_client_neither_stalls_accepts_nor_lingers() {
    let fx = Fixture::new();
    let handshake_timeout = Duration::from_secs(2);
    let gateway = Gateway::start(&fx.files, handshake_timeout).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");
    let mut silent = TcpStream::connect(gateway.addr).await.unwrap();

    // Were handshakes done one at a time, this call would wait out the silent one's 2 s.
    let served = tokio::time::timeout(
        Duration::from_millis(1500),
        gateway.check(fx.ca.cert_pem(), Some(&site)),
    )
    .await;
    assert_eq!(served, Ok(Ok(())));

    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(handshake_timeout * 3, silent.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "silent connection still open"
    );
    gateway.stop().await;
}

/// A certificate the CA signed with two URI SANs passes TLS but names no single identity, so
/// the call is unauthenticated with a message saying what is allowed.
#[tokio::test]
async fn two_uri_sans_are_unauthenticated() {
    let fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let an_hour_ago = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let ambiguous = client_cert(
        &fx.ca,
        &[
            "spiffe://acme/tenant/partner-a/site/dortmund",
            "spiffe://acme/tenant/inhouse/site/hq",
        ],
        an_hour_ago,
    );

    let refused = gateway
        .check(fx.ca.cert_pem(), Some(&ambiguous))
        .await
        .unwrap_err();

    assert!(refused.contains("Unauthenticated"), "{refused}");
    assert!(refused.contains("2 URI SANs"), "{refused}");
    gateway.stop().await;
}
