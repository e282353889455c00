//! How a session reaches the gateway: mTLS with the site's certificate in production, any
//! other transport in simulations.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::AdapterConfig;
use crate::error::{Error, Result};

/// Opens the channel of a session from an [`Endpoint`] that already carries the gateway URL,
/// timeouts and keepalive of the config.
pub type Dial = Arc<
    dyn Fn(Endpoint) -> BoxFuture<'static, std::result::Result<Channel, tonic::transport::Error>>
        + Send
        + Sync,
>;

/// How a session reaches the gateway.
#[derive(Clone)]
pub enum Dialer {
    /// mTLS with the site's certificate files from the config: the production path.
    Tls,
    /// Any other transport (the tests' simulated network). The gateway side must then vouch for
    /// the caller's identity itself (the gateway's `server::serve_incoming`).
    Custom(Dial),
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialer::Tls => "Dialer::Tls",
            Dialer::Custom(_) => "Dialer::Custom",
        })
    }
}

/// The endpoint of the gateway at `url` with the session's timeouts and keepalive, no
/// transport security yet.
fn endpoint(url: &str) -> Result<Endpoint> {
    Ok(Endpoint::from_shared(url.to_string())
        .map_err(|e| Error::Config {
            field: "gateway.url".into(),
            problem: format!("{url:?}: {e}"),
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(15))
        .keep_alive_timeout(Duration::from_secs(10)))
}

/// A channel to the gateway at `url` (one of the config's) as `dialer` says.
pub(super) async fn dial(config: &AdapterConfig, url: &str, dialer: &Dialer) -> Result<Channel> {
    match dialer {
        Dialer::Tls => connect_to(config, url).await,
        Dialer::Custom(dial) => dial(endpoint(url)?)
            .await
            .map_err(|e| Error::Gateway(format!("cannot connect to {url}: {e}"))),
    }
}

/// A channel to the config's gateway (`gateway.url`) with this site's certificate.
pub async fn connect(config: &AdapterConfig) -> Result<Channel> {
    connect_to(config, &config.gateway.url).await
}

/// A channel to the gateway at `url` with this site's certificate (files read at each
/// connect, so a rotated certificate is used from the next session on).
async fn connect_to(config: &AdapterConfig, url: &str) -> Result<Channel> {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| Error::File {
            path: path.into(),
            problem: e.to_string(),
        })
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(&config.tls.ca_cert)?))
        .identity(Identity::from_pem(
            read(&config.tls.cert)?,
            read(&config.tls.key)?,
        ))
        .domain_name(config.gateway.server_name.clone());
    let endpoint = endpoint(url)?
        .tls_config(tls)
        .map_err(|e| Error::Gateway(format!("TLS setup: {e}")))?;
    endpoint
        .connect()
        .await
        .map_err(|e| Error::Gateway(format!("cannot connect to {url}: {e}")))
}
