//! mTLS for the gateway's gRPC port, with CRLs reloaded without a restart (DESIGN.md sections 5
//! and 10).
//!
//! tonic's `ServerTlsConfig` knows neither CRLs nor reloading, so the gateway runs its own
//! accept loop: [`incoming`] accepts TCP connections, performs each TLS handshake in its own
//! task within [`AcceptLimits`], and hands established
//! `tokio_rustls::server::TlsStream<TcpStream>`s to tonic's `serve_with_incoming_shutdown`.
//! That exact stream type matters: tonic's `Request::peer_certs()` (and so
//! [`crate::identity::identity_of`]) only works with it.
//!
//! [`ServerTls`] holds the current `rustls::ServerConfig`; [`spawn_reloader`] watches the files
//! and swaps in a new config when one changes, and warns while the CRL expires soon or has
//! expired ([`CrlPolicy`]: an expired CRL refuses every client unless configured to warn). A
//! new config applies to new handshakes only, so the server should bound connection age
//! (`Server::max_connection_age`) for a revocation to reach long-lived connections.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

mod accept;
mod crl;

pub use accept::{AcceptLimits, incoming};
pub use crl::{CrlExpired, CrlHealth, CrlPolicy, CrlWindow};

/// The shortest reload poll interval; a zero interval would spin.
const MIN_RELOAD_INTERVAL: Duration = Duration::from_millis(10);

/// The PEM files the gateway's TLS is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The federation CA certificate(s) client certificates must chain to.
    pub ca_cert: PathBuf,
    /// The gateway's certificate chain, leaf first.
    pub cert: PathBuf,
    /// The gateway's private key.
    pub key: PathBuf,
    /// CRL(s) of the CA; without one no certificate can be revoked.
    pub crl: Option<PathBuf>,
}

impl TlsFiles {
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [&self.ca_cert, &self.cert, &self.key]
            .into_iter()
            .chain(self.crl.as_ref())
            .map(PathBuf::as_path)
    }
}

/// The gateway's current TLS server config, swapped whole on [`ServerTls::reload`].
#[derive(Debug)]
pub struct ServerTls {
    files: TlsFiles,
    policy: CrlPolicy,
    current: RwLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    config: Arc<ServerConfig>,
    /// The files as they were when `config` was built from them.
    stamp: Stamp,
    /// When the CRL in force was issued and expires; `None` without a CRL.
    crl: Option<CrlWindow>,
}

/// What a file looked like: a change in any part means it was rewritten. The content hash
/// catches a rewrite of the same length within the file system's timestamp resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    hash: u64,
}

/// One entry per file of [`TlsFiles::paths`]; `None` for a file that could not be read.
type Stamp = Vec<Option<FileStamp>>;

impl ServerTls {
    /// Builds the TLS config from `files` with the default [`CrlPolicy`] (an expired CRL
    /// refuses every client); see [`ServerTls::load_with`].
    pub fn load(files: &TlsFiles) -> Result<ServerTls> {
        ServerTls::load_with(files, CrlPolicy::default())
    }

    /// Builds the TLS config from `files`: the server's chain and key, client certificates
    /// required and checked against the CA and the CRL (an expired CRL handled as `policy`
    /// says), ALPN `h2`, no session resumption, the ring crypto provider.
    pub fn load_with(files: &TlsFiles, policy: CrlPolicy) -> Result<ServerTls> {
        let loaded = build(files, policy)?;
        Ok(ServerTls {
            files: files.clone(),
            policy,
            current: RwLock::new(loaded),
        })
    }

    /// Re-reads every file and swaps in the new config; new handshakes use it. On error the
    /// old config stays in force.
    pub fn reload(&self) -> Result<()> {
        let loaded = build(&self.files, self.policy)?;
        *self.current.write() = loaded;
        Ok(())
    }

    /// When the CRL in force was issued and expires; `None` without a CRL.
    pub fn crl_window(&self) -> Option<CrlWindow> {
        self.read().crl
    }

    /// How current the CRL in force is now; `None` without a CRL.
    pub fn crl_health(&self) -> Option<CrlHealth> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        self.crl_window()
            .map(|window| window.health(now, self.policy.warn_remaining_percent))
    }

    /// How this config treats an expiring or expired CRL.
    pub fn crl_policy(&self) -> CrlPolicy {
        self.policy
    }

    /// An acceptor with the current config.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config())
    }

    /// The current config.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.read().config.clone()
    }

    /// The files this config is built from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    fn stamp(&self) -> Stamp {
        self.read().stamp.clone()
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, Loaded> {
        self.current.read()
    }

    /// Reloads when the files differ from `last_seen`; returns what they look like now and, if
    /// a reload was tried, its outcome. Blocking file I/O.
    fn reload_if_changed(&self, last_seen: &Stamp) -> (Stamp, Option<Result<()>>) {
        let now = stamp_files(&self.files);
        if &now == last_seen {
            return (now, None);
        }
        (now, Some(self.reload()))
    }
}

/// Polls the TLS files every `interval` (at least 10 ms) and reloads when one changed (time,
/// length or contents); logs `info` on success and `warn` on failure, when the old config stays
/// in force until the files change again. On the first poll and whenever the CRL's health
/// changes, then every [`CrlPolicy::warn_interval`] while it holds, warns of a CRL that expires
/// soon or has expired. Stops when `shutdown` is cancelled.
pub fn spawn_reloader(
    tls: Arc<ServerTls>,
    interval: Duration,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(MIN_RELOAD_INTERVAL));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_seen = tls.stamp();
        let mut crl_warnings = crl::CrlWarnings::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let reloading = tls.clone();
            let seen = last_seen.clone();
            let checked =
                tokio::task::spawn_blocking(move || reloading.reload_if_changed(&seen)).await;
            let (now, outcome) = match checked {
                Ok(checked) => checked,
                Err(e) => {
                    tracing::warn!(error = %e, "TLS reload check failed");
                    continue;
                }
            };
            last_seen = now;
            match outcome {
                None => {}
                Some(Ok(())) => tracing::info!(
                    crl_next_update = tls.crl_window().map(|window| window.next_update),
                    "TLS files changed; certificates and CRL reloaded"
                ),
                Some(Err(e)) => tracing::warn!(
                    error = %e,
                    "TLS files changed but could not be loaded; the previous config stays in force"
                ),
            }
            if let (Some(health), Some(path)) = (tls.crl_health(), &tls.files.crl) {
                let policy = tls.policy;
                if crl_warnings.due(health, tokio::time::Instant::now(), policy.warn_interval) {
                    crl::log(health, path, policy.expired);
                }
            }
        }
    })
}

/// Reads all files once and builds the config, with the stamp of what was read.
fn build(files: &TlsFiles, policy: CrlPolicy) -> Result<Loaded> {
    // Files are read in the order of `TlsFiles::paths`, so this stamp compares with
    // `stamp_files`.
    let mut stamp = Stamp::new();
    let mut read = |path: &Path| -> Result<Vec<u8>> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        stamp.push(Some(FileStamp {
            modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
            len: bytes.len() as u64,
            hash: hash(&bytes),
        }));
        Ok(bytes)
    };
    let ca_pem = read(&files.ca_cert)?;
    let cert_pem = read(&files.cert)?;
    let key_pem = read(&files.key)?;
    let crl_pem = match &files.crl {
        Some(path) => Some((path, read(path)?)),
        None => None,
    };

    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates(&files.ca_cert, &ca_pem)? {
        roots
            .add(ca)
            .map_err(|e| file_error(&files.ca_cert, format!("not a usable CA certificate: {e}")))?;
    }
    let chain = certificates(&files.cert, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_error(&files.key, format!("no PEM private key: {e}")))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let mut crl_window = None;
    if let Some((path, pem)) = &crl_pem {
        let crls = CertificateRevocationListDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(path, format!("not a PEM CRL: {e}")))?;
        if crls.is_empty() {
            return Err(file_error(path, "holds no X509 CRL block"));
        }
        crl_window = Some(CrlWindow::of(&crls).map_err(|e| file_error(path, e))?);
        verifier = verifier.with_crls(crls);
        if policy.expired == CrlExpired::Refuse {
            // Fail closed: past its nextUpdate the CRL may miss revocations.
            verifier = verifier.enforce_revocation_expiration();
        }
    }
    let verifier = verifier.build().map_err(|e| match (e, &crl_pem) {
        (VerifierBuilderError::InvalidCrl(e), Some((path, _))) => {
            file_error(path, format!("not a usable CRL: {e:?}"))
        }
        (e, _) => Error::Tls(format!("client certificate verifier: {e}")),
    })?;

    let mut config = server_config(provider)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            Error::Tls(format!(
                "server certificate {} with key {}: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    // No session resumption: a resumed session skips certificate verification, and gRPC
    // connections live long enough that a full handshake each time costs nothing noticeable.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Loaded {
        config: Arc::new(config),
        stamp,
        crl: crl_window,
    })
}

/// The server-only TLS config of the status page's listener: `cert` (chain) and `key` (PEM),
/// no client certificates, HTTP/1.1.
pub fn web_server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let cert_pem = std::fs::read(cert).map_err(|e| file_error(cert, e))?;
    let key_pem = std::fs::read(key).map_err(|e| file_error(key, e))?;
    let chain = certificates(cert, &cert_pem)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_error(key, format!("no PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = server_config(provider)?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| {
            Error::Tls(format!(
                "web certificate {} with key {}: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn server_config(
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::WantsVerifier>> {
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("protocol versions: {e}")))
}

/// All certificates in a PEM file; refuses a file with none.
pub(crate) fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(path, "holds no CERTIFICATE block"));
    }
    Ok(certs)
}

/// What the files look like now; an unreadable file stamps as `None`.
fn stamp_files(files: &TlsFiles) -> Stamp {
    files
        .paths()
        .map(|path| {
            let bytes = std::fs::read(path).ok()?;
            Some(FileStamp {
                modified: std::fs::metadata(path).and_then(|m| m.modified()).ok(),
                len: bytes.len() as u64,
                hash: hash(&bytes),
            })
        })
        .collect()
}

fn hash(bytes: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

fn file_error(path: &Path, problem: impl ToString) -> Error {
    Error::File {
        path: path.to_owned(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing file names itself in the error, so the operator knows which path to fix.
    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            ca_cert: dir.path().join("ca.pem"),
            cert: dir.path().join("gateway.pem"),
            key: dir.path().join("gateway.key"),
            crl: None,
        };
        let err = ServerTls::load(&files).unwrap_err();
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }

    /// A same-length rewrite still changes the stamp, so a CRL rewritten within one second is
    /// noticed.
    #[test]
    fn same_length_rewrite_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crl.pem");
        let files = TlsFiles {
            ca_cert: path.clone(),
            cert: path.clone(),
            key: path.clone(),
            crl: None,
        };
        std::fs::write(&path, b"aaaa").unwrap();
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let before = stamp_files(&files);
        std::fs::write(&path, b"bbbb").unwrap();
        // As on a file system with one-second timestamps: same time, same length.
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(modified).unwrap();
        assert_ne!(stamp_files(&files), before);
    }
}
