//! Who is calling (DESIGN.md section 5): the identity named by the client certificate's one URI
//! SAN, `spiffe://<federation>/tenant/<tenant>/site/<site>` for a site or
//! `spiffe://<federation>/staff/<admin|auditor>/<name>` for in-house staff.
//!
//! The TLS layer ([`crate::tls`]) has already checked the chain and the CRL; this module only
//! reads the name. `hotline_runtime::pki` writes the same form; the two must stay in step.

use std::fmt;

use hotline_federation::ids::check_slug;
use x509_parser::extensions::GeneralName;

use crate::error::{Error, Result};

/// The caller, as its certificate names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A site's adapter.
    Site {
        /// The tenant the site belongs to.
        tenant: String,
        /// The site.
        site: String,
    },
    /// An in-house staff member.
    Staff {
        /// What the staff member may do.
        role: StaffRole,
        /// Who it is.
        name: String,
    },
}

/// The roles a staff certificate can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StaffRole {
    /// Administers the federation.
    Admin,
    /// Reads reports and the audit log.
    Auditor,
}

impl StaffRole {
    /// The role as it appears in the certificate.
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Auditor => "auditor",
        }
    }
}

impl fmt::Display for StaffRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Site { tenant, site } => write!(f, "site {tenant}/{site}"),
            Identity::Staff { role, name } => write!(f, "{role} {name}"),
        }
    }
}

/// The identity of the caller of `request`, from the first (leaf) certificate of the TLS peer.
///
/// `None` from `peer_certs()` means no client certificate reached tonic: either none was
/// presented, or the connection did not come through [`crate::tls::incoming`] (tonic only sees
/// certificates on a `tokio_rustls::server::TlsStream<TcpStream>`).
pub fn identity_of<T>(request: &tonic::Request<T>, federation: &str) -> Result<Identity> {
    let no_cert = || Error::Identity("no client certificate was presented".to_owned());
    let certs = request.peer_certs().ok_or_else(no_cert)?;
    let leaf = certs.first().ok_or_else(no_cert)?;
    identity_from_der(leaf.as_ref(), federation)
}

/// An identity vouched for by the code that accepted the connection, not by a certificate:
/// [`crate::server::serve_incoming`] attaches it to every request of a connection as tonic
/// connection info (a request extension). Extensions never come from the network, and only a
/// service built by `serve_incoming` reads this one (see [`vouched_identity_of`]); the mTLS
/// server of [`crate::server::run`] never does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vouched(pub Identity);

/// The identity of the caller of `request` on a server whose connections come with a
/// [`Vouched`] identity: a TLS client certificate, when there is one, still decides (and must
/// belong to `federation`); otherwise the vouched identity.
pub fn vouched_identity_of<T>(request: &tonic::Request<T>, federation: &str) -> Result<Identity> {
    if request.peer_certs().is_some() {
        return identity_of(request, federation);
    }
    match request.extensions().get::<Vouched>() {
        Some(Vouched(identity)) => Ok(identity.clone()),
        None => Err(Error::Identity(
            "the connection carries neither a client certificate nor a vouched identity".into(),
        )),
    }
}

/// The identity named by the certificate `leaf_der` (DER), which must carry exactly one URI SAN
/// of the federation `federation`.
pub fn identity_from_der(leaf_der: &[u8], federation: &str) -> Result<Identity> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf_der).map_err(|e| {
        Error::Identity(format!(
            "client certificate is not a valid X.509 certificate: {e}"
        ))
    })?;
    let names = cert.subject_alternative_name().map_err(|e| {
        Error::Identity(format!(
            "client certificate has unreadable subject alternative names: {e}"
        ))
    })?;
    let uris: Vec<&str> = names
        .map(|ext| {
            ext.value
                .general_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    match uris.as_slice() {
        [uri] => parse_spiffe_id(uri, federation),
        many => Err(Error::Identity(format!(
            "certificate carries {} URI SANs; exactly one is allowed: {}",
            many.len(),
            allowed(federation)
        ))),
    }
}

/// The URI forms a client certificate may carry, for error messages.
fn allowed(federation: &str) -> String {
    format!(
        "spiffe://{federation}/tenant/<tenant>/site/<site> or \
         spiffe://{federation}/staff/<admin|auditor>/<name>"
    )
}

/// Reads one SPIFFE id of `federation`.
fn parse_spiffe_id(uri: &str, federation: &str) -> Result<Identity> {
    let refuse = |problem: &str| {
        Error::Identity(format!(
            "URI SAN {uri:?} {problem}; allowed: {}",
            allowed(federation)
        ))
    };
    let Some(rest) = uri.strip_prefix("spiffe://") else {
        return Err(refuse("is not a spiffe:// URI"));
    };
    let (domain, path) = rest.split_once('/').unwrap_or((rest, ""));
    if domain != federation {
        return Err(Error::Identity(format!(
            "certificate belongs to federation {domain:?}, this gateway serves {federation:?}"
        )));
    }
    let slug = |field: &str, value: &str| {
        check_slug(field, value).map_err(|e| Error::Identity(format!("URI SAN {uri:?}: {e}")))
    };
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        ["tenant", tenant, "site", site] => {
            slug("tenant", tenant)?;
            slug("site", site)?;
            Ok(Identity::Site {
                tenant: (*tenant).to_owned(),
                site: (*site).to_owned(),
            })
        }
        ["staff", role, name] => {
            let role = match *role {
                "admin" => StaffRole::Admin,
                "auditor" => StaffRole::Auditor,
                _ => return Err(refuse(&format!("names the unknown staff role {role:?}"))),
            };
            slug("name", name)?;
            Ok(Identity::Staff {
                role,
                name: (*name).to_owned(),
            })
        }
        _ => Err(refuse("names neither a site nor a staff member")),
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair, SanType};

    use super::*;

    /// A self-signed certificate with the given URI SANs (and one DNS name, which must not
    /// count); identity parsing does not check signatures.
    fn cert_with_uris(uris: &[&str]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn message(uris: &[&str]) -> String {
        identity_from_der(&cert_with_uris(uris), "acme")
            .unwrap_err()
            .to_string()
    }

    /// A site certificate names its tenant and site, which decide what the caller may see.
    #[test]
    fn site_uri_gives_the_site() {
        let der = cert_with_uris(&["spiffe://acme/tenant/partner-a/site/dortmund"]);
        assert_eq!(
            identity_from_der(&der, "acme").unwrap(),
            Identity::Site {
                tenant: "partner-a".into(),
                site: "dortmund".into()
            }
        );
    }

    /// Staff certificates name admin or auditor; each role gets different powers.
    #[test]
    fn staff_uri_gives_the_role() {
        for (role, expected) in [("admin", StaffRole::Admin), ("auditor", StaffRole::Auditor)] {
            let der = cert_with_uris(&[&format!("spiffe://acme/staff/{role}/erika")]);
            assert_eq!(
                identity_from_der(&der, "acme").unwrap(),
                Identity::Staff {
                    role: expected,
                    name: "erika".into()
                }
            );
        }
    }

    /// Two URI SANs are ambiguous and refused, saying how many were found and what is allowed.
    #[test]
    fn two_uri_sans_are_refused() {
        let text = message(&[
            "spiffe://acme/tenant/a/site/x",
            "spiffe://acme/tenant/b/site/y",
        ]);
        assert_eq!(
            text,
            "client identity: certificate carries 2 URI SANs; exactly one is allowed: \
             spiffe://acme/tenant/<tenant>/site/<site> or \
             spiffe://acme/staff/<admin|auditor>/<name>"
        );
        assert!(message(&[]).contains("carries 0 URI SANs"));
    }

    /// A certificate of another federation is refused with both names, so operators see the
    /// mix-up at once.
    #[test]
    fn foreign_federation_is_refused() {
        assert_eq!(
            message(&["spiffe://other/tenant/a/site/x"]),
            "client identity: certificate belongs to federation \"other\", this gateway serves \
             \"acme\""
        );
    }

    /// Malformed ids and paths are refused, so no odd string reaches storage keys or logs.
    #[test]
    fn malformed_uris_are_refused() {
        for (uri, expected) in [
            ("https://acme/tenant/a/site/x", "is not a spiffe:// URI"),
            ("spiffe://acme/tenant/a/site/x/extra", "names neither"),
            ("spiffe://acme/tenant/a/site/", "not a valid id"),
            ("spiffe://acme/tenant/Partner/site/x", "not a valid id"),
            (
                "spiffe://acme/staff/root/erika",
                "unknown staff role \"root\"",
            ),
            ("spiffe://acme", "names neither"),
        ] {
            let text = message(&[uri]);
            assert!(text.contains(expected), "{uri}: {text}");
        }
    }

    /// Bytes that are not a certificate are refused, not a panic.
    #[test]
    fn garbage_is_refused() {
        let err = identity_from_der(b"not a certificate", "acme").unwrap_err();
        assert!(err.to_string().contains("not a valid X.509"), "{err}");
    }

    /// Without a vouched identity the vouched lookup refuses like the certificate lookup, and
    /// with one it returns exactly that identity.
    #[test]
    fn vouched_identity_is_read_from_the_extension() {
        let err = vouched_identity_of(&tonic::Request::new(()), "acme").unwrap_err();
        assert!(
            err.to_string().contains("neither a client certificate"),
            "{err}"
        );
        let site = Identity::Site {
            tenant: "partner-a".into(),
            site: "dortmund".into(),
        };
        let mut request = tonic::Request::new(());
        request.extensions_mut().insert(Vouched(site.clone()));
        assert_eq!(vouched_identity_of(&request, "acme").unwrap(), site);
        assert!(identity_of(&request, "acme").is_err());
    }

    /// A request without TLS peer certificates is unauthenticated, with a clear reason.
    #[test]
    fn request_without_certificate_is_refused() {
        let err = identity_of(&tonic::Request::new(()), "acme").unwrap_err();
        assert_eq!(
            tonic::Status::from(err).message(),
            "client identity: no client certificate was presented"
        );
    }
}
