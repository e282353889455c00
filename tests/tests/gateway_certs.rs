//! Certificates the gateway must refuse, each tried with a real RPC (with TLS 1.3 a refused
//! client certificate does not fail the connect, only the first call).

use hotline::pki::{CertAuthority, CertSpec};
use hotline_proto::v1 as pb;
use hotline_proto::v1::federation_client::FederationClient;
use hotline_tests::harness::{FEDERATION, Pki, RunningGateway, channel_with_ca, federation_config};
use time::{Duration, OffsetDateTime};

async fn lease_with(
    client: &mut FederationClient<tonic::transport::Channel>,
) -> Result<pb::LeaseResponse, tonic::Status> {
    client
        .lease(pb::LeaseRequest { count: 1 })
        .await
        .map(|r| r.into_inner())
}

fn site_uri(tenant: &str, site: &str) -> String {
    format!("spiffe://{FEDERATION}/tenant/{tenant}/site/{site}")
}

/// No certificate, a foreign CA, an expired certificate, two URI SANs, another federation,
/// a staff certificate and an unregistered site are all refused; a valid site is served.
#[tokio::test]
async fn bad_certificates_are_refused() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let ca_pem = pki.ca.cert_pem().to_owned();
    let client = |cert| {
        let ca_pem = ca_pem.clone();
        let addr = gateway.addr;
        async move {
            anyhow::Ok(FederationClient::new(
                channel_with_ca(addr, &ca_pem, cert).await?,
            ))
        }
    };

    let good = pki.site("twenty4help", "dortmund")?;
    lease_with(&mut client(Some(&good)).await?).await?;

    let refused = |result: Result<pb::LeaseResponse, tonic::Status>, what: &str| -> tonic::Status {
        let status = result.expect_err(what);
        assert_ne!(status.code(), tonic::Code::Ok, "{what}");
        status
    };

    refused(
        lease_with(&mut client(None).await?).await,
        "no client certificate",
    );

    let stranger = CertAuthority::generate(FEDERATION)?;
    let foreign = stranger.issue_site(FEDERATION, "twenty4help", "dortmund", Duration::days(1))?;
    refused(
        lease_with(&mut client(Some(&foreign)).await?).await,
        "certificate of another CA",
    );

    let now = OffsetDateTime::now_utc();
    let expired = pki.ca.issue_custom(CertSpec {
        uri_sans: vec![site_uri("twenty4help", "dortmund")],
        not_before: now - Duration::days(10),
        not_after: now - Duration::days(1),
        client_auth: true,
    })?;
    refused(
        lease_with(&mut client(Some(&expired)).await?).await,
        "expired certificate",
    );

    let twice = pki.ca.issue_custom(CertSpec {
        uri_sans: vec![
            site_uri("twenty4help", "dortmund"),
            site_uri("inhouse", "munich"),
        ],
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(1),
        client_auth: true,
    })?;
    let status = refused(
        lease_with(&mut client(Some(&twice)).await?).await,
        "two URI SANs",
    );
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("2 URI SANs"), "{status:?}");

    let other = pki
        .ca
        .issue_site("globex", "twenty4help", "dortmund", Duration::days(1))?;
    let status = refused(
        lease_with(&mut client(Some(&other)).await?).await,
        "another federation",
    );
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");

    let staff = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", Duration::days(1))?;
    let status = refused(
        lease_with(&mut client(Some(&staff)).await?).await,
        "staff certificate",
    );
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");

    let unknown = pki.site("twenty4help", "hamburg")?;
    let status = refused(
        lease_with(&mut client(Some(&unknown)).await?).await,
        "unregistered site",
    );
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("not registered"), "{status:?}");

    let wrong_tenant = pki.site("helpbycom", "dortmund")?;
    let status = refused(
        lease_with(&mut client(Some(&wrong_tenant)).await?).await,
        "site of another tenant",
    );
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    gateway.stop().await
}

/// A certificate revoked in the CRL file is refused on new connections once the file changes,
/// without restarting the gateway; other certificates keep working.
#[tokio::test]
async fn revoked_certificate_is_refused_after_crl_change() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let doomed = pki.site("helpbycom", "erfurt")?;
    let other = pki.site("twenty4help", "dortmund")?;
    lease_with(&mut gateway.client(&pki, &doomed).await?).await?;

    pki.write_crl(&[&doomed], 2)?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // A new channel each time: a CRL applies to new handshakes.
        let result = lease_with(&mut gateway.client(&pki, &doomed).await?).await;
        if result.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "revoked certificate still served after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    lease_with(&mut gateway.client(&pki, &other).await?).await?;
    gateway.stop().await
}
