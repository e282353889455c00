//! The demo federation: a PKI in a temp dir, the gateway and four partner adapters on free
//! loopback ports, all in this process but talking over real sockets with real mTLS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use hotline_adapter::config::{AdapterConfig, ClientTls, GatewayLink, ToolToken};
use hotline_adapter::replica::Replica;
use hotline_adapter::run::Adapter;
use hotline_gateway::config::{FocusTeamConfig, GatewayConfig, SiteConfig, TenantConfig};
use hotline_gateway::state::GatewayState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::link::Link;
use crate::pki_dir::PkiDir;
use crate::site_api::SiteApi;

/// The federation name of the demo.
pub const FEDERATION: &str = "acme";
/// The bearer token of the demo's partner tools.
pub const TOKEN: &str = "demo-tool-token-0123456789";

/// A site of the demo: (site, tenant, agents).
pub const SITES: &[(&str, &str, u32)] = &[
    ("munich", "inhouse", 10),
    ("dortmund", "twenty4help", 30),
    ("goerlitz", "twenty4help", 24),
    ("erfurt", "helpbycom", 17),
];

/// A focus team of the demo.
#[derive(Clone, Copy, Debug)]
pub struct DemoTeam {
    /// Focus team id.
    pub id: &'static str,
    /// Human name.
    pub name: &'static str,
    /// Tenants that handle it.
    pub handlers: &'static [&'static str],
    /// Tenants granted its PII.
    pub pii: &'static [&'static str],
    /// Share of the calls.
    pub share: f64,
}

/// The five focus teams of DESIGN.md section 1.
pub const TEAMS: &[DemoTeam] = &[
    DemoTeam {
        id: "finance-hr",
        name: "Finance and HR",
        handlers: &["inhouse", "twenty4help"],
        pii: &["twenty4help"],
        share: 0.20,
    },
    DemoTeam {
        id: "dealers-sales",
        name: "Dealers and sales",
        handlers: &["inhouse", "twenty4help", "helpbycom"],
        pii: &[],
        share: 0.25,
    },
    DemoTeam {
        id: "plants",
        name: "Plants",
        handlers: &["inhouse", "helpbycom"],
        pii: &["helpbycom"],
        share: 0.20,
    },
    DemoTeam {
        id: "departments-tech",
        name: "Departments and technology",
        handlers: &["inhouse", "twenty4help"],
        pii: &[],
        share: 0.25,
    },
    DemoTeam {
        id: "bank",
        name: "The bank",
        handlers: &["inhouse"],
        pii: &[],
        share: 0.10,
    },
];

/// One running site.
pub struct Site {
    /// Site id.
    pub id: &'static str,
    /// Its tenant.
    pub tenant: &'static str,
    /// Its agents (how many calls it takes).
    pub agents: u32,
    /// Its local API.
    pub api: SiteApi,
    /// Its store.
    pub replica: Arc<Replica>,
    /// The link to the gateway, when the demo can cut it.
    pub link: Option<Link>,
    task: JoinHandle<hotline_adapter::error::Result<()>>,
}

/// The running federation.
pub struct Federation {
    /// The gateway's state.
    pub gateway: Arc<GatewayState>,
    /// Where the gateway listens.
    pub gateway_addr: SocketAddr,
    /// Where the customers' status page listens (plain HTTP on loopback).
    pub status_page: SocketAddr,
    /// The sites, in [`SITES`] order.
    pub sites: Vec<Site>,
    shutdown: CancellationToken,
    gateway_task: JoinHandle<hotline_gateway::error::Result<()>>,
    web_task: JoinHandle<hotline_gateway::error::Result<()>>,
}

/// The display name of a demo tenant (never shown to customers: the leak guard keeps it out).
fn tenant_name(tenant: &str) -> &'static str {
    match tenant {
        "inhouse" => "ACME In-house IT",
        "twenty4help" => "Twenty4Help GmbH",
        "helpbycom" => "HelpByCom AG",
        _ => "Partner",
    }
}

/// The display name of a demo site.
fn site_name(site: &str) -> &'static str {
    match site {
        "munich" => "ACME Headquarters",
        "dortmund" => "Dortmund",
        "goerlitz" => "Görlitz",
        "erfurt" => "Erfurt",
        _ => "Site",
    }
}

/// Where the demo's gateway keeps its store: the default engine in `<dir>/gateway`, or a
/// PostgreSQL database.
#[derive(Clone, Debug, Default)]
pub struct GatewayStorage {
    /// The database's URL; `None` for the default engine on disk.
    pub postgres_url: Option<String>,
}

impl GatewayStorage {
    /// Points `config` at this storage.
    pub fn apply(&self, config: &mut GatewayConfig) {
        if let Some(url) = &self.postgres_url {
            config.storage = "postgres".into();
            config.postgres.url = url.clone();
        }
    }
}

/// The gateway config of the demo federation, with its files under `dir`.
pub fn gateway_config(dir: &Path) -> GatewayConfig {
    let mut tenants: Vec<TenantConfig> = Vec::new();
    for (_, tenant, _) in SITES {
        if !tenants.iter().any(|t| t.id == *tenant) {
            tenants.push(TenantConfig {
                id: (*tenant).into(),
                name: tenant_name(tenant).into(),
            });
        }
    }
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    let mut config = GatewayConfig {
        federation: FEDERATION.into(),
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("gateway"),
        tenants,
        sites: SITES
            .iter()
            .map(|(id, tenant, _)| SiteConfig {
                id: (*id).into(),
                tenant: (*tenant).into(),
                name: Some(site_name(id).into()),
            })
            .collect(),
        focus_teams: TEAMS
            .iter()
            .map(|team| FocusTeamConfig {
                id: team.id.into(),
                name: team.name.into(),
                handlers: strings(team.handlers),
                sla_answer_seconds: 25,
                sla_target_percent: 80,
                fcr_target_percent: 75,
                review_cadence: "weekly".into(),
                pii_grants: strings(team.pii),
                partner_retention_days: None,
            })
            .collect(),
        ..GatewayConfig::default()
    };
    config.tls.ca_cert = dir.join("pki/ca.pem");
    config.tls.cert = dir.join("pki/gateway.pem");
    config.tls.key = dir.join("pki/gateway.key");
    config.tls.crl = Some(dir.join("pki/federation.crl"));
    config.limits.heartbeat_interval_ms = 500;
    // The demo and the benchmark measure the gateway, not the per-tenant quota.
    config.limits.tenant_changes_per_second = 10_000_000;
    config.limits.tenant_burst = 10_000_000;
    config
}

fn adapter_config(
    dir: &Path,
    site: &str,
    tenant: &str,
    gateway: SocketAddr,
    status_page: SocketAddr,
) -> AdapterConfig {
    let mut config = AdapterConfig {
        federation: FEDERATION.into(),
        tenant: tenant.into(),
        site: site.into(),
        data_dir: dir.join(format!("site-{site}")),
        gateway: GatewayLink {
            url: format!("https://{gateway}"),
            replicas: Vec::new(),
            server_name: "localhost".into(),
        },
        tls: ClientTls {
            ca_cert: dir.join("pki/ca.pem"),
            cert: dir.join(format!("pki/{site}.pem")),
            key: dir.join(format!("pki/{site}.key")),
        },
        tools: vec![ToolToken {
            name: "demo".into(),
            token: TOKEN.into(),
        }],
        ..AdapterConfig::default()
    };
    config.api.listen = "127.0.0.1:0".into();
    config.status_page_url = format!("http://{status_page}/");
    config.sync.backoff_min_ms = 50;
    config.sync.backoff_max_ms = 500;
    config.sync.lease_size = 2000;
    config.sync.lease_low_water = 200;
    config
}

/// Creates the demo PKI in `dir/pki`: CA, gateway, one certificate per site, an admin.
pub fn make_pki(dir: &Path) -> anyhow::Result<()> {
    let pki = PkiDir::new(dir.join("pki"));
    let ca = pki.init(FEDERATION, false)?;
    let days = time::Duration::days(2);
    pki.store(
        "gateway",
        &ca.issue_server(&["localhost"], &[IpAddr::V4(Ipv4Addr::LOCALHOST)], days)?,
        false,
    )?;
    for (site, tenant, _) in SITES {
        pki.store(site, &ca.issue_site(FEDERATION, tenant, site, days)?, false)?;
    }
    pki.store(
        "demo-admin",
        &ca.issue_staff(FEDERATION, "admin", "demo-admin", days)?,
        false,
    )?;
    Ok(())
}

impl Federation {
    /// Creates the PKI in `dir` and starts the gateway and the sites. The site `offline_site`
    /// reaches the gateway through a [`Link`] the demo can cut.
    pub async fn start(
        dir: &Path,
        offline_site: &str,
        storage: &GatewayStorage,
    ) -> anyhow::Result<Federation> {
        make_pki(dir)?;

        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let gateway_addr = listener.local_addr()?;
        let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let status_page = web_listener.local_addr()?;
        let mut config = gateway_config(dir);
        storage.apply(&mut config);
        config.web.listen = status_page.to_string();
        config.web.public_url = format!("http://{status_page}/");
        let gateway = GatewayState::open(config).await?;
        let gateway_task = tokio::spawn(hotline_gateway::server::run(
            listener,
            gateway.clone(),
            shutdown.clone(),
        ));
        let web_task = tokio::spawn(hotline_gateway::web::run(
            web_listener,
            gateway.clone(),
            shutdown.clone(),
        ));

        let mut sites = Vec::new();
        for (id, tenant, agents) in SITES {
            let link = if *id == offline_site {
                Some(Link::start(gateway_addr, shutdown.clone()).await?)
            } else {
                None
            };
            let target = link.as_ref().map_or(gateway_addr, |l| l.addr);
            let adapter = Adapter::open(adapter_config(dir, id, tenant, target, status_page))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let api = SiteApi::new(listener.local_addr()?, TOKEN);
            let replica = adapter.replica.clone();
            let task = tokio::spawn(adapter.run(listener, shutdown.clone()));
            sites.push(Site {
                id,
                tenant,
                agents: *agents,
                api,
                replica,
                link,
                task,
            });
        }
        let fed = Federation {
            gateway,
            gateway_addr,
            status_page,
            sites,
            shutdown,
            gateway_task,
            web_task,
        };
        // Every site needs its first lease of ticket numbers and the focus team policies of its
        // first snapshot (a partner creates tickets only in teams it knows it handles) before
        // calls come in.
        let started = std::time::Instant::now();
        for site in &fed.sites {
            let ready = |r: &Replica| Ok(r.numbers_left()? > 0 && !r.directory()?.teams.is_empty());
            while !off_runtime(&site.replica, ready).await? {
                anyhow::ensure!(
                    started.elapsed() < std::time::Duration::from_secs(30),
                    "site {} got no ticket numbers or no policies from the gateway within 30 s",
                    site.id
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        Ok(fed)
    }

    /// The site with id `id`.
    pub fn site(&self, id: &str) -> &Site {
        self.sites
            .iter()
            .find(|s| s.id == id)
            .unwrap_or(&self.sites[0])
    }

    /// True when every site has pushed everything and applied the gateway's whole log.
    pub async fn quiet(&self) -> anyhow::Result<bool> {
        let head = self.gateway.head();
        for site in &self.sites {
            let behind = off_runtime(&site.replica, move |r| {
                Ok(r.outbox_depth() > 0 || r.cursor()? < head)
            });
            if behind.await? {
                return Ok(false);
            }
        }
        Ok(self.gateway.head() == head)
    }

    /// Stops everything and waits for the stores to close.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        for site in self.sites {
            site.task.await??;
        }
        self.gateway_task.await??;
        self.web_task.await??;
        Ok(())
    }
}

/// Runs a read of a site's store on the blocking pool, off the async threads.
async fn off_runtime<T: Send + 'static>(
    replica: &Arc<Replica>,
    read: impl FnOnce(&Replica) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let replica = Arc::clone(replica);
    tokio::task::spawn_blocking(move || read(&replica)).await?
}
