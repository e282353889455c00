//! End to end through the gateway's TLS layer: a real tonic server (the health service) behind
//! `tls::incoming` on `127.0.0.1:0`, called by tonic clients holding certificates from a PKI
//! generated here. With TLS 1.3 a refused client certificate does not fail `connect()`, so
//! every check makes an RPC over a new connection.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hotline_gateway::identity::{Identity, identity_of};
use hotline_gateway::tls::{ServerTls, TlsFiles, incoming, spawn_reloader};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
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

/// A test CA that signs leaves and CRLs.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    next_serial: u64,
}

/// An issued certificate with its key.
struct Leaf {
    cert: String,
    key: String,
    serial: SerialNumber,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            issuer: Issuer::new(params, key),
            pem,
            next_serial: 1,
        }
    }

    fn leaf(
        &mut self,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Leaf {
        let serial = SerialNumber::from(self.next_serial);
        self.next_serial += 1;
        let mut params = CertificateParams::default();
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![usage];
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = not_before;
        params.not_after = not_after;
        params.serial_number = Some(serial.clone());
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap().pem();
        Leaf {
            cert,
            key: key.serialize_pem(),
            serial,
        }
    }

    fn client(&mut self, uris: &[&str], not_before: OffsetDateTime, days: i64) -> Leaf {
        let sans = uris
            .iter()
            .map(|uri| SanType::URI((*uri).try_into().unwrap()))
            .collect();
        let not_after = not_before + time::Duration::days(days);
        self.leaf(
            sans,
            ExtendedKeyUsagePurpose::ClientAuth,
            not_before,
            not_after,
        )
    }

    fn site(&mut self, tenant: &str, site: &str) -> Leaf {
        let uri = format!("spiffe://{FEDERATION}/tenant/{tenant}/site/{site}");
        self.client(&[&uri], an_hour_ago(), 1)
    }

    fn server(&mut self) -> Leaf {
        let sans = vec![
            SanType::DnsName("localhost".try_into().unwrap()),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        let not_after = OffsetDateTime::now_utc() + time::Duration::days(1);
        self.leaf(
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            an_hour_ago(),
            not_after,
        )
    }

    fn crl(&self, revoked: &[&Leaf], number: u64) -> String {
        let now = OffsetDateTime::now_utc();
        CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(7),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|leaf| RevokedCertParams {
                    serial_number: leaf.serial.clone(),
                    revocation_time: now,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }
}

fn an_hour_ago() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::hours(1)
}

/// The federation CA and the gateway's TLS files (with an empty CRL) in a temporary directory.
struct Fixture {
    _dir: TempDir,
    ca: TestCa,
    files: TlsFiles,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut ca = TestCa::new(FEDERATION);
        let server = ca.server();
        let files = TlsFiles {
            ca_cert: dir.path().join("ca.pem"),
            cert: dir.path().join("gateway.pem"),
            key: dir.path().join("gateway.key"),
            crl: Some(dir.path().join("crl.pem")),
        };
        std::fs::write(&files.ca_cert, &ca.pem).unwrap();
        std::fs::write(&files.cert, &server.cert).unwrap();
        std::fs::write(&files.key, &server.key).unwrap();
        std::fs::write(files.crl.as_ref().unwrap(), ca.crl(&[], 1)).unwrap();
        Fixture {
            _dir: dir,
            ca,
            files,
        }
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
    async fn check(&self, ca_pem: &str, client: Option<&Leaf>) -> Result<(), String> {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        if let Some(leaf) = client {
            tls = tls.identity(tonic::transport::Identity::from_pem(&leaf.cert, &leaf.key));
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
    let mut fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let site = fx.ca.site("partner-a", "dortmund");

    gateway.check(&fx.ca.pem, Some(&site)).await.unwrap();

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
    let mut stranger_ca = TestCa::new("stranger");
    let stranger = stranger_ca.site("partner-a", "dortmund");

    let refused = gateway
        .check(&fx.ca.pem, Some(&stranger))
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

    let refused = gateway.check(&fx.ca.pem, None).await.unwrap_err();

    assert!(refused.contains("CertificateRequired"), "{refused}");
    assert!(gateway.seen.lock().unwrap().is_empty());
    gateway.stop().await;
}

/// An expired certificate is refused, so a site that missed its renewal cannot sync.
#[tokio::test]
async fn expired_client_cert_is_refused() {
    let mut fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let uri = format!("spiffe://{FEDERATION}/tenant/partner-a/site/dortmund");
    let two_days_ago = OffsetDateTime::now_utc() - time::Duration::days(2);
    let expired = fx.ca.client(&[&uri], two_days_ago, 1);

    let refused = gateway.check(&fx.ca.pem, Some(&expired)).await.unwrap_err();

    assert!(refused.contains("CertificateExpired"), "{refused}");
    gateway.stop().await;
}

/// Writing a CRL that revokes a certificate locks it out of new connections without a
/// restart, while other certificates keep working (DESIGN.md section 5).
#[tokio::test]
async fn revoked_cert_is_refused_after_crl_reload_without_restart() {
    let mut fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let doomed = fx.ca.site("partner-a", "bochum");
    let kept = fx.ca.site("partner-a", "essen");
    gateway.check(&fx.ca.pem, Some(&doomed)).await.unwrap();

    fx.write_crl(&fx.ca.crl(&[&doomed], 2));
    let mut refused = None;
    for _ in 0..250 {
        match gateway.check(&fx.ca.pem, Some(&doomed)).await {
            Ok(()) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(error) => {
                refused = Some(error);
                break;
            }
        }
    }

    let refused = refused.expect("the revoked certificate was still served after 5 s");
    assert!(refused.contains("CertificateRevoked"), "{refused}");
    gateway.check(&fx.ca.pem, Some(&kept)).await.unwrap();
    gateway.stop().await;
}

/// A broken CRL file fails the reload with the file named and keeps the previous config, so a
/// bad write neither unrevokes certificates nor locks everyone out.
#[tokio::test]
async fn broken_crl_keeps_the_previous_config() {
    let mut fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let doomed = fx.ca.site("partner-a", "bochum");
    let kept = fx.ca.site("partner-a", "essen");
    fx.write_crl(&fx.ca.crl(&[&doomed], 2));
    gateway.tls.reload().unwrap();

    fx.write_crl("-----BEGIN X509 CRL-----\nbm90IGEgY3Js\n-----END X509 CRL-----\n");
    let err = gateway.tls.reload().unwrap_err();

    assert!(err.to_string().contains("crl.pem"), "{err}");
    let refused = gateway.check(&fx.ca.pem, Some(&doomed)).await.unwrap_err();
    assert!(refused.contains("CertificateRevoked"), "{refused}");
    gateway.check(&fx.ca.pem, Some(&kept)).await.unwrap();
    gateway.stop().await;
}

/// A client that connects and never says hello neither stalls other clients nor holds its
/// connection beyond the handshake timeout.
#[tokio::test]
async fn silent_client_neither_stalls_accepts_nor_lingers() {
    let mut fx = Fixture::new();
    let handshake_timeout = Duration::from_secs(2);
    let gateway = Gateway::start(&fx.files, handshake_timeout).await;
    let site = fx.ca.site("partner-a", "dortmund");
    let mut silent = TcpStream::connect(gateway.addr).await.unwrap();

    // Were handshakes done one at a time, this call would wait out the silent one's 2 s.
    let served = tokio::time::timeout(
        Duration::from_millis(1500),
        gateway.check(&fx.ca.pem, Some(&site)),
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
    let mut fx = Fixture::new();
    let gateway = Gateway::start(&fx.files, Duration::from_secs(5)).await;
    let ambiguous = fx.ca.client(
        &[
            "spiffe://acme/tenant/partner-a/site/dortmund",
            "spiffe://acme/tenant/inhouse/site/hq",
        ],
        an_hour_ago(),
        1,
    );

    let refused = gateway
        .check(&fx.ca.pem, Some(&ambiguous))
        .await
        .unwrap_err();

    assert!(refused.contains("Unauthenticated"), "{refused}");
    assert!(refused.contains("2 URI SANs"), "{refused}");
    gateway.stop().await;
}
