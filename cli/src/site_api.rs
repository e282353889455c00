//! A small HTTP client for a partner adapter's local API (JSON in, JSON out), as the demo and
//! the end-to-end tests use it.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A client of one adapter's API with one tool token.
#[derive(Clone, Debug)]
pub struct SiteApi {
    /// The API address.
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    token: String,
}

impl SiteApi {
    /// A client sending `token` as bearer token.
    pub fn new(addr: SocketAddr, token: &str) -> SiteApi {
        SiteApi {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            token: token.into(),
        }
    }

    /// The same client with another token.
    pub fn with_token(&self, token: &str) -> SiteApi {
        SiteApi {
            token: token.into(),
            ..self.clone()
        }
    }

    /// Sends a raw body; returns the status and the JSON answer (Null when empty).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = tokio::time::timeout(Duration::from_secs(20), self.client.request(request))
            .await
            .with_context(|| format!("{method} {path}: no answer within 20 s"))??;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, json))
    }

    /// Sends JSON (nothing for `Value::Null`).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let body = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(body)?
        };
        self.raw(method, path, body).await
    }

    /// Sends JSON and insists on the status `expected`.
    pub async fn expect(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        expected: u16,
    ) -> anyhow::Result<Value> {
        let (status, json) = self.call(method, path, body).await?;
        anyhow::ensure!(
            status == expected,
            "{method} {path}: {status} {json}, expected {expected}"
        );
        Ok(json)
    }
}
