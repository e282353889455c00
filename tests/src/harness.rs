//! A per-test PKI and real gateways on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hotline::pki::{CertAuthority, IssuedCert};
use hotline_gateway::config::{
    FocusTeamConfig, GatewayConfig, SiteConfig, TenantConfig, TlsConfig,
};
use hotline_gateway::state::GatewayState;
use hotline_proto::v1 as pb;
use pb::federation_client::FederationClient;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// The federation name every test uses.
pub const FEDERATION: &str = "acme";

/// A test PKI: the federation CA and the gateway's server certificate, written to a temp dir.
pub struct Pki {
    /// The CA.
    pub ca: CertAuthority,
    /// Where the PEM files live.
    pub dir: TempDir,
}

impl Pki {
    /// A new CA and gateway certificate for `localhost` / 127.0.0.1.
    pub fn new() -> anyhow::Result<Pki> {
        let dir = tempfile::tempdir()?;
        let ca = CertAuthority::generate(FEDERATION)?;
        let server = ca.issue_server(
            &["localhost"],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            time::Duration::days(30),
        )?;
        std::fs::write(dir.path().join("ca.pem"), ca.cert_pem())?;
        std::fs::write(dir.path().join("gateway.pem"), &server.cert_pem)?;
        std::fs::write(dir.path().join("gateway.key"), &server.key_pem)?;
        let pki = Pki { ca, dir };
        pki.write_crl(&[], 1)?;
        Ok(pki)
    }

    /// The path of the CRL file the gateway watches.
    pub fn crl_path(&self) -> PathBuf {
        self.dir.path().join("federation.crl")
    }

    /// The gateway's TLS config over this PKI (with the CRL file watched every 50 ms).
    pub fn gateway_tls(&self) -> TlsConfig {
        TlsConfig {
            ca_cert: self.dir.path().join("ca.pem"),
            cert: self.dir.path().join("gateway.pem"),
            key: self.dir.path().join("gateway.key"),
            crl: Some(self.crl_path()),
            reload_interval_ms: 50,
            ..TlsConfig::default()
        }
    }

    /// A site certificate.
    pub fn site(&self, tenant: &str, site: &str) -> anyhow::Result<IssuedCert> {
        Ok(self
            .ca
            .issue_site(FEDERATION, tenant, site, time::Duration::days(1))?)
    }

    /// Writes a CRL revoking `revoked`.
    pub fn write_crl(&self, revoked: &[&IssuedCert], number: u64) -> anyhow::Result<()> {
        let serials: Vec<_> = revoked.iter().map(|c| c.serial.clone()).collect();
        let pem = self.ca.crl_pem(&serials, number)?;
        let tmp = self.dir.path().join("federation.crl.tmp");
        std::fs::write(&tmp, pem)?;
        std::fs::rename(tmp, self.crl_path())?;
        Ok(())
    }
}

/// The federation of the tests on the default engine's store in `data_dir` (`auto`: redb for a
/// new directory), or on the directory's PostgreSQL database when the suite runs on PostgreSQL
/// ([`crate::backend`]), behind the TLS of `pki` (see [`federation_layout`]).
pub fn federation_config(pki: &Pki, data_dir: &Path) -> GatewayConfig {
    let (storage, postgres) = crate::backend::storage_for(data_dir);
    GatewayConfig {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        storage,
        postgres,
        tls: pki.gateway_tls(),
        ..federation_layout()
    }
}

/// Who is in the federation of the tests: in-house (munich), twenty4help (dortmund, goerlitz),
/// helpbycom (erfurt); `finance-hr` handled by twenty4help with PII, `plants` by helpbycom
/// without PII, `bank` in-house only, `dealers-sales` by everyone.
pub fn federation_layout() -> GatewayConfig {
    let tenant = |id: &str| TenantConfig {
        id: id.into(),
        name: id.into(),
    };
    let site = |id: &str, tenant: &str| SiteConfig {
        id: id.into(),
        tenant: tenant.into(),
        name: None,
    };
    let team = |id: &str, handlers: &[&str], pii: &[&str]| FocusTeamConfig {
        id: id.into(),
        name: id.into(),
        handlers: handlers.iter().map(|s| s.to_string()).collect(),
        sla_answer_seconds: 25,
        sla_target_percent: 80,
        fcr_target_percent: 75,
        review_cadence: "weekly".into(),
        pii_grants: pii.iter().map(|s| s.to_string()).collect(),
        partner_retention_days: None,
    };
    GatewayConfig {
        federation: FEDERATION.into(),
        tenants: vec![
            tenant("inhouse"),
            tenant("twenty4help"),
            tenant("helpbycom"),
        ],
        sites: vec![
            site("munich", "inhouse"),
            site("dortmund", "twenty4help"),
            site("goerlitz", "twenty4help"),
            site("erfurt", "helpbycom"),
        ],
        focus_teams: vec![
            team("finance-hr", &["inhouse", "twenty4help"], &["twenty4help"]),
            team("plants", &["inhouse", "helpbycom"], &[]),
            team("bank", &["inhouse"], &[]),
            team(
                "dealers-sales",
                &["inhouse", "twenty4help", "helpbycom"],
                &["twenty4help"],
            ),
        ],
        limits: hotline_gateway::config::Limits {
            heartbeat_interval_ms: 200,
            ..hotline_gateway::config::Limits::default()
        },
        ..GatewayConfig::default()
    }
}

/// A gateway running in this process on a real loopback socket.
pub struct RunningGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state (store, head, ...).
    pub state: Arc<GatewayState>,
    shutdown: CancellationToken,
    task: JoinHandle<hotline_gateway::error::Result<()>>,
}

impl RunningGateway {
    /// Starts a gateway with `config` on 127.0.0.1:0.
    pub async fn start(config: GatewayConfig) -> anyhow::Result<RunningGateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(listener, GatewayState::open(config).await?).await
    }

    /// Starts a gateway whose clock reads `clock` instead of the system's, on 127.0.0.1:0.
    pub async fn start_with_clock(
        config: GatewayConfig,
        clock: fn() -> u64,
    ) -> anyhow::Result<RunningGateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(
            listener,
            GatewayState::open_with_clock(config, clock).await?,
        )
        .await
    }

    /// Starts a gateway at a given address (a restart where sites expect it).
    pub async fn start_at(
        config: GatewayConfig,
        addr: SocketAddr,
    ) -> anyhow::Result<RunningGateway> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        Self::serve(listener, GatewayState::open(config).await?).await
    }

    /// Starts a gateway on a given store (e.g. the in-memory one) on 127.0.0.1:0.
    pub async fn start_with_store(
        config: GatewayConfig,
        store: Arc<dyn hotline_gateway::store::Store>,
    ) -> anyhow::Result<RunningGateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(
            listener,
            GatewayState::open_with_store(config, store).await?,
        )
        .await
    }

    async fn serve(
        listener: tokio::net::TcpListener,
        state: Arc<GatewayState>,
    ) -> anyhow::Result<RunningGateway> {
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(hotline_gateway::server::run(
            listener,
            state.clone(),
            shutdown.clone(),
        ));
        Ok(RunningGateway {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// Stops it gracefully and waits until its store is closed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("gateway task panicked")??;
        drop(self.state);
        Ok(())
    }

    /// The newest global sequence number.
    pub fn head(&self) -> u64 {
        self.state
            .shared
            .head
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A Federation client for `site` of `tenant`, with a certificate issued for it.
    pub async fn site_client(
        &self,
        pki: &Pki,
        tenant: &str,
        site: &str,
    ) -> anyhow::Result<FederationClient<Channel>> {
        self.client(pki, &pki.site(tenant, site)?).await
    }

    /// A connected Federation client presenting `cert`.
    pub async fn client(
        &self,
        pki: &Pki,
        cert: &IssuedCert,
    ) -> anyhow::Result<FederationClient<Channel>> {
        Ok(FederationClient::new(self.channel(pki, Some(cert)).await?))
    }

    /// A channel to the gateway, with or without a client certificate.
    pub async fn channel(&self, pki: &Pki, cert: Option<&IssuedCert>) -> anyhow::Result<Channel> {
        channel_with_ca(self.addr, pki.ca.cert_pem(), cert).await
    }
}

/// A channel to `addr` trusting `ca_pem`, presenting `cert` if given.
pub async fn channel_with_ca(
    addr: SocketAddr,
    ca_pem: &str,
    cert: Option<&IssuedCert>,
) -> anyhow::Result<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some(cert) = cert {
        tls = tls.identity(Identity::from_pem(&cert.cert_pem, &cert.key_pem));
    }
    let channel = Channel::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_lazy();
    Ok(channel)
}

/// A Federation client whose HTTP/2 windows are the protocol minimum (64 KiB), so a client
/// that stops reading stalls the server's stream quickly.
pub async fn small_window_client(
    gateway: &RunningGateway,
    pki: &Pki,
    cert: &IssuedCert,
) -> anyhow::Result<FederationClient<Channel>> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pki.ca.cert_pem()))
        .domain_name("localhost")
        .identity(Identity::from_pem(&cert.cert_pem, &cert.key_pem));
    let channel = Channel::from_shared(format!("https://{}", gateway.addr))?
        .tls_config(tls)?
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect_lazy();
    Ok(FederationClient::new(channel))
}

/// Reads sync events until `done` says the collected ones suffice, or fails after `limit`
/// events or 20 seconds.
pub async fn collect_until(
    stream: &mut tonic::Streaming<pb::SyncEvent>,
    limit: usize,
    mut done: impl FnMut(&[pb::SyncEvent]) -> bool,
) -> anyhow::Result<Vec<pb::SyncEvent>> {
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !done(&events) {
        anyhow::ensure!(
            events.len() < limit,
            "no end after {limit} events: {events:#?}"
        );
        let next = tokio::time::timeout_at(deadline, stream.message())
            .await
            .context("timed out waiting for sync events")??;
        match next {
            Some(event) => events.push(event),
            None => anyhow::bail!("stream ended after {} events", events.len()),
        }
    }
    Ok(events)
}

/// Applies sync events to a replica of `tenant` the way an adapter does: a partner keeps only
/// each register's winning write.
pub fn apply_events(
    tenant: &str,
    replica: &mut hotline_federation::Replica,
    events: &[pb::SyncEvent],
) -> anyhow::Result<()> {
    use hotline_federation::{Change, EntityKey, EntityState};
    use pb::sync_event::Body;
    for event in events {
        match event.body.clone() {
            Some(Body::SnapshotBegin(_)) => replica.entities.clear(),
            Some(Body::Entity(state)) => replica.join_state(&EntityState::try_from(state)?),
            Some(Body::Change(change)) => replica.apply(&Change::try_from(change)?),
            Some(Body::Revocation(pb::Revocation { key, reason: _ })) => {
                let key = EntityKey::try_from(key.context("revocation without key")?)?;
                replica.entities.remove(&key);
            }
            Some(Body::SnapshotEnd(_) | Body::Heartbeat(_)) | None => {}
        }
    }
    if tenant != hotline_federation::ids::INHOUSE {
        for state in replica.entities.values_mut() {
            for register in state.registers.values_mut() {
                register.superseded.clear();
            }
        }
    }
    Ok(())
}

/// Subscribes from `cursor` and returns the events up to (and including) the first one whose
/// cursor reaches `target`.
pub async fn subscribe_until(
    client: &mut FederationClient<Channel>,
    cursor: u64,
    target: u64,
) -> anyhow::Result<Vec<pb::SyncEvent>> {
    let mut stream = client
        .subscribe(pb::SubscribeRequest { cursor })
        .await?
        .into_inner();
    collect_until(&mut stream, 100_000, |events| {
        events.last().is_some_and(|e| e.cursor >= target)
    })
    .await
}

/// What the gateway holds for `tenant`, redacted: what that tenant's replica must equal.
pub fn gateway_view(
    state: &GatewayState,
    tenant: &str,
) -> anyhow::Result<hotline_federation::Replica> {
    Ok(state.view(tenant)?)
}

/// Leases `count` numbers for the client's site.
pub async fn lease(
    client: &mut FederationClient<Channel>,
    count: u32,
) -> anyhow::Result<pb::LeaseBlock> {
    client
        .lease(pb::LeaseRequest { count })
        .await?
        .into_inner()
        .block
        .context("lease without block")
}

/// The tickets of a view, by customer reference: each request the tests make carries a unique
/// reference, so more than one number under a reference is a duplicate.
pub fn tickets_by_customer(
    view: &hotline_federation::Replica,
) -> std::collections::BTreeMap<String, Vec<String>> {
    use hotline_federation::EntityKind;
    use hotline_federation::model::{FieldValue, TicketField};
    let mut by_customer = std::collections::BTreeMap::<String, Vec<String>>::new();
    for ticket in view
        .entities
        .values()
        .filter(|e| e.key.kind == EntityKind::Ticket)
    {
        if let Some(FieldValue::Ticket(TicketField::CustomerRef(customer))) =
            ticket.value("customer_ref")
        {
            by_customer
                .entry(customer.clone())
                .or_default()
                .push(ticket.key.id.clone());
        }
    }
    by_customer
}
