//! The staff dashboard in the tests: a real gateway with its web listener on 127.0.0.1:0
//! (whose address is the config's `web.public_url`, so minted links point at it), staff
//! Admin clients with certificates from the test PKI, and sign-in over plain HTTP.

use std::net::SocketAddr;

use anyhow::Context;
use hotline_gateway::config::GatewayConfig;
use hotline_proto::v1 as pb;
use pb::admin_client::AdminClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::harness::{FEDERATION, Pki, RunningGateway};
use crate::web::{HttpAnswer, request};

/// A gateway with its web listener (status page and staff dashboard).
pub struct DashboardGateway {
    /// The gateway (mTLS gRPC).
    pub gateway: RunningGateway,
    /// Where the web listener listens.
    pub web: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<hotline_gateway::error::Result<()>>,
}

impl DashboardGateway {
    /// Starts a gateway with `config` (its `web.public_url` set to the listener's address) and
    /// its web listener, both on 127.0.0.1:0.
    pub async fn start(mut config: GatewayConfig) -> anyhow::Result<DashboardGateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let web = listener.local_addr()?;
        config.web.public_url = format!("http://{web}");
        let gateway = RunningGateway::start(config).await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(hotline_gateway::web::run(
            listener,
            gateway.state.clone(),
            stop.clone(),
        ));
        Ok(DashboardGateway {
            gateway,
            web,
            stop,
            task,
        })
    }

    /// Stops the web listener, then the gateway.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("web task panicked")??;
        self.gateway.stop().await
    }

    /// An Admin client presenting a staff certificate of `role` for `name`.
    pub async fn admin(
        &self,
        pki: &Pki,
        role: &str,
        name: &str,
    ) -> anyhow::Result<AdminClient<Channel>> {
        let cert = pki
            .ca
            .issue_staff(FEDERATION, role, name, time::Duration::days(1))?;
        Ok(AdminClient::new(
            self.gateway.channel(pki, Some(&cert)).await?,
        ))
    }

    /// Mints a sign-in link for `staff` with `role` through an admin's certificate.
    pub async fn mint(
        &self,
        pki: &Pki,
        staff: &str,
        role: pb::DashboardRole,
    ) -> anyhow::Result<String> {
        let mut admin = self.admin(pki, "admin", "alice").await?;
        Ok(admin
            .mint_dashboard_link(pb::MintDashboardLinkRequest {
                staff: staff.into(),
                role: role as i32,
            })
            .await?
            .into_inner()
            .url)
    }

    /// `GET path` (the part of a link after the host) with a session cookie if given.
    pub async fn get(&self, path: &str, cookie: Option<&str>) -> anyhow::Result<HttpAnswer> {
        let header = cookie.map(|c| format!("hotline_staff={c}"));
        let headers: Vec<(&str, &str)> = header.iter().map(|h| ("Cookie", h.as_str())).collect();
        request(self.web, "GET", path, &headers, b"").await
    }

    /// `POST path` with an empty form and a session cookie if given.
    pub async fn post(&self, path: &str, cookie: Option<&str>) -> anyhow::Result<HttpAnswer> {
        let header = cookie.map(|c| format!("hotline_staff={c}"));
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        headers.extend(header.iter().map(|h| ("Cookie", h.as_str())));
        request(self.web, "POST", path, &headers, b"").await
    }

    /// `POST path` with the form `body` (already encoded), a session cookie if given, and the
    /// `Origin` header a browser would send: `Some("")` for this listener's own origin.
    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: &str,
        origin: Option<&str>,
    ) -> anyhow::Result<HttpAnswer> {
        let header = cookie.map(|c| format!("hotline_staff={c}"));
        let own = format!("http://{}", self.web);
        let origin = origin.map(|o| if o.is_empty() { own.as_str() } else { o });
        let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
        headers.extend(header.iter().map(|h| ("Cookie", h.as_str())));
        headers.extend(origin.map(|o| ("Origin", o)));
        request(self.web, "POST", path, &headers, body.as_bytes()).await
    }

    /// The path of `url` on this gateway's web listener.
    pub fn path_of(&self, url: &str) -> anyhow::Result<String> {
        url.strip_prefix(&format!("http://{}", self.web))
            .map(str::to_owned)
            .with_context(|| format!("{url} does not point at {}", self.web))
    }

    /// Opens the sign-in link `url`; the session id from its cookie, or the refusal.
    pub async fn sign_in(&self, url: &str) -> anyhow::Result<Result<String, HttpAnswer>> {
        let answer = self.get(&self.path_of(url)?, None).await?;
        if answer.status != 303 {
            return Ok(Err(answer));
        }
        let cookie = answer
            .header("set-cookie")
            .context("sign-in without a cookie")?;
        let id = cookie
            .split(';')
            .next()
            .and_then(|pair| pair.strip_prefix("hotline_staff="))
            .context("cookie without the session")?;
        Ok(Ok(id.to_owned()))
    }
}

/// A review report of focus team `finance-hr` for last week with a quality sample: three
/// tickets of partner `twenty4help` at site `goerlitz` resolved last week are pushed, then the
/// report is produced (the config must have `review.enabled = false`, so the schedule does not
/// produce it first, and `review.sample_size = 2`). Answers the report id and the sampled
/// tickets.
pub async fn sampled_report(
    dash: &DashboardGateway,
    pki: &Pki,
) -> anyhow::Result<(String, Vec<String>)> {
    use hotline_federation::model::{
        EntityKey, EntityKind, FieldValue, ReviewCadence, StatusTransition, TicketField,
        TicketStatus,
    };
    use hotline_federation::review::{Period, report_id};
    use hotline_federation::{Change, FieldOp, Hlc};

    use crate::changes::{accepted, now_ms, number, push};

    let last = Period::last_ended(ReviewCadence::Weekly, now_ms());
    let mut client = dash
        .gateway
        .site_client(pki, "twenty4help", "goerlitz")
        .await?;
    let block = crate::harness::lease(&mut client, 3).await?;
    let set = |f| FieldOp::Set(FieldValue::Ticket(f));
    let changes: Vec<Change> = (0..3u64)
        .map(|n| {
            let id = number(&block, n);
            let at = last.start_ms + n * 3_600_000 + 1;
            Change {
                key: EntityKey::new(EntityKind::Ticket, id.as_str()),
                ops: vec![
                    set(TicketField::PublicNumber(id.clone())),
                    set(TicketField::OriginTenant("twenty4help".into())),
                    set(TicketField::FocusTeam("finance-hr".into())),
                    set(TicketField::Status(StatusTransition {
                        from: None,
                        to: TicketStatus::Resolved,
                    })),
                    set(TicketField::OpenedAt(at - 60_000)),
                    set(TicketField::ResolvedAt(at)),
                    set(TicketField::HandlingSite("goerlitz".into())),
                ],
                origin_site: "goerlitz".into(),
                origin_seq: n + 1,
                hlc: Hlc::new(now_ms(), 0),
            }
        })
        .collect();
    accepted(&client.push(push(&changes)).await?.into_inner())?;
    let (stored, _) =
        hotline_gateway::review::generate(&dash.gateway.state, "finance-hr", &last.label).await?;
    let sampled = stored
        .report
        .sample
        .partners
        .iter()
        .flat_map(|p| p.tickets.iter().map(|t| t.id.clone()))
        .collect();
    Ok((report_id("finance-hr", &last), sampled))
}
