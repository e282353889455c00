//! Unit tests of the certificate authority: what the issued certificates and CRLs contain, and
//! that rustls/webpki accepts or refuses them the way the gateway will.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};
use x509_parser::extensions::GeneralName;

use super::*;

fn der(pem: &str) -> Vec<u8> {
    x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .unwrap()
        .1
        .contents
}

fn uri_sans(cert_pem: &str) -> Vec<String> {
    let der = der(cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(uri.to_string()),
            _ => None,
        })
        .collect()
}

/// Checks `cert_pem` the way the gateway does: rustls/webpki with `ca_pem` and maybe a CRL.
fn verify(ca_pem: &str, crl_pem: Option<&str>, cert_pem: &str) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let crls =
        crl_pem.map(|pem| CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap());
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .with_crls(crls)
    .build()
    .unwrap();
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    verifier
        .verify_client_cert(&leaf, &[], UnixTime::now())
        .map(|_| ())
}

/// A site certificate names its holder in exactly one URI SAN, which the gateway relies on.
#[test]
fn site_cert_has_exactly_one_spiffe_uri() {
    let ca = CertAuthority::generate("acme").unwrap();
    let site = ca
        .issue_site("acme", "partner-a", "dortmund", Duration::days(30))
        .unwrap();
    assert_eq!(
        uri_sans(&site.cert_pem),
        ["spiffe://acme/tenant/partner-a/site/dortmund"]
    );
    let der = der(&site.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!cert.is_ca());
    assert_eq!(cert.raw_serial(), site.serial.as_bytes());
}

/// Staff certificates carry their role, and unknown roles are refused before signing.
#[test]
fn staff_cert_names_role_and_refuses_unknown_roles() {
    let ca = CertAuthority::generate("acme").unwrap();
    let auditor = ca
        .issue_staff("acme", "auditor", "erika", Duration::days(1))
        .unwrap();
    assert_eq!(
        uri_sans(&auditor.cert_pem),
        ["spiffe://acme/staff/auditor/erika"]
    );
    let err = ca
        .issue_staff("acme", "root", "erika", Duration::days(1))
        .unwrap_err();
    assert!(err.to_string().contains("allowed: admin, auditor"), "{err}");
}

/// Ids that could break the URI (upper case, slashes) are refused with the field named.
#[test]
fn bad_ids_are_refused_with_the_field_named() {
    let ca = CertAuthority::generate("acme").unwrap();
    for (tenant, site, field) in [
        ("Partner", "dortmund", "tenant"),
        ("partner", "a/b", "site"),
        ("partner", "", "site"),
    ] {
        let err = ca
            .issue_site("acme", tenant, site, Duration::days(1))
            .unwrap_err();
        let Error::Invalid(inner) = &err else {
            panic!("{err}");
        };
        assert_eq!(inner.field(), Some(field), "{err}");
    }
    let err = CertAuthority::generate("Acme/x").unwrap_err();
    assert!(err.to_string().contains("federation"), "{err}");
}

/// A certificate may not outlive its CA, or it would stop working without warning.
#[test]
fn validity_beyond_the_ca_is_refused() {
    let ca = CertAuthority::generate("acme").unwrap();
    let err = ca
        .issue_site("acme", "partner", "site", Duration::days(365 * 20))
        .unwrap_err();
    assert!(err.to_string().contains("outlive the CA"), "{err}");
    assert!(
        ca.issue_site("acme", "partner", "site", Duration::ZERO)
            .is_err()
    );
}

/// The CA may sign CRLs; without `cRLSign` webpki rejects every CRL it signs.
#[test]
fn ca_may_sign_certificates_and_crls() {
    let ca = CertAuthority::generate("acme").unwrap();
    let der = der(ca.cert_pem());
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.crl_sign() && usage.key_cert_sign() && usage.digital_signature());
    assert!(cert.is_ca());
    let cn = cert.subject().iter_common_name().next().unwrap();
    assert!(
        cn.as_str()
            .unwrap()
            .starts_with("Virtual Hotline acme CA 20"),
        "{cn:?}"
    );
    let other = CertAuthority::generate("acme").unwrap();
    let other_der = self::der(other.cert_pem());
    let (_, other_cert) = x509_parser::parse_x509_certificate(&other_der).unwrap();
    assert_ne!(
        cert.subject(),
        other_cert.subject(),
        "two CAs must not share a name (CRLs are matched by issuer name)"
    );
    let years =
        (cert.validity().not_after.to_datetime() - OffsetDateTime::now_utc()).whole_days() / 365;
    assert_eq!(years, 10);
}

/// The CRL lists exactly the revoked serial, so the gateway refuses that certificate only.
#[test]
fn crl_lists_the_revoked_serial() {
    let ca = CertAuthority::generate("acme").unwrap();
    let revoked = ca
        .issue_site("acme", "partner", "bochum", Duration::days(1))
        .unwrap();
    let kept = ca
        .issue_site("acme", "partner", "essen", Duration::days(1))
        .unwrap();
    assert_ne!(revoked.serial, kept.serial);
    let crl_pem = ca
        .crl_pem(std::slice::from_ref(&revoked.serial), 7)
        .unwrap();
    let crl_der = der(&crl_pem);
    let (_, crl) = x509_parser::parse_x509_crl(&crl_der).unwrap();
    let serials: Vec<&[u8]> = crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial())
        .collect();
    assert_eq!(serials, [revoked.serial.as_bytes()]);
    assert_eq!(crl.crl_number().unwrap().to_string(), "7");
    let next = crl.next_update().unwrap().to_datetime() - crl.last_update().to_datetime();
    assert_eq!(next, CRL_VALIDITY);

    assert!(matches!(
        verify(ca.cert_pem(), Some(&crl_pem), &revoked.cert_pem),
        Err(rustls::Error::InvalidCertificate(CertificateError::Revoked))
    ));
    verify(ca.cert_pem(), Some(&crl_pem), &kept.cert_pem).unwrap();
}

/// A CA loaded back from its PEM files signs certificates and CRLs that verify against the
/// original CA certificate, so `hotline pki` can issue across runs.
#[test]
fn from_pem_round_trip_signs_verifiable_certs() {
    let ca = CertAuthority::generate("acme").unwrap();
    let reloaded = CertAuthority::from_pem(ca.cert_pem(), ca.key_pem()).unwrap();
    assert_eq!(reloaded.cert_pem(), ca.cert_pem());
    let site = reloaded
        .issue_site("acme", "partner", "dortmund", Duration::days(1))
        .unwrap();
    verify(ca.cert_pem(), None, &site.cert_pem).unwrap();
    let crl = reloaded
        .crl_pem(std::slice::from_ref(&site.serial), 1)
        .unwrap();
    assert!(verify(ca.cert_pem(), Some(&crl), &site.cert_pem).is_err());

    let other = CertAuthority::generate("acme").unwrap();
    assert!(verify(other.cert_pem(), None, &site.cert_pem).is_err());
}

/// Loading a CA with somebody else's key is refused, not discovered at the first handshake.
#[test]
fn from_pem_refuses_a_foreign_key_and_a_leaf() {
    let ca = CertAuthority::generate("acme").unwrap();
    let other = CertAuthority::generate("acme").unwrap();
    let err = CertAuthority::from_pem(ca.cert_pem(), other.key_pem()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");

    let leaf = ca
        .issue_site("acme", "partner", "dortmund", Duration::days(1))
        .unwrap();
    let err = CertAuthority::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
    assert!(err.to_string().contains("not a CA"), "{err}");
}

/// A server certificate names its DNS names and addresses, so clients can check the gateway.
#[test]
fn server_cert_carries_dns_and_ip_sans() {
    let ca = CertAuthority::generate("acme").unwrap();
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let cert = ca
        .issue_server(&["localhost"], &[ip], Duration::days(1))
        .unwrap();
    let der = der(&cert.cert_pem);
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = parsed.subject_alternative_name().unwrap().unwrap();
    assert_eq!(
        san.value.general_names,
        [
            GeneralName::DNSName("localhost"),
            GeneralName::IPAddress(&[127, 0, 0, 1])
        ]
    );
    assert!(
        parsed
            .extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert!(ca.issue_server(&[], &[], Duration::days(1)).is_err());
}

/// Custom certificates really carry what the spec says, so negative tests test something.
#[test]
fn custom_cert_carries_two_uris_and_an_expired_window() {
    let ca = CertAuthority::generate("acme").unwrap();
    let now = OffsetDateTime::now_utc();
    let uris = vec![
        "spiffe://acme/tenant/a/site/x".to_owned(),
        "spiffe://acme/tenant/b/site/y".to_owned(),
    ];
    let cert = ca
        .issue_custom(CertSpec {
            uri_sans: uris.clone(),
            not_before: now - Duration::days(2),
            not_after: now - Duration::days(1),
            client_auth: true,
        })
        .unwrap();
    assert_eq!(uri_sans(&cert.cert_pem), uris);
    assert!(matches!(
        verify(ca.cert_pem(), None, &cert.cert_pem),
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ExpiredContext { .. }
        ))
    ));
}

/// Serials print as hex and parse back, so an operator can revoke by serial.
#[test]
fn serial_hex_round_trips() {
    let ca = CertAuthority::generate("acme").unwrap();
    let cert = ca
        .issue_site("acme", "partner", "dortmund", Duration::days(1))
        .unwrap();
    let text = cert.serial.to_string();
    assert_eq!(text.len(), 2 * SERIAL_LEN);
    assert_eq!(Serial::from_hex(&text).unwrap(), cert.serial);
    assert!(Serial::from_hex("xyz").is_err());
}
