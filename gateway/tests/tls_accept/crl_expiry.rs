//! An expired CRL (review hole 16): past its nextUpdate a CRL may miss revocations, so by
//! default every client is refused until an operator renews it with `hotline pki crl`, which
//! the gateway reloads without a restart. With TLS 1.3 the refusal shows on the first RPC.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use hotline_gateway::tls::{AcceptLimits, CrlExpired, CrlPolicy, ServerTls, TlsFiles};
use hotline_runtime::pki::{CRL_VALIDITY, CertAuthority, IssuedCert};
use hotline_runtime::pki_dir::PkiDir;
use tempfile::TempDir;
use time::OffsetDateTime;

use crate::fixture::{FEDERATION, Fixture, Gateway, LogCapture, ONE_DAY, site_cert};

/// A CRL of `ca` revoking nothing, current from `days_from`..`days_to` days from now.
fn crl_between(ca: &CertAuthority, number: u64, days_from: i64, days_to: i64) -> String {
    let now = OffsetDateTime::now_utc();
    ca.crl_pem_between(
        &[],
        number,
        now + time::Duration::days(days_from),
        now + time::Duration::days(days_to),
    )
    .unwrap()
}

async fn start(fx: &Fixture, expired: CrlExpired) -> Gateway {
    let policy = CrlPolicy {
        expired,
        ..CrlPolicy::default()
    };
    let tls = Arc::new(ServerTls::load_with(&fx.files, policy).unwrap());
    Gateway::start_with(tls, AcceptLimits::default()).await
}

/// A CRL that expired yesterday refuses a valid site by default, and the gateway's log says
/// why and how to fix it: failing closed, because revocations since then are unknown.
#[tokio::test]
async fn expired_crl_refuses_clients_by_default() {
    let logs = LogCapture::start();
    let fx = Fixture::new();
    fx.write_crl(&crl_between(&fx.ca, 2, -8, -1));
    let gateway = start(&fx, CrlExpired::Refuse).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");

    let refused = gateway
        .check(fx.ca.cert_pem(), Some(&site))
        .await
        .unwrap_err();

    assert!(refused.contains("UnknownCA"), "{refused}");
    assert!(gateway.seen.lock().unwrap().is_empty());
    logs.wait_for("certificate revocation list expired").await;
    logs.wait_for("every client certificate is refused").await;
    logs.wait_for("hotline pki crl").await;
    gateway.stop().await;
}

/// With `tls.crl_expired = "warn"` the same expired CRL still serves the site, and the log
/// warns that the CRL has expired: an operator's explicit choice of availability.
#[tokio::test]
async fn expired_crl_in_warn_mode_accepts_with_a_warning() {
    let logs = LogCapture::start();
    let fx = Fixture::new();
    fx.write_crl(&crl_between(&fx.ca, 2, -8, -1));
    let gateway = start(&fx, CrlExpired::Warn).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");

    gateway.check(fx.ca.cert_pem(), Some(&site)).await.unwrap();

    logs.wait_for("the CRL has expired; clients are still accepted")
        .await;
    gateway.stop().await;
}

/// A CRL with less than 30% of its validity left still serves clients but warns that it
/// expires soon, so the operator renews it before anyone is locked out.
#[tokio::test]
async fn expiring_crl_warns_ahead() {
    let logs = LogCapture::start();
    let fx = Fixture::new();
    fx.write_crl(&crl_between(&fx.ca, 2, -6, 1));
    let gateway = start(&fx, CrlExpired::Refuse).await;
    let site = site_cert(&fx.ca, "partner-a", "dortmund");

    gateway.check(fx.ca.cert_pem(), Some(&site)).await.unwrap();

    logs.wait_for("the CRL expires soon").await;
    gateway.stop().await;
}

/// A PKI directory as `hotline pki` keeps it, with the gateway's files in it.
struct PkiFixture {
    _tmp: TempDir,
    dir: PkiDir,
    files: TlsFiles,
}

impl PkiFixture {
    fn new() -> PkiFixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = PkiDir::new(tmp.path().join("pki"));
        let ca = dir.init(FEDERATION, false).unwrap();
        let server = ca
            .issue_server(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], ONE_DAY)
            .unwrap();
        dir.store("gateway", &server, false).unwrap();
        let files = TlsFiles {
            ca_cert: dir.path("ca.pem"),
            cert: dir.path("gateway.pem"),
            key: dir.path("gateway.key"),
            crl: Some(dir.path("federation.crl")),
        };
        PkiFixture {
            _tmp: tmp,
            dir,
            files,
        }
    }

    fn site(&self, site: &str) -> IssuedCert {
        site_cert(&self.dir.ca().unwrap(), "partner-a", site)
    }
}

/// After the CRL expired and the gateway refuses everyone, `hotline pki crl` (its library
/// call, `PkiDir::renew_crl`) lets the site in again without a gateway restart, and a
/// certificate revoked before stays revoked: the fix the operator is told to run works.
#[tokio::test]
async fn renewed_crl_is_accepted_again_without_restart() {
    let pki = PkiFixture::new();
    let site = pki.site("dortmund");
    let revoked = pki.site("bochum");
    pki.dir.revoke(&revoked.serial).unwrap();
    let ca = pki.dir.ca().unwrap();
    let now = OffsetDateTime::now_utc();
    let expired = ca
        .crl_pem_between(
            std::slice::from_ref(&revoked.serial),
            2,
            now - time::Duration::days(8),
            now - time::Duration::days(1),
        )
        .unwrap();
    std::fs::write(pki.dir.path("federation.crl"), expired).unwrap();
    let tls = Arc::new(ServerTls::load(&pki.files).unwrap());
    let gateway = Gateway::start_with(tls, AcceptLimits::default()).await;
    let ca_pem = ca.cert_pem();
    let refused = gateway.check(ca_pem, Some(&site)).await.unwrap_err();
    assert!(refused.contains("UnknownCA"), "{refused}");

    pki.dir.renew_crl(CRL_VALIDITY).unwrap();
    let mut served = Err(String::new());
    for _ in 0..250 {
        served = gateway.check(ca_pem, Some(&site)).await;
        if served.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    served.expect("the site was still refused 5 s after the CRL was renewed");
    let still_revoked = gateway.check(ca_pem, Some(&revoked)).await.unwrap_err();
    assert!(
        still_revoked.contains("CertificateRevoked"),
        "{still_revoked}"
    );
    gateway.stop().await;
}
