//! The status page in the tests: a real gateway with its web listener on 127.0.0.1:0, a plain
//! HTTP/1.1 client over a TCP socket (so a test sees every byte of an answer), and tickets
//! opened over mTLS with an access code, as a site opens them.

use std::net::SocketAddr;

use anyhow::Context;
use hotline_federation::access;
use hotline_federation::model::{FieldValue, TicketField, Visibility};
use hotline_federation::{Change, FieldOp};
use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::changes::{accepted, comment, number, open_ticket, push};
use crate::harness::{Pki, RunningGateway, lease};

/// A gateway with its status page.
pub struct StatusPageGateway {
    /// The gateway (mTLS gRPC).
    pub gateway: RunningGateway,
    /// Where the status page listens.
    pub web: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<hotline_gateway::error::Result<()>>,
}

impl StatusPageGateway {
    /// Starts a gateway with `config` and its status page, both on 127.0.0.1:0.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<StatusPageGateway> {
        let gateway = RunningGateway::start(config).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let web = listener.local_addr()?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(hotline_gateway::web::run(
            listener,
            gateway.state.clone(),
            stop.clone(),
        ));
        Ok(StatusPageGateway {
            gateway,
            web,
            stop,
            task,
        })
    }

    /// Stops the status page, then the gateway.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("status page task panicked")??;
        self.gateway.stop().await
    }

    /// `POST path` with a form body and extra headers.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> anyhow::Result<HttpAnswer> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut all = vec![("Content-Type", "application/x-www-form-urlencoded")];
        all.extend_from_slice(headers);
        request(self.web, "POST", path, &all, body.as_bytes()).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<HttpAnswer> {
        request(self.web, "GET", path, headers, b"").await
    }
}

/// One HTTP answer, whole.
#[derive(Clone, Debug)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// Header lines as received (name lower-cased), in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl HttpAnswer {
    /// The answer without its `Date` header: what must be identical between two answers that
    /// may not tell anything apart.
    pub fn without_date(&self) -> (u16, Vec<(String, String)>, String) {
        let headers = self
            .headers
            .iter()
            .filter(|(name, _)| name != "date")
            .cloned()
            .collect();
        (self.status, headers, self.body.clone())
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Percent-encodes a form value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else if byte == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), read to the end.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> anyhow::Result<HttpAnswer> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let raw = tokio::time::timeout(std::time::Duration::from_secs(20), read_answer(&mut stream))
        .await
        .context("no answer within 20 s")??;
    let text = String::from_utf8(raw).context("answer is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("answer without a header end")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Reads one answer: the head, then `Content-Length` bytes (some servers, chromedriver among
/// them, keep the connection open despite `Connection: close`), or to the end without one.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .split("\r\n")
                .filter_map(|line| line.strip_prefix("content-length:"))
                .find_map(|v| v.trim().parse::<usize>().ok());
            if let Some(length) = length {
                if raw.len() >= end + 4 + length {
                    raw.truncate(end + 4 + length);
                    return Ok(raw);
                }
            }
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..read]);
    }
}

/// A site that opens tickets with access codes, numbering its changes.
pub struct CodeSite {
    /// Its connection.
    pub client: FederationClient<Channel>,
    /// Tenant.
    pub tenant: String,
    /// Site.
    pub site: String,
    seq: u64,
    block: Option<pb::LeaseBlock>,
    used: u64,
}

impl CodeSite {
    /// Connects as `site` of `tenant`.
    pub async fn connect(
        gateway: &RunningGateway,
        pki: &Pki,
        tenant: &str,
        site: &str,
    ) -> anyhow::Result<CodeSite> {
        Ok(CodeSite {
            client: gateway.site_client(pki, tenant, site).await?,
            tenant: tenant.into(),
            site: site.into(),
            seq: 0,
            block: None,
            used: 0,
        })
    }

    /// Pushes `change` (numbered as this site's next) and returns the outcome.
    pub async fn push(&mut self, mut change: Change) -> anyhow::Result<pb::ChangeResult> {
        self.seq += 1;
        change.origin_seq = self.seq;
        change.origin_site = self.site.clone();
        change.hlc = hotline_federation::Hlc::new(crate::changes::now_ms(), self.seq as u32);
        let response = self.client.push(push(&[change])).await?.into_inner();
        response.results.into_iter().next().context("no result")
    }

    /// Opens a ticket in `team` with an access code minted from `seed`; returns its number
    /// and the code as the customer was told it.
    pub async fn open_with_code(
        &mut self,
        team: &str,
        seed: u8,
    ) -> anyhow::Result<(String, String)> {
        if self.block.is_none() {
            self.block = Some(lease(&mut self.client, 50).await?);
        }
        let id = number(self.block.as_ref().context("leased")?, self.used);
        self.used += 1;
        let random: [u8; access::RANDOM_BYTES] = std::array::from_fn(|i| {
            seed.wrapping_mul(37)
                .wrapping_add((i as u8).wrapping_mul(11))
                ^ 0x5a
        });
        let minted = access::mint(&random);
        let mut change = open_ticket(&id, &self.tenant, &self.site, team, 0);
        change
            .ops
            .push(FieldOp::Set(FieldValue::Ticket(TicketField::AccessCode(
                minted.stored.clone(),
            ))));
        let result = self.push(change).await?;
        accepted(&pb::PushResponse {
            results: vec![result],
            checkpoint: None,
        })?;
        Ok((id, minted.code))
    }

    /// Adds a comment to ticket `id` with the next comment id of this site.
    pub async fn comment(
        &mut self,
        id: &str,
        visibility: Visibility,
        body: &str,
    ) -> anyhow::Result<pb::ChangeResult> {
        let comment_id = format!("{}-{}", self.site, self.seq + 1);
        let change = comment(
            id,
            &self.tenant,
            &self.site,
            0,
            &comment_id,
            visibility,
            body,
        );
        self.push(change).await
    }
}
