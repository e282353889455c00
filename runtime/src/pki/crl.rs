//! Revocation lists signed by the federation's CA.

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use time::OffsetDateTime;

use super::{CRL_VALIDITY, CertAuthority, Serial};
use crate::error::{Error, Result};

impl CertAuthority {
    /// A CRL (PEM) revoking `revoked`, signed by the CA, current from now for [`CRL_VALIDITY`].
    /// `crl_number` must grow with every CRL the CA publishes.
    pub fn crl_pem(&self, revoked: &[Serial], crl_number: u64) -> Result<String> {
        let now = OffsetDateTime::now_utc();
        self.crl_pem_between(revoked, crl_number, now, now + CRL_VALIDITY)
    }

    /// A CRL (PEM) revoking `revoked` with this `this_update` and `next_update`, unchecked
    /// beyond `next_update` following `this_update`; for renewals of another length and for
    /// tests that need an expired CRL.
    pub fn crl_pem_between(
        &self,
        revoked: &[Serial],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String> {
        if next_update <= this_update {
            return Err(hotline_federation::Error::invalid(
                "next_update",
                format!("{next_update} is not after this_update {this_update}"),
            )
            .into());
        }
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial.as_bytes()),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: match &self.key_id {
                Some(id) => KeyIdMethod::PreSpecified(id.clone()),
                None => KeyIdMethod::Sha256,
            },
        };
        params
            .signed_by(&self.issuer)
            .and_then(|crl| crl.pem())
            .map_err(|e| Error::pki("signing the CRL", e))
    }
}
