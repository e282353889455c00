//! A federation PKI kept in one directory, as `hotline pki` manages it:
//!
//! | file | what |
//! |---|---|
//! | `federation` | the federation name |
//! | `ca.pem`, `ca.key` | the CA certificate and key (key mode 0600) |
//! | `<name>.pem`, `<name>.key` | issued certificates and keys (keys 0600) |
//! | `revoked` | revoked serials, one hex serial per line |
//! | `crl-number` | the number of the last CRL written |
//! | `federation.crl` | the current CRL, which the gateway reloads when it changes |
//!
//! Nothing is overwritten unless the caller says `force`.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use time::{Duration, OffsetDateTime};

use crate::pki::{CRL_VALIDITY, CertAuthority, IssuedCert, Serial};

/// The PKI directory.
#[derive(Debug)]
pub struct PkiDir {
    dir: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::pki(path.display().to_string(), e)
}

impl PkiDir {
    /// A PKI directory at `dir` (not read yet).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PkiDir { dir: dir.into() }
    }

    /// A file in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Creates the CA for `federation` and an empty CRL.
    pub fn init(&self, federation: &str, force: bool) -> Result<CertAuthority> {
        std::fs::create_dir_all(&self.dir).map_err(|e| io(&self.dir, e))?;
        let ca = CertAuthority::generate(federation)?;
        self.write("ca.key", ca.key_pem(), true, force)?;
        self.write("ca.pem", ca.cert_pem(), false, force)?;
        self.write("federation", &format!("{federation}\n"), false, true)?;
        self.write("revoked", "", false, true)?;
        self.write_crl(&ca, &[], 1)?;
        Ok(ca)
    }

    /// The federation name.
    pub fn federation(&self) -> Result<String> {
        Ok(self.read("federation")?.trim().to_owned())
    }

    /// Loads the CA.
    pub fn ca(&self) -> Result<CertAuthority> {
        CertAuthority::from_pem(&self.read("ca.pem")?, &self.read("ca.key")?)
    }

    /// Writes `<name>.pem` and `<name>.key` of an issued certificate.
    pub fn store(&self, name: &str, cert: &IssuedCert, force: bool) -> Result<(PathBuf, PathBuf)> {
        hotline_federation::ids::check_slug("name", name)?;
        let key = self.write(&format!("{name}.key"), &cert.key_pem, true, force)?;
        let pem = self.write(&format!("{name}.pem"), &cert.cert_pem, false, force)?;
        Ok((pem, key))
    }

    /// Adds `serial` to the revoked list and writes a new CRL; returns the CRL's number.
    pub fn revoke(&self, serial: &Serial) -> Result<u64> {
        let mut revoked = self.revoked()?;
        if !revoked.contains(serial) {
            revoked.push(serial.clone());
        }
        let text: String = revoked.iter().map(|s| format!("{s}\n")).collect();
        self.write("revoked", &text, false, true)?;
        self.crl()
    }

    /// Writes a fresh CRL of the revoked list, current for [`CRL_VALIDITY`] (e.g. before the
    /// old one's next update); returns its number.
    pub fn crl(&self) -> Result<u64> {
        Ok(self.renew_crl(CRL_VALIDITY)?.0)
    }

    /// Writes a fresh CRL of the revoked list, current from now for `validity` (at most until
    /// the CA expires): what `hotline pki crl` does, and the fix for an expired or expiring
    /// CRL, which the gateway reloads without a restart. Returns its number and next update.
    pub fn renew_crl(&self, validity: Duration) -> Result<(u64, OffsetDateTime)> {
        let ca = self.ca()?;
        let now = OffsetDateTime::now_utc();
        let next_update = match now.checked_add(validity) {
            Some(next) if validity.is_positive() && next <= ca.not_after() => next,
            _ => {
                return Err(hotline_federation::Error::invalid(
                    "days",
                    format!(
                        "a CRL valid for {validity} would {}; allowed: a positive validity that \
                         ends before the CA expires on {}",
                        if validity.is_positive() {
                            "outlive the CA"
                        } else {
                            "never be current"
                        },
                        ca.not_after().date()
                    ),
                )
                .into());
            }
        };
        let number = self
            .read("crl-number")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        let pem = ca.crl_pem_between(&self.revoked()?, number, now, next_update)?;
        self.install_crl(&pem, number)?;
        Ok((number, next_update))
    }

    /// The revoked serials.
    pub fn revoked(&self) -> Result<Vec<Serial>> {
        self.read("revoked")?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Serial::from_hex(l.trim()))
            .collect()
    }

    fn write_crl(&self, ca: &CertAuthority, revoked: &[Serial], number: u64) -> Result<()> {
        self.install_crl(&ca.crl_pem(revoked, number)?, number)
    }

    /// Makes `pem`, numbered `number`, the current CRL.
    fn install_crl(&self, pem: &str, number: u64) -> Result<()> {
        // Write then rename, so the gateway never reads half a CRL.
        self.write("federation.crl.tmp", pem, false, true)?;
        let (from, to) = (self.path("federation.crl.tmp"), self.path("federation.crl"));
        std::fs::rename(&from, &to).map_err(|e| io(&to, e))?;
        self.write("crl-number", &format!("{number}\n"), false, true)?;
        Ok(())
    }

    fn read(&self, name: &str) -> Result<String> {
        let path = self.path(name);
        std::fs::read_to_string(&path).map_err(|e| io(&path, e))
    }

    fn write(&self, name: &str, text: &str, secret: bool, force: bool) -> Result<PathBuf> {
        let path = self.path(name);
        if !force && path.exists() {
            return Err(Error::pki(
                path.display().to_string(),
                "exists already; pass --force to overwrite it",
            ));
        }
        let mut options = OpenOptions::new();
        options
            .write(true)
            .create(true)
            .truncate(true)
            .mode(if secret { 0o600 } else { 0o644 });
        let mut file = options.open(&path).map_err(|e| io(&path, e))?;
        if secret {
            // `mode` applies only to new files; an overwritten key must become private too.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io(&path, e))?;
        }
        file.write_all(text.as_bytes()).map_err(|e| io(&path, e))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        Ok(path)
    }
}
