//! The federation's certificate authority (DESIGN.md section 5): one self-signed CA per
//! federation that issues site, staff and server certificates and signs revocation lists.
//!
//! Every client certificate carries exactly one URI SAN naming its holder:
//!
//! - `spiffe://<federation>/tenant/<tenant>/site/<site>` for a site's adapter,
//! - `spiffe://<federation>/staff/<admin|auditor>/<name>` for in-house staff.
//!
//! The gateway parses the same form (`hotline_gateway::identity`); the two must stay in step.

use std::fmt;
use std::net::IpAddr;

use hotline_federation::ids::check_slug;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use time::{Duration, OffsetDateTime};
use x509_parser::certificate::X509Certificate;

use crate::error::{Error, Result};

/// How long a generated CA certificate is valid: ten years.
pub const CA_VALIDITY: Duration = Duration::days(3652);

/// How long a CRL is current: its next update lies a week after it was signed.
pub const CRL_VALIDITY: Duration = Duration::days(7);

/// The staff roles a staff certificate can name.
pub const STAFF_ROLES: [&str; 2] = ["admin", "auditor"];

/// How far a new certificate's not-before lies in the past, so that a verifier whose clock runs
/// a few minutes behind ours still accepts it.
const BACKDATE: Duration = Duration::minutes(5);

/// Random bytes in a serial number (RFC 5280 allows up to 20 octets).
const SERIAL_LEN: usize = 16;

/// Longest federation name (a SPIFFE trust domain), in characters.
const MAX_FEDERATION_LEN: usize = 255;

/// A federation's certificate authority: its certificate, its key and what it needs to sign.
pub struct CertAuthority {
    cert_pem: String,
    key_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate's subject key identifier, repeated in the CRLs it signs.
    key_id: Option<Vec<u8>>,
    not_after: OffsetDateTime,
}

/// A freshly issued certificate with its private key.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The certificate's private key (PKCS#8), PEM encoded.
    pub key_pem: String,
    /// The certificate's serial number, to revoke it with [`CertAuthority::crl_pem`].
    pub serial: Serial,
}

/// What [`CertAuthority::issue_custom`] puts into a certificate; for tests of certificates the
/// gateway must refuse (expired, two URI SANs, no `clientAuth`).
#[derive(Clone, Debug)]
pub struct CertSpec {
    /// URI SANs, written as given (no validation).
    pub uri_sans: Vec<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// `true` for extended key usage `clientAuth`; `false` gives `serverAuth` only.
    pub client_auth: bool,
}

/// A certificate serial number as the CA wrote it; shown and parsed as lower-case hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial: [`SERIAL_LEN`] bytes, the first in `0x40..=0x7f` so the number is
    /// positive and its DER encoding is exactly these bytes.
    fn random() -> Result<Serial> {
        let mut bytes = vec![0u8; SERIAL_LEN];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut bytes)
            .map_err(|_| Error::pki("serial number", "the system random generator failed"))?;
        bytes[0] = (bytes[0] & 0x3f) | 0x40;
        Ok(Serial(bytes))
    }

    /// Parses a serial printed by [`Serial`]'s `Display` (hex, optionally with `:` between bytes).
    pub fn from_hex(text: &str) -> Result<Serial> {
        let bad = || {
            hotline_federation::Error::invalid(
                "serial",
                format!(
                    "{text:?} is not a serial number; expected 1 to 20 bytes in hex, e.g. \
                     4f0a9c..."
                ),
            )
        };
        let digits: Vec<u8> = text.bytes().filter(|b| *b != b':').collect();
        if digits.is_empty() || digits.len() % 2 != 0 || digits.len() > 40 {
            return Err(bad().into());
        }
        let nibble = |b: u8| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let mut bytes = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks(2) {
            match (nibble(pair[0]), nibble(pair[1])) {
                (Some(high), Some(low)) => bytes.push(high << 4 | low),
                _ => return Err(bad().into()),
            }
        }
        Ok(Serial(bytes))
    }

    /// The serial's bytes, big-endian.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority")
            .field("not_after", &self.not_after)
            .field("key", &"[elided]")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("serial", &self.serial)
            .field("key_pem", &"[elided]")
            .finish_non_exhaustive()
    }
}

/// One end-entity certificate to sign.
struct Leaf {
    common_name: String,
    sans: Vec<SanType>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    usage: ExtendedKeyUsagePurpose,
}

impl CertAuthority {
    /// Generates a new self-signed CA for `federation`, named `Virtual Hotline <federation> CA <creation time>`
    /// and valid for [`CA_VALIDITY`]; it may sign certificates and CRLs.
    pub fn generate(federation: &str) -> Result<CertAuthority> {
        check_federation(federation)?;
        let key = KeyPair::generate().map_err(|e| Error::pki("generating the CA key", e))?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        // A CA of its own name (date and time of creation), so a CRL is matched to the right CA
        // while an old and a new CA overlap during a CA change.
        let created = OffsetDateTime::now_utc();
        params.distinguished_name = common_name(&format!(
            "Virtual Hotline {federation} CA {:04}-{:02}-{:02}T{:02}{:02}{:02}.{:09}",
            created.year(),
            u8::from(created.month()),
            created.day(),
            created.hour(),
            created.minute(),
            created.second(),
            created.nanosecond()
        ));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = now - BACKDATE;
        params.not_after = now + CA_VALIDITY;
        params.serial_number = Some(SerialNumber::from_slice(Serial::random()?.as_bytes()));
        let cert = params
            .self_signed(&key)
            .map_err(|e| Error::pki("signing the CA certificate", e))?;
        CertAuthority::from_pem(&cert.pem(), &key.serialize_pem())
    }

    /// Loads a CA from its certificate and private key (both PEM). Refuses a certificate that
    /// is not a CA or may not sign certificates and CRLs, and a key that does not belong to it.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<CertAuthority> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
            .map_err(|e| Error::pki("CA certificate", format!("not PEM: {e}")))?;
        if pem.label != "CERTIFICATE" {
            return Err(Error::pki(
                "CA certificate",
                format!("PEM block is {:?}; expected CERTIFICATE", pem.label),
            ));
        }
        let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents)
            .map_err(|e| Error::pki("CA certificate", format!("not an X.509 certificate: {e}")))?;
        check_ca(&cert)?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| Error::pki("CA key", format!("not a PEM private key: {e}")))?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(Error::pki(
                "CA key",
                "does not belong to the CA certificate (their public keys differ)",
            ));
        }
        let key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(id.0.to_vec())
                }
                _ => None,
            });
        let not_after = cert.validity().not_after.to_datetime();
        let issuer = Issuer::from_ca_cert_der(&pem.contents.as_slice().into(), key)
            .map_err(|e| Error::pki("CA certificate", e))?;
        Ok(CertAuthority {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
            issuer,
            key_id,
            not_after,
        })
    }

    /// The CA certificate, PEM encoded; every gateway and adapter trusts it.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA's private key, PEM encoded; keep it offline.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// When the CA certificate expires; nothing it issues may outlive it.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Issues a site's client certificate, named
    /// `spiffe://<federation>/tenant/<tenant>/site/<site>`, valid from now for `validity`.
    pub fn issue_site(
        &self,
        federation: &str,
        tenant: &str,
        site: &str,
        validity: Duration,
    ) -> Result<IssuedCert> {
        check_federation(federation)?;
        check_slug("tenant", tenant)?;
        check_slug("site", site)?;
        let (not_before, not_after) = self.window(validity)?;
        self.sign(Leaf {
            common_name: format!("site {tenant}/{site}"),
            sans: vec![uri_san(&format!(
                "spiffe://{federation}/tenant/{tenant}/site/{site}"
            ))?],
            not_before,
            not_after,
            usage: ExtendedKeyUsagePurpose::ClientAuth,
        })
    }

    /// Issues a staff member's client certificate, named
    /// `spiffe://<federation>/staff/<role>/<name>`; `role` is `admin` or `auditor`.
    pub fn issue_staff(
        &self,
        federation: &str,
        role: &str,
        name: &str,
        validity: Duration,
    ) -> Result<IssuedCert> {
        check_federation(federation)?;
        if !STAFF_ROLES.contains(&role) {
            return Err(hotline_federation::Error::invalid(
                "role",
                format!("{role:?} is not a staff role; allowed: admin, auditor"),
            )
            .into());
        }
        check_slug("name", name)?;
        let (not_before, not_after) = self.window(validity)?;
        self.sign(Leaf {
            common_name: format!("{role} {name}"),
            sans: vec![uri_san(&format!(
                "spiffe://{federation}/staff/{role}/{name}"
            ))?],
            not_before,
            not_after,
            usage: ExtendedKeyUsagePurpose::ClientAuth,
        })
    }

    /// Issues a server certificate (a gateway's) for the given DNS names and IP addresses.
    pub fn issue_server(
        &self,
        dns_names: &[&str],
        ips: &[IpAddr],
        validity: Duration,
    ) -> Result<IssuedCert> {
        let Some(first) = dns_names
            .first()
            .map(|name| name.to_string())
            .or_else(|| ips.first().map(IpAddr::to_string))
        else {
            return Err(hotline_federation::Error::invalid(
                "names",
                "a server certificate needs at least one DNS name or IP address",
            )
            .into());
        };
        let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
        for name in dns_names {
            let ia5 = (*name).try_into().map_err(|_| {
                hotline_federation::Error::invalid(
                    "dns_names",
                    format!("{name:?} is not a DNS name; allowed: ASCII letters, digits, '-', '.'"),
                )
            })?;
            sans.push(SanType::DnsName(ia5));
        }
        sans.extend(ips.iter().copied().map(SanType::IpAddress));
        let (not_before, not_after) = self.window(validity)?;
        self.sign(Leaf {
            common_name: first,
            sans,
            not_before,
            not_after,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
        })
    }

    /// Issues whatever `spec` says, unchecked; for tests that need a bad certificate.
    pub fn issue_custom(&self, spec: CertSpec) -> Result<IssuedCert> {
        let CertSpec {
            uri_sans,
            not_before,
            not_after,
            client_auth,
        } = spec;
        let sans = uri_sans
            .iter()
            .map(|uri| uri_san(uri))
            .collect::<Result<Vec<_>>>()?;
        self.sign(Leaf {
            common_name: "custom test certificate".to_owned(),
            sans,
            not_before,
            not_after,
            usage: if client_auth {
                ExtendedKeyUsagePurpose::ClientAuth
            } else {
                ExtendedKeyUsagePurpose::ServerAuth
            },
        })
    }

    /// The validity window of a certificate issued now for `validity`.
    fn window(&self, validity: Duration) -> Result<(OffsetDateTime, OffsetDateTime)> {
        let invalid = |problem: String| -> Error {
            hotline_federation::Error::invalid("validity", problem).into()
        };
        if !validity.is_positive() {
            return Err(invalid(format!("{validity} is not a positive duration")));
        }
        let now = OffsetDateTime::now_utc();
        match now.checked_add(validity) {
            Some(not_after) if not_after <= self.not_after => Ok((now - BACKDATE, not_after)),
            _ => Err(invalid(format!(
                "{validity} would outlive the CA, which expires on {}; choose a shorter validity",
                self.not_after.date()
            ))),
        }
    }

    /// Signs `leaf` with a fresh key and a fresh random serial.
    fn sign(&self, leaf: Leaf) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(|e| Error::pki("generating a key", e))?;
        let serial = Serial::random()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name(&leaf.common_name);
        params.subject_alt_names = leaf.sans;
        params.not_before = leaf.not_before;
        params.not_after = leaf.not_after;
        params.serial_number = Some(SerialNumber::from_slice(serial.as_bytes()));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![leaf.usage];
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| Error::pki("signing the certificate", e))?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial,
        })
    }
}

/// Checks that `cert` is a CA that may sign certificates and CRLs.
fn check_ca(cert: &X509Certificate<'_>) -> Result<()> {
    let problem = |text: &str| Err(Error::pki("CA certificate", text));
    match cert.basic_constraints() {
        Ok(Some(constraints)) if constraints.value.ca => {}
        Ok(_) => return problem("not a CA: basic constraints CA:TRUE is missing"),
        Err(e) => return problem(&format!("unreadable basic constraints: {e}")),
    }
    match cert.key_usage() {
        Ok(Some(usage)) if usage.value.key_cert_sign() && usage.value.crl_sign() => Ok(()),
        Ok(_) => problem("key usage must allow keyCertSign and cRLSign"),
        Err(e) => problem(&format!("unreadable key usage: {e}")),
    }
}

/// Checks a federation name: a SPIFFE trust domain of 1 to 255 characters of `a-z`, `0-9`,
/// `.`, `-` and `_`.
fn check_federation(federation: &str) -> Result<()> {
    let ok = !federation.is_empty()
        && federation.len() <= MAX_FEDERATION_LEN
        && federation
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(hotline_federation::Error::invalid(
            "federation",
            format!(
                "{federation:?} is not a federation name; allowed: 1 to {MAX_FEDERATION_LEN} \
                 characters of a-z, 0-9, '.', '-' and '_'"
            ),
        )
        .into())
    }
}

/// A distinguished name holding just a common name.
fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

/// A URI SAN; refuses text that is not ASCII.
fn uri_san(uri: &str) -> Result<SanType> {
    let ia5 = uri.try_into().map_err(|_| {
        hotline_federation::Error::invalid("uri", format!("{uri:?} is not an ASCII URI"))
    })?;
    Ok(SanType::URI(ia5))
}

mod crl;
#[cfg(test)]
mod tests;
