//! How the store reaches its server: the connection settings from `postgres.url` and, when
//! the server is to be reached over TLS, a rustls client that verifies the server's
//! certificate against `postgres.ca_cert` and its name against the URL's host.
//!
//! The URL's TLS parameters are read here, not by tokio-postgres (which knows neither
//! `verify-full` nor `sslrootcert`): `sslmode` `require`, `verify-ca` and `verify-full` all
//! mean TLS with the certificate and the name verified (a connection that checks nothing is
//! not offered), `disable` or no `sslmode` without a CA mean plain TCP, and `prefer` (plain
//! TCP when the server offers no TLS) is refused. `sslrootcert=<path>` names the CA when
//! `postgres.ca_cert` does not.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, NoTls, Socket};

use crate::error::{Error, Result};

/// What a connection hands back besides its client: the connection itself as a stream of
/// the server's asynchronous messages (notifications), which must be polled to make progress.
pub(super) type Messages =
    Pin<Box<dyn Stream<Item = std::result::Result<AsyncMessage, tokio_postgres::Error>> + Send>>;

/// The server and how to reach it.
#[derive(Clone)]
pub(crate) struct Link {
    config: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Link {
    /// Reads `url` and the CA file (`ca_cert`, or the URL's `sslrootcert`); the error names
    /// the field and never repeats the URL, which may hold a password.
    pub(crate) fn new(url: &str, ca_cert: Option<&Path>) -> Result<Link> {
        let (mut config, ca) = Self::plan(url, ca_cert)?;
        let tls = match ca {
            Some(ca) => Some(Arc::new(client_config(&ca)?)),
            None => None,
        };
        config.ssl_mode(if tls.is_some() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        Ok(Link { config, tls })
    }

    /// Checks `url` and its TLS parameters against `ca_cert` without reading any file (the
    /// config's check at start): the connection settings, and the CA file when TLS is used.
    pub(crate) fn plan(
        url: &str,
        ca_cert: Option<&Path>,
    ) -> Result<(tokio_postgres::Config, Option<PathBuf>)> {
        let (url, tls) = tls_parameters(url)?;
        let config: tokio_postgres::Config = url.parse().map_err(|e| Error::Config {
            field: "postgres.url".into(),
            problem: format!(
                "not a PostgreSQL connection URL (postgres://user@host:port/database): {e}"
            ),
        })?;
        // An sslmode this reading missed but tokio-postgres found (left at its default, prefer,
        // otherwise) would be switched off below: refused instead.
        if config.get_ssl_mode() != tokio_postgres::config::SslMode::Prefer {
            return Err(config_error(
                "postgres.url sets sslmode in a form the gateway does not read; write it as \
             postgres://user@host:port/database?sslmode=verify-full&sslrootcert=<ca.pem>",
            ));
        }
        let ca = ca_cert.map(Path::to_path_buf).or(tls.root_cert);
        match (tls.mode, ca) {
            (Mode::Plain, Some(_)) if tls.explicit => Err(config_error(
                "sslmode=disable in postgres.url, but a CA certificate is named \
                 (postgres.ca_cert or sslrootcert): drop one of them",
            )),
            (Mode::Verified, None) => Err(config_error(
                "postgres.url asks for TLS (sslmode) but no CA certificate is named: set \
                 postgres.ca_cert (or sslrootcert in the URL) to the PEM file of the CA that \
                 signed the server's certificate; the gateway verifies it and the host name",
            )),
            (_, ca) => Ok((config, ca)),
        }
    }

    /// The connection settings, to adjust before the first connection.
    pub(super) fn config_mut(&mut self) -> &mut tokio_postgres::Config {
        &mut self.config
    }

    /// True when connections are made over TLS.
    pub(super) fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A new connection: its client, and the connection as a stream of messages.
    pub(super) async fn connect(
        &self,
    ) -> std::result::Result<(Client, Messages), tokio_postgres::Error> {
        match &self.tls {
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                Ok((client, messages(connection)))
            }
            Some(tls) => {
                let (client, connection) = self.config.connect(Rustls(Arc::clone(tls))).await?;
                Ok((client, messages(connection)))
            }
        }
    }

    /// A new connection whose messages are driven by a task of its own (logged when it ends
    /// with an error).
    pub(super) async fn connect_driven(
        &self,
    ) -> std::result::Result<Client, tokio_postgres::Error> {
        let (client, mut messages) = self.connect().await?;
        tokio::spawn(async move {
            use futures_util::StreamExt;
            while let Some(message) = messages.next().await {
                if let Err(e) = message {
                    tracing::warn!(error = %e, "PostgreSQL connection ended");
                    break;
                }
            }
        });
        Ok(client)
    }
}

/// A connection, plain or over TLS, as the stream of its messages.
fn messages<S, T>(mut connection: tokio_postgres::Connection<S, T>) -> Messages
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(futures_util::stream::poll_fn(move |cx| {
        connection.poll_message(cx)
    }))
}

fn config_error(problem: &str) -> Error {
    Error::Config {
        field: "postgres.url".into(),
        problem: problem.into(),
    }
}

/// Whether connections use TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Plain TCP (no `sslmode`, or `disable`).
    Plain,
    /// TLS, the server's certificate and name verified.
    Verified,
}

/// The URL's TLS parameters.
struct TlsParameters {
    mode: Mode,
    /// `sslmode` was given.
    explicit: bool,
    root_cert: Option<PathBuf>,
}

/// Splits the TLS parameters off a `postgres://` URL: the URL without them, and what they
/// asked for. A URL of `key=value` pairs is left to tokio-postgres as it is.
fn tls_parameters(url: &str) -> Result<(String, TlsParameters)> {
    let mut found = TlsParameters {
        mode: Mode::Plain,
        explicit: false,
        root_cert: None,
    };
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        // A `key=value` string: TLS settings only in the URL form (or postgres.ca_cert).
        if url.to_ascii_lowercase().contains("ssl") {
            return Err(config_error(
                "postgres.url is a key=value string naming ssl settings; write TLS settings in \
                 the URL form, postgres://user@host:port/database?sslmode=verify-full&\
                 sslrootcert=<ca.pem>, or set postgres.ca_cert",
            ));
        }
        return Ok((url.to_owned(), found));
    }
    // The query starts at the first `?` after the user part (a password may hold a `?`).
    let authority = url.rfind('@').map_or(0, |at| at + 1);
    let Some(at) = url[authority..].find('?').map(|i| authority + i) else {
        return Ok((url.to_owned(), found));
    };
    let (base, query) = (&url[..at], &url[at + 1..]);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decoded(key)?.as_str() {
            "sslmode" => {
                found.explicit = true;
                found.mode = match value {
                    "disable" => Mode::Plain,
                    "require" | "verify-ca" | "verify-full" => Mode::Verified,
                    other => {
                        return Err(config_error(&format!(
                            "sslmode={other} is not offered; allowed: disable, require, \
                             verify-ca, verify-full (the last three verify the server's \
                             certificate and host name; prefer and allow could fall back to \
                             plain TCP)"
                        )));
                    }
                };
            }
            "sslrootcert" => {
                let path = percent_decoded(value)?;
                if path.is_empty() || path == "system" {
                    return Err(config_error(
                        "sslrootcert must name the PEM file of the CA that signed the server's \
                         certificate (the system's store is not used)",
                    ));
                }
                found.root_cert = Some(PathBuf::from(path));
            }
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, found))
}

/// `%XX` escapes decoded (a path in a URL parameter).
fn percent_decoded(value: &str) -> Result<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    config_error("sslrootcert holds a % not followed by two hex digits")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| config_error("sslrootcert is not UTF-8 once decoded"))
}

/// A rustls client that trusts only the CA certificates in `ca`.
fn client_config(ca: &Path) -> Result<rustls::ClientConfig> {
    let pem = std::fs::read(ca).map_err(|e| Error::File {
        path: ca.to_owned(),
        problem: format!(
            "cannot read the PostgreSQL CA certificate (postgres.ca_cert or sslrootcert): {e}"
        ),
    })?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::tls::certificates(ca, &pem)? {
        roots.add(cert).map_err(|e| Error::File {
            path: ca.to_owned(),
            problem: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("protocol versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// tokio-postgres's TLS hook, over rustls.
struct Rustls(Arc<rustls::ClientConfig>);

impl MakeTlsConnect<Socket> for Rustls {
    type Stream = TlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(RustlsConnect {
            config: Arc::clone(&self.0),
            name,
        })
    }
}

/// One handshake with the server named `name`.
struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = TlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move { Ok(TlsStream(connector.connect(self.name, socket).await?)) })
    }
}

/// A connection to the server over TLS.
pub(super) struct TlsStream(tokio_rustls::client::TlsStream<Socket>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        // SCRAM without channel binding; the certificate check above is what binds the
        // session to the server.
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<Link>) -> String {
        match result {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn tls_parameters_are_taken_off_the_url() {
        let (url, found) =
            tls_parameters("postgres://u:p@db:5432/h?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem")
                .expect("parsed");
        assert_eq!(url, "postgres://u:p@db:5432/h?application_name=x");
        assert_eq!(found.mode, Mode::Verified);
        assert_eq!(found.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        let (url, found) = tls_parameters("postgres://u@db/h?sslmode=disable").expect("parsed");
        assert_eq!(
            (url.as_str(), found.mode, found.explicit),
            ("postgres://u@db/h", Mode::Plain, true)
        );
        let (url, found) = tls_parameters("postgres://u@db/h").expect("parsed");
        assert_eq!(
            (url.as_str(), found.mode, found.explicit),
            ("postgres://u@db/h", Mode::Plain, false)
        );
    }

    #[test]
    fn what_could_fall_back_to_plain_tcp_or_cannot_verify_is_refused() {
        let refused = problem(Link::new("postgres://u:secret@db/h?sslmode=prefer", None));
        assert!(
            refused.contains("sslmode=prefer is not offered") && refused.contains("verify-full"),
            "{refused}"
        );
        assert!(!refused.contains("secret"), "{refused}");
        let refused = problem(Link::new("postgres://u:secret@db/h?sslmode=require", None));
        assert!(refused.contains("postgres.ca_cert"), "{refused}");
        let refused = problem(Link::new(
            "postgres://u@db/h?sslmode=disable",
            Some(Path::new("/nonexistent/ca.pem")),
        ));
        assert!(refused.contains("drop one of them"), "{refused}");
        let refused = problem(Link::new("postgres://u@db/h?sslrootcert=%2", None));
        assert!(refused.contains("two hex digits"), "{refused}");
        let refused = problem(Link::new(
            "postgres://u@db/h?sslmode=verify-full",
            Some(Path::new("/nonexistent/ca.pem")),
        ));
        assert!(
            refused.contains("/nonexistent/ca.pem") && refused.contains("cannot read"),
            "{refused}"
        );
    }

    /// Every way of asking for TLS that the reading above could miss is refused, never
    /// downgraded to plain TCP (found by a review: a key=value string, a percent-encoded key
    /// and a `?` in the password all connected in plain TCP).
    #[test]
    fn tls_asked_for_in_any_spelling_is_never_plain() {
        for url in [
            "host=db user=u dbname=h sslmode=require",
            "host=db user=u sslmode=prefer",
            "postgres://u@db/h?ssl%6Dode=require",
            "postgres://u:pa?ss@db/h?sslmode=require",
            "postgresql://u@db/h?sslmode=verify-full",
        ] {
            match Link::new(url, None) {
                Ok(link) => panic!("{url}: accepted, tls {}", link.tls()),
                Err(e) => {
                    let e = e.to_string();
                    assert!(
                        e.contains("postgres.ca_cert") || e.contains("does not read"),
                        "{url}: {e}"
                    );
                    assert!(!e.contains("pa?ss"), "{url}: {e}");
                }
            }
        }
        // Text like a parameter inside the password is the password's (it once ended up in
        // an error message, read as a parameter).
        let link = Link::new("postgres://u:x?sslmode=hunter2@db/h", None).expect("plain");
        assert!(!link.tls());
        let refused = problem(Link::new("postgres://u@db/h?sslrootcert=system", None));
        assert!(refused.contains("system's store is not used"), "{refused}");
        // A password with a `?` and no TLS asked: plain, the password intact.
        let link = Link::new("postgres://u:pa?ss@db/h?application_name=x", None).expect("plain");
        assert!(!link.tls());
    }

    #[test]
    fn a_ca_alone_means_tls_and_no_ca_means_plain() {
        let link = Link::new("postgres://u@db/h", None).expect("plain");
        assert!(!link.tls());
        let dir = tempfile::tempdir().expect("dir");
        let ca = rcgen::generate_simple_self_signed(vec!["db".into()]).expect("cert");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca.cert.pem()).expect("write");
        let link = Link::new("postgres://u@db/h", Some(&path)).expect("tls");
        assert!(link.tls());
        let url = format!(
            "postgres://u@db/h?sslmode=verify-full&sslrootcert={}",
            path.display()
        );
        assert!(Link::new(&url, None).expect("tls from the URL").tls());
        std::fs::write(&path, "not a certificate").expect("write");
        let refused = problem(Link::new("postgres://u@db/h", Some(&path)));
        assert!(refused.contains("CERTIFICATE"), "{refused}");
    }
}
