//! End to end through the gateway's TLS layer: a real tonic server (the health service) behind
//! `tls::incoming` on `127.0.0.1:0`, called by tonic clients holding certificates from a PKI
//! generated here with `hotline_runtime::pki`. With TLS 1.3 a refused client certificate does not fail
//! `connect()`, so every check makes an RPC over a new connection.

#[path = "tls_accept/crl_expiry.rs"]
mod crl_expiry;
#[path = "tls_accept/fixture.rs"]
mod fixture;
#[path = "tls_accept/flood.rs"]
mod flood;

use std::time::Duration;

use hotline_gateway::identity::Identity;
use hotline_runtime::pki::CertAuthority;
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use fixture::{FEDERATION, Fixture, Gateway, client_cert, site_cert};

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
