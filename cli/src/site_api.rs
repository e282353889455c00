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

    /// Sends `body` (with `content_type`, if any) and waits at most `wait` for the whole
    /// answer: its status, Content-Type and body.
    async fn send(
        &self,
        (method, path): (&str, &str),
        content_type: Option<&str>,
        body: Vec<u8>,
        wait: Duration,
    ) -> anyhow::Result<(u16, String, Bytes)> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .header("authorization", format!("Bearer {}", self.token));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let response = tokio::time::timeout(wait, self.client.request(request))
            .await
            .with_context(|| format!("{method} {path}: no answer within {} s", wait.as_secs()))??;
        let status = response.status().as_u16();
        let answered_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, answered_type, bytes))
    }

    /// Sends a raw body; returns the status and the JSON answer (Null when empty).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let json = Some("application/json");
        let (status, _, bytes) = self
            .send((method, path), json, body, Duration::from_secs(20))
            .await?;
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)?
        };
        Ok((status, json))
    }

    /// POSTs a file's bytes with `content_type`; returns the status and the JSON answer.
    pub async fn upload(
        &self,
        path: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let (status, _, bytes) = self
            .send(
                ("POST", path),
                Some(content_type),
                bytes,
                Duration::from_secs(60),
            )
            .await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Attaches `bytes` (of `content_type`) to ticket `number` as a comment of `alias` with
    /// `visibility` (`POST /v1/tickets/{number}/attachments`); returns the status and answer.
    pub async fn attach(
        &self,
        number: &str,
        file: (&str, &str),
        visibility: &str,
        alias: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<(u16, Value)> {
        let (name, content_type) = file;
        let path = format!(
            "/v1/tickets/{number}/attachments?filename={}&visibility={visibility}&author_alias={}",
            query_value(name),
            query_value(alias)
        );
        self.upload(&path, content_type, bytes).await
    }

    /// [`SiteApi::attach`], insisting on 201; answers the file's SHA-256.
    pub async fn attach_expect(
        &self,
        number: &str,
        file: (&str, &str),
        visibility: &str,
        alias: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<String> {
        let (status, answer) = self.attach(number, file, visibility, alias, bytes).await?;
        anyhow::ensure!(status == 201, "attaching {}: {status} {answer}", file.0);
        attached_sha(&answer, file.0)
            .ok_or_else(|| anyhow::anyhow!("{} is not on ticket {number}: {answer}", file.0))
    }

    /// GETs `path`; returns the status, the Content-Type and the body's bytes.
    pub async fn bytes(&self, path: &str) -> anyhow::Result<(u16, String, Vec<u8>)> {
        let (status, content_type, bytes) = self
            .send(("GET", path), None, Vec::new(), Duration::from_secs(60))
            .await?;
        Ok((status, content_type, bytes.to_vec()))
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

/// The SHA-256 of the last file named `name` on the ticket of an answer that holds one
/// (`{"ticket": {"comments": [{"attachments": [...]}]}}`).
pub fn attached_sha(answer: &Value, name: &str) -> Option<String> {
    answer["ticket"]["comments"]
        .as_array()?
        .iter()
        .flat_map(|c| c["attachments"].as_array().cloned().unwrap_or_default())
        .filter(|f| f["filename"] == name)
        .filter_map(|f| f["sha256"].as_str().map(str::to_owned))
        .next_back()
}

/// A query parameter's value, percent-encoded.
fn query_value(text: &str) -> String {
    use std::fmt::Write;
    text.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        out
    })
}
