//! Deterministic simulation of the sync protocol (issue 7): one gateway on the in-memory store
//! and three partner sites of two tenants run the production sync code on turmoil's simulated
//! network and clock. A seed decides each site's stream of writes and the weather on the
//! network: partitions between each site and the gateway, latency, lost TCP segments, held
//! traffic released late (reordering across connections), and gateway crashes and restarts.
//! At the end the network is healed; every seed must then converge and lose nothing:
//!
//! - every change a site accepted is in the gateway's log exactly once, with the content the
//!   site wrote, and reflected in the gateway's state;
//! - nothing is left in any outbox and nothing was refused (parked);
//! - every replica equals the gateway's redacted view for its tenant (canonical hash).
//!
//! Seeds: `HOTLINE_TURMOIL_SEEDS=N` runs seeds 1..=N (default [`DEFAULT_SEEDS`]),
//! `HOTLINE_TURMOIL_SEED=S` runs seed S alone. A failing seed prints the command that replays
//! it; `HOTLINE_TURMOIL_LOG=1` adds the fault timeline and the sync logs. A seed replays
//! exactly (checked by `a_seed_replays_identically`).
//!
//! How the simulation reaches the production code: the gateway serves its real Federation
//! service through `server::serve_incoming` over turmoil connections, vouching for each peer
//! by its simulated host name (the stand-in for mTLS), with the writer as a task on the host's
//! runtime (`WriterMode::Task`); each site runs the real `sync::run_with` loop over a tonic
//! channel on a turmoil socket, with a seeded reconnect jitter and applies on the runtime
//! thread. Local writes go through the same `Replica::local_change*` calls as the adapter API.
//!
//! What turmoil's network does to TCP: segments of one connection stay in order; a lost
//! segment (link `fail_rate`, or a partition, which drops what is in flight) is never
//! re-sent, so that connection stalls until HTTP/2 keepalive or a timeout ends it, exactly
//! like a black-holed TCP connection. Holding a link delays everything on it; releasing it
//! delivers the held traffic at once, after traffic of other links that went meanwhile.
//!
//! Physical clocks: the sites' HLC readings come from simulated time (plus the real time at
//! the seed's start); the gateway's `at_ms`, lease year and skew check and the adapter's
//! `now_ms` stay on the real clock. The checks do not depend on them: the log is compared by
//! (site, origin sequence) and content, states by canonical hash.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hotline_adapter::config::{AdapterConfig, GatewayLink};
use hotline_adapter::events::TicketEvents;
use hotline_adapter::mapping::Mapping;
use hotline_adapter::replica::Replica;
use hotline_adapter::sync::{self, Dialer, Jitter, SyncContext, SyncOptions, SyncStatus};
use hotline_federation::model::{
    Channel, Comment, EntityKey, EntityKind, FieldValue, Language, Priority, StatusTransition,
    TicketField, TicketStatus, Visibility,
};
use hotline_federation::status::allowed_after;
use hotline_federation::{Change, EntityState, FieldOp};
use hotline_gateway::config::{FocusTeamConfig, GatewayConfig, SiteConfig, TenantConfig};
use hotline_gateway::identity::Identity;
use hotline_gateway::server::{VouchedConnection, serve_incoming};
use hotline_gateway::state::GatewayState;
use hotline_gateway::store::memory::MemoryStore;
use hotline_gateway::store::{Store, keys};
use hotline_gateway::writer::WriterMode;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::codegen::http::Uri;
use tonic::transport::Endpoint;

/// Seeds run when neither `HOTLINE_TURMOIL_SEEDS` nor `HOTLINE_TURMOIL_SEED` is set.
const DEFAULT_SEEDS: u64 = 24;
/// The gateway's simulated host name and port.
const GATEWAY: &str = "gateway";
const PORT: u16 = 9443;
/// The sites: (site, tenant, focus teams it files tickets for). Two tenants, and one team
/// (`dealers-sales`) both handle, so visibility and PII redaction matter.
const SITES: [(&str, &str, &[&str]); 3] = [
    ("dortmund", "twenty4help", &["finance-hr", "dealers-sales"]),
    ("goerlitz", "twenty4help", &["dealers-sales"]),
    ("erfurt", "helpbycom", &["plants", "dealers-sales"]),
];
/// Simulated time of each step.
const TICK: Duration = Duration::from_millis(5);
/// How long the network misbehaves.
const WEATHER: Duration = Duration::from_secs(30);
/// HTTP/2 keepalive interval and timeout of the seeds that give up on silent connections fast.
const FAST_KEEPALIVE: Duration = Duration::from_secs(2);
/// How long the healed network gets to converge (HTTP/2 keepalive needs up to 25 s to give up
/// on a stalled connection).
const SETTLE: Duration = Duration::from_secs(120);

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `range` (half open).
    fn range(&mut self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.next() % (range.end - range.start)
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.range(0..100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0..items.len() as u64) as usize]
    }

    fn millis(&mut self, range: std::ops::Range<u64>) -> Duration {
        Duration::from_millis(self.range(range))
    }
}

/// The gateway's config; with `fast_keepalive` both ends give up on a silent connection
/// within seconds (see [`FAST_KEEPALIVE`]).
fn gateway_config(fast_keepalive: bool) -> GatewayConfig {
    let tenant = |id: &str| TenantConfig {
        id: id.into(),
        name: id.into(),
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
    };
    GatewayConfig {
        federation: "acme".into(),
        storage: "memory".into(),
        // Site clocks run on simulated time, which may run ahead of the gateway's real clock.
        max_skew_ms: 3_600_000,
        tenants: vec![
            tenant("inhouse"),
            tenant("twenty4help"),
            tenant("helpbycom"),
        ],
        sites: SITES
            .iter()
            .map(|(site, tenant, _)| SiteConfig {
                id: (*site).into(),
                tenant: (*tenant).into(),
            })
            .collect(),
        focus_teams: vec![
            team("finance-hr", &["inhouse", "twenty4help"], &["twenty4help"]),
            team("plants", &["inhouse", "helpbycom"], &[]),
            team(
                "dealers-sales",
                &["inhouse", "twenty4help", "helpbycom"],
                &["twenty4help"],
            ),
        ],
        limits: hotline_gateway::config::Limits {
            heartbeat_interval_ms: 1000,
            keepalive_interval_s: if fast_keepalive { 2 } else { 30 },
            keepalive_timeout_s: if fast_keepalive { 2 } else { 10 },
            ..hotline_gateway::config::Limits::default()
        },
        ..GatewayConfig::default()
    }
}

/// Connects tonic channels over turmoil's simulated TCP.
#[derive(Clone, Copy, Debug)]
struct SimConnector;

impl tonic::codegen::Service<Uri> for SimConnector {
    type Response = TokioIo<turmoil::net::TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let host = uri.host().unwrap_or_default().to_owned();
            let port = uri.port_u16().unwrap_or(PORT);
            let stream = turmoil::net::TcpStream::connect(format!("{host}:{port}")).await?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// What one site accepted from its users, in order.
type Accepted = Arc<Mutex<Vec<Change>>>;

/// One site of the simulation, as the checks see it.
struct SiteRun {
    site: &'static str,
    tenant: &'static str,
    replica: Arc<Replica>,
    status: Arc<SyncStatus>,
    accepted: Accepted,
    done: Arc<AtomicBool>,
}

/// What a run leaves behind to compare between two runs of one seed.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    /// Simulated milliseconds until convergence.
    converged_at_ms: u64,
    /// The gateway log in order: (origin site, origin sequence).
    log: Vec<(String, u64)>,
    /// Per site: changes accepted locally, and changes re-pushed after a lost acknowledgement.
    sites: Vec<(u64, u64)>,
    /// Network and gateway events applied.
    weather: u64,
    /// Gateway crashes.
    crashes: u64,
    /// Sync sessions that ended.
    drops: u64,
}

impl Trace {
    fn duplicates(&self) -> u64 {
        self.sites.iter().map(|(_, d)| d).sum()
    }

    fn summary(&self) -> String {
        format!(
            "converged after {:.1} s simulated, {} changes, {} weather events, {} gateway \
             crashes, {} sessions ended, {} re-pushed duplicates",
            self.converged_at_ms as f64 / 1000.0,
            self.log.len(),
            self.weather,
            self.crashes,
            self.drops,
            self.duplicates()
        )
    }
}

fn now_for_site(base_ms: u64) -> u64 {
    base_ms + turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

fn set(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

fn status_of(state: &EntityState) -> Option<TicketStatus> {
    match state.value("status") {
        Some(FieldValue::Ticket(TicketField::Status(t))) => Some(t.to),
        _ => None,
    }
}

/// Makes one random local write at `site`, as the adapter API would; `None` when the chosen
/// write is not possible right now (no ticket numbers yet, nothing visible, a closed ticket).
fn local_write(
    rng: &mut Rng,
    replica: &Replica,
    events: &TicketEvents,
    (site, tenant, teams): (&str, &str, &[&str]),
    now: u64,
) -> anyhow::Result<Option<Change>> {
    let visible: Vec<EntityState> = replica.entities(EntityKind::Ticket)?;
    let roll = rng.range(0..10);
    if roll < 3 || visible.is_empty() {
        let team = (*rng.pick(teams)).to_owned();
        let priority = *rng.pick(&[Priority::Low, Priority::Normal, Priority::High]);
        let customer = format!("C-{}", rng.range(1000..1100));
        let made = replica.local_change_new_ticket(now, events, |number, seq, hlc, _| {
            Ok(Change {
                key: EntityKey::new(EntityKind::Ticket, number),
                ops: vec![
                    set(TicketField::PublicNumber(number.to_owned())),
                    set(TicketField::OriginTenant(tenant.to_owned())),
                    set(TicketField::FocusTeam(team)),
                    set(TicketField::CustomerRef(customer)),
                    set(TicketField::Category("vpn".into())),
                    set(TicketField::Priority(priority)),
                    set(TicketField::Status(StatusTransition {
                        from: None,
                        to: TicketStatus::New,
                    })),
                    set(TicketField::Language(Language::De)),
                    set(TicketField::Channel(Channel::Phone)),
                    set(TicketField::OpenedAt(now)),
                    set(TicketField::HandlingSite(site.to_owned())),
                    set(TicketField::FirstContact(false)),
                    set(TicketField::Subject(format!("opened at {site}"))),
                    set(TicketField::CustomerName("Erika Mustermann".into())),
                    set(TicketField::CustomerEmail("erika@example.com".into())),
                ],
                origin_site: site.to_owned(),
                origin_seq: seq,
                hlc,
            })
        });
        return match made {
            Ok((change, _)) => Ok(Some(change)),
            Err(hotline_adapter::error::Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e.into()),
        };
    }
    let key = rng.pick(&visible).key.clone();
    let edit = match roll {
        3..=5 => {
            let visibility = *rng.pick(&[
                Visibility::Public,
                Visibility::Federation,
                Visibility::Tenant,
            ]);
            Edit::Comment(visibility, format!("note {}", rng.range(0..1_000_000)))
        }
        6..=7 => {
            let from = status_of(&replica.entity(&key)?);
            let allowed = allowed_after(from);
            if allowed.is_empty() {
                return Ok(None);
            }
            let to = *rng.pick(allowed);
            Edit::Field(set(TicketField::Status(StatusTransition { from, to })))
        }
        _ => Edit::Field(match rng.range(0..3) {
            0 => set(TicketField::Priority(*rng.pick(&[
                Priority::Low,
                Priority::Normal,
                Priority::High,
                Priority::Critical,
            ]))),
            1 => set(TicketField::Subject(format!(
                "subject {}",
                rng.range(0..1000)
            ))),
            _ => set(TicketField::AssigneeAlias(format!(
                "agent {}",
                rng.range(0..50)
            ))),
        }),
    };
    let (change, _) = replica.local_change(&key, now, events, |seq, hlc, _, _| {
        let op = match edit {
            Edit::Comment(visibility, body) => FieldOp::AddComment(Comment {
                id: format!("{site}-{seq}"),
                author_alias: "Advisor 7".into(),
                author_tenant: tenant.to_owned(),
                visibility,
                body,
                created_at_ms: now,
            }),
            Edit::Field(op) => op,
        };
        Ok(Change {
            key: key.clone(),
            ops: vec![op],
            origin_site: site.to_owned(),
            origin_seq: seq,
            hlc,
        })
    })?;
    Ok(Some(change))
}

/// A write to an existing ticket.
enum Edit {
    /// A comment with this visibility and body (its id needs the origin sequence).
    Comment(Visibility, String),
    /// A field write.
    Field(FieldOp),
}

/// Registers the gateway host: the real Federation service on the in-memory store, each peer
/// vouched for by its simulated host name.
fn gateway_host(
    sim: &mut turmoil::Sim<'_>,
    store: Arc<MemoryStore>,
    cell: GatewayCell,
    fast_keepalive: bool,
) {
    sim.host(GATEWAY, move || {
        let (store, cell) = (store.clone(), cell.clone());
        async move {
            let config = gateway_config(fast_keepalive);
            let state = GatewayState::open_with_writer(config, store, WriterMode::Task).await?;
            *cell.lock().unwrap() = Some(state.clone());
            let listener =
                turmoil::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)))
                    .await?;
            let connections = futures_util::stream::unfold(listener, |listener| async move {
                let accepted = listener.accept().await.and_then(|(stream, peer)| {
                    let identity = identity_of_host(peer.ip()).ok_or_else(|| {
                        std::io::Error::other(format!("unknown simulated peer {peer}"))
                    })?;
                    Ok(VouchedConnection::new(stream, identity))
                });
                Some((accepted, listener))
            });
            serve_incoming(connections, state, CancellationToken::new()).await?;
            Ok(())
        }
    });
}

/// The site identity of a simulated host, by its name.
fn identity_of_host(ip: IpAddr) -> Option<Identity> {
    let name = turmoil::reverse_lookup(ip)?;
    SITES
        .iter()
        .find(|(site, _, _)| *site == name)
        .map(|(site, tenant, _)| Identity::Site {
            tenant: (*tenant).into(),
            site: (*site).into(),
        })
}

type GatewayCell = Arc<Mutex<Option<Arc<GatewayState>>>>;

/// Registers one site host: the real sync loop plus a seeded stream of local writes.
fn site_host(
    sim: &mut turmoil::Sim<'_>,
    seed: u64,
    index: usize,
    base_ms: u64,
    fast_keepalive: bool,
    dir: &std::path::Path,
) -> anyhow::Result<SiteRun> {
    let (site, tenant, _) = SITES[index];
    let replica = Arc::new(Replica::open(
        dir,
        site,
        tenant,
        hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
    )?);
    let mut config = AdapterConfig {
        federation: "acme".into(),
        tenant: tenant.into(),
        site: site.into(),
        data_dir: dir.to_path_buf(),
        gateway: GatewayLink {
            url: format!("http://{GATEWAY}:{PORT}"),
            server_name: GATEWAY.into(),
        },
        ..AdapterConfig::default()
    };
    config.sync.backoff_min_ms = 50;
    config.sync.backoff_max_ms = 2000;
    config.sync.lease_size = 20;
    config.sync.lease_low_water = 5;
    config.sync.push_batch = 8;
    let config = Arc::new(config);
    let events = Arc::new(TicketEvents::new(
        Vec::new(),
        Mapping::new(&config.mapping)?,
        site.into(),
        Arc::new(Notify::new()),
    ));
    let status = Arc::new(SyncStatus::default());
    let accepted: Accepted = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let run = SiteRun {
        site,
        tenant,
        replica: replica.clone(),
        status: status.clone(),
        accepted: accepted.clone(),
        done: done.clone(),
    };
    let site_seed = seed.wrapping_mul(31).wrapping_add(index as u64 + 1);
    sim.host(site, move || {
        let ctx = SyncContext {
            replica: replica.clone(),
            events: events.clone(),
            status: status.clone(),
            outbox: Arc::new(Notify::new()),
            config: config.clone(),
        };
        let (accepted, done) = (accepted.clone(), done.clone());
        async move {
            let dial: sync::Dial = Arc::new(move |endpoint: Endpoint| {
                let endpoint = if fast_keepalive {
                    endpoint
                        .http2_keep_alive_interval(FAST_KEEPALIVE)
                        .keep_alive_timeout(FAST_KEEPALIVE)
                } else {
                    endpoint
                };
                Box::pin(async move { endpoint.connect_with_connector(SimConnector).await })
            });
            let options = SyncOptions {
                dialer: Dialer::Custom(dial),
                jitter: Jitter::seeded(site_seed),
                apply_inline: true,
            };
            let outbox = ctx.outbox.clone();
            let (replica, events) = (ctx.replica.clone(), ctx.events.clone());
            let syncing = tokio::spawn(sync::run_with(ctx, options, CancellationToken::new()));
            let mut rng = Rng::new(site_seed);
            let writes = rng.range(15..40);
            let mut made = 0;
            while made < writes {
                tokio::time::sleep(rng.millis(20..1500)).await;
                let now = now_for_site(base_ms);
                let written = local_write(&mut rng, &replica, &events, SITES[index], now)
                    .map_err(|e| format!("{site}: local write failed: {e:#}"))?;
                if let Some(change) = written {
                    accepted.lock().unwrap().push(change);
                    outbox.notify_one();
                    made += 1;
                }
            }
            done.store(true, Ordering::SeqCst);
            syncing.await?;
            Ok(())
        }
    });
    Ok(run)
}

/// The network's misbehaviour over time, all drawn from the seed.
struct Weather {
    rng: Rng,
    /// Per site: when its current partition, hold or loss ends.
    until: BTreeMap<&'static str, (Duration, Fault)>,
    gateway_down_until: Option<Duration>,
    applied: u64,
    crashes: u64,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Nothing gets through either way; what was in flight is lost.
    Partition,
    /// Requests reach the gateway, its answers are lost: stored but never acknowledged.
    AckLoss,
    /// Everything waits on the link, then arrives at once (after other links' traffic).
    Hold,
    /// Random bursts of lost segments.
    Loss,
}

impl Weather {
    /// One decision step at simulated time `now`.
    fn step(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration) {
        for (site, _, _) in SITES {
            if let Some((end, fault)) = self.until.get(site).copied() {
                if now >= end {
                    heal(sim, site, fault);
                    self.until.remove(site);
                    self.applied += 1;
                }
                continue;
            }
            if !self.rng.chance(6) {
                continue;
            }
            let fault =
                *self
                    .rng
                    .pick(&[Fault::Partition, Fault::AckLoss, Fault::Hold, Fault::Loss]);
            let length = match fault {
                Fault::Partition | Fault::AckLoss => self.rng.millis(200..8000),
                Fault::Hold => self.rng.millis(50..3000),
                Fault::Loss => self.rng.millis(500..5000),
            };
            match fault {
                Fault::Partition => sim.partition(site, GATEWAY),
                Fault::AckLoss => sim.partition_oneway(GATEWAY, site),
                Fault::Hold => sim.hold(site, GATEWAY),
                Fault::Loss => {
                    let rate = self.rng.range(1..6) as f64 / 100.0;
                    sim.set_link_fail_rate(site, GATEWAY, rate);
                }
            }
            if verbose() {
                eprintln!("t={:?} {site} {fault:?} for {length:?}", now);
            }
            self.until.insert(site, (now + length, fault));
            self.applied += 1;
        }
        if self.rng.chance(3) {
            let (low, high) = (self.rng.range(0..20), self.rng.range(20..200));
            let site = self.rng.pick(&SITES).0;
            sim.set_link_latency(site, GATEWAY, Duration::from_millis(low));
            sim.set_link_max_message_latency(site, GATEWAY, Duration::from_millis(high));
            self.applied += 1;
        }
        match self.gateway_down_until {
            Some(end) if now >= end => {
                sim.bounce(GATEWAY);
                self.gateway_down_until = None;
                self.applied += 1;
            }
            None if self.rng.range(0..1000) < 5 => {
                sim.crash(GATEWAY);
                self.crashes += 1;
                self.gateway_down_until = Some(now + self.rng.millis(100..3000));
                self.applied += 1;
            }
            _ => {}
        }
    }

    /// Heals everything: links repaired, held traffic released, no loss, gateway up.
    fn clear(&mut self, sim: &mut turmoil::Sim<'_>) {
        for (site, _, _) in SITES {
            if let Some((_, fault)) = self.until.remove(site) {
                heal(sim, site, fault);
            }
        }
        if self.gateway_down_until.take().is_some() {
            sim.bounce(GATEWAY);
        }
    }
}

fn heal(sim: &mut turmoil::Sim<'_>, site: &str, fault: Fault) {
    match fault {
        Fault::Partition => sim.repair(site, GATEWAY),
        Fault::AckLoss => sim.repair_oneway(GATEWAY, site),
        Fault::Hold => sim.release(site, GATEWAY),
        Fault::Loss => {
            sim.set_link_fail_rate(site, GATEWAY, 0.0);
            // A random partition from loss may still stand; repair it too.
            sim.repair(site, GATEWAY);
        }
    }
}

/// True when every site is done writing, every outbox is empty and every replica equals the
/// gateway's view for its tenant.
fn quiet(gateway: &GatewayState, sites: &[SiteRun]) -> anyhow::Result<bool> {
    for run in sites {
        if !run.done.load(Ordering::SeqCst) || run.replica.outbox_depth() > 0 {
            return Ok(false);
        }
        if run.replica.snapshot()?.canonical_hash() != gateway.view(run.tenant)?.canonical_hash() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The checks of a converged run; each failure says what was lost, doubled or different.
fn check(gateway: &GatewayState, store: &MemoryStore, sites: &[SiteRun]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut log: BTreeMap<(String, u64), Vec<Change>> = BTreeMap::new();
    let (start, end) = (keys::log(0), keys::log(u64::MAX));
    match store.range(&start, &end, usize::MAX) {
        Ok(entries) => {
            for (_, raw) in entries {
                match hotline_gateway::log::decode_record(&raw) {
                    Ok((change, _)) => log
                        .entry((change.origin_site.clone(), change.origin_seq))
                        .or_default()
                        .push(change),
                    Err(e) => problems.push(format!("unreadable log record: {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("cannot read the gateway log: {e}")),
    }
    let mut made = BTreeSet::new();
    for run in sites {
        for change in run.accepted.lock().unwrap().iter() {
            let id = (change.origin_site.clone(), change.origin_seq);
            made.insert(id.clone());
            match log.get(&id).map(Vec::as_slice) {
                None | Some([]) => problems.push(format!(
                    "{} change {} ({}) is missing at the gateway",
                    run.site, change.origin_seq, change.key
                )),
                Some([stored]) if stored == change => {}
                Some([stored]) => problems.push(format!(
                    "{} change {} differs at the gateway: wrote {change:?}, stored {stored:?}",
                    run.site, change.origin_seq
                )),
                Some(many) => problems.push(format!(
                    "{} change {} is in the gateway log {} times",
                    run.site,
                    change.origin_seq,
                    many.len()
                )),
            }
            match store.get(&keys::entity(&change.key)) {
                Ok(Some(raw)) => match hotline_gateway::log::decode_state(&raw) {
                    Ok(state) => {
                        if let Some(missing) = unreflected(&state, change) {
                            problems.push(format!(
                                "{} change {}: gateway state of {} does not reflect {missing}",
                                run.site, change.origin_seq, change.key
                            ));
                        }
                    }
                    Err(e) => problems.push(format!("unreadable entity {}: {e}", change.key)),
                },
                Ok(None) => problems.push(format!(
                    "{} change {}: entity {} is missing at the gateway",
                    run.site, change.origin_seq, change.key
                )),
                Err(e) => problems.push(format!("cannot read entity {}: {e}", change.key)),
            }
        }
        if let Ok(parked) = run.replica.parked() {
            for p in parked {
                problems.push(format!("{} parked a change: {}", run.site, p.message));
            }
        }
        if run.replica.outbox_depth() > 0 {
            problems.push(format!(
                "{} still has {} changes in its outbox",
                run.site,
                run.replica.outbox_depth()
            ));
        }
        match (run.replica.snapshot(), gateway.view(run.tenant)) {
            (Ok(replica), Ok(view)) if replica.canonical_hash() == view.canonical_hash() => {}
            (Ok(replica), Ok(view)) => {
                let keys: BTreeSet<_> = replica
                    .entities
                    .keys()
                    .chain(view.entities.keys())
                    .collect();
                let differing: Vec<String> = keys
                    .into_iter()
                    .filter(|k| replica.entities.get(*k) != view.entities.get(*k))
                    .map(|k| k.to_string())
                    .collect();
                problems.push(format!(
                    "{} ({}) differs from the gateway's view in {differing:?}",
                    run.site, run.tenant
                ));
            }
            (Err(e), _) => problems.push(format!("{}: cannot read the replica: {e}", run.site)),
            (_, Err(e)) => problems.push(format!("gateway view of {}: {e}", run.tenant)),
        }
    }
    for ((site, seq), _) in log {
        let from_a_site = SITES.iter().any(|(s, _, _)| *s == site);
        if from_a_site && !made.contains(&(site.clone(), seq)) {
            problems.push(format!(
                "the gateway log holds change {seq} of {site}, which no site made"
            ));
        }
    }
    problems
}

/// What of `change` the gateway's `state` fails to reflect: a comment it lacks, or a field
/// whose winning write is older than the change.
fn unreflected(state: &EntityState, change: &Change) -> Option<String> {
    let stamp = change.stamp();
    for op in &change.ops {
        match op {
            FieldOp::AddComment(comment) => match state.comments.get(&comment.id) {
                Some(stored) if stored.value == *comment => {}
                _ => return Some(format!("comment {}", comment.id)),
            },
            FieldOp::Set(value) => match state.registers.get(&value.register()) {
                Some(register) if register.winner.stamp >= stamp => {}
                _ => return Some(format!("field {}", value.register())),
            },
            FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => {}
        }
    }
    None
}

/// Runs one seed to convergence and checks it.
fn run_seed(seed: u64) -> Result<Trace, String> {
    if verbose() {
        hotline_gateway::telemetry::init("text", "info");
    }
    // Declared before the simulation, so the stores' directories outlive the hosts using them.
    let dirs = (0..SITES.len())
        .map(|_| tempfile::tempdir())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("setup: {e}"))?;
    let base_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut rng = Rng::new(seed);
    let min_latency = rng.range(0..5);
    let max_latency = rng.range(min_latency + 1..100);
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .tick_duration(TICK)
        .simulation_duration(WEATHER + SETTLE + Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(min_latency))
        .max_message_latency(Duration::from_millis(max_latency))
        .enable_random_order()
        .build();
    // Half the seeds keep the production keepalive (a stalled connection is given up after
    // up to 25 s, so a site sits out most of the weather on one), half give up in seconds and
    // so reconnect, resubscribe and re-push far more often.
    let fast_keepalive = rng.chance(50);
    let store = Arc::new(MemoryStore::new());
    let cell: GatewayCell = Arc::default();
    gateway_host(&mut sim, store.clone(), cell.clone(), fast_keepalive);
    let sites = (0..SITES.len())
        .map(|index| {
            let dir = dirs[index].path();
            site_host(&mut sim, seed, index, base_ms, fast_keepalive, dir)
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| format!("setup: {e:#}"))?;
    let mut weather = Weather {
        rng: Rng::new(seed ^ 0x5EED),
        until: BTreeMap::new(),
        gateway_down_until: None,
        applied: 0,
        crashes: 0,
    };
    let decide_every = Duration::from_millis(100);
    let mut next_decision = Duration::ZERO;
    let mut healed = false;
    let mut next_check = Duration::ZERO;
    let mut was_connected = vec![false; sites.len()];
    let mut drops = 0u64;
    loop {
        sim.step().map_err(|e| format!("simulation failed: {e}"))?;
        for (run, was) in sites.iter().zip(was_connected.iter_mut()) {
            let is = run.status.connected.load(Ordering::SeqCst);
            if *was && !is {
                drops += 1;
            }
            if *was != is && verbose() {
                eprintln!("t={:?} {} connected={is}", sim.elapsed(), run.site);
            }
            *was = is;
        }
        let now = sim.elapsed();
        if now < WEATHER {
            if now >= next_decision {
                weather.step(&mut sim, now);
                next_decision = now + decide_every;
            }
            continue;
        }
        if !healed {
            weather.clear(&mut sim);
            healed = true;
        }
        if now < next_check {
            continue;
        }
        next_check = now + Duration::from_millis(500);
        let gateway = cell.lock().unwrap().clone();
        let Some(gateway) = gateway else {
            continue;
        };
        let converged = quiet(&gateway, &sites).map_err(|e| format!("check: {e:#}"))?;
        if converged || now >= WEATHER + SETTLE {
            let mut problems = check(&gateway, &store, &sites);
            if !converged {
                problems.insert(
                    0,
                    format!("not converged {SETTLE:?} after the network was healed"),
                );
                for run in &sites {
                    let error = run.status.last_error.lock().unwrap().clone();
                    problems.push(format!(
                        "{}: outbox {}, cursor {:?}, gateway head {}, last error {error:?}",
                        run.site,
                        run.replica.outbox_depth(),
                        run.replica.cursor().ok(),
                        gateway.head()
                    ));
                }
            }
            if !problems.is_empty() {
                return Err(problems.join("\n  "));
            }
            return Ok(Trace {
                converged_at_ms: now.as_millis() as u64,
                log: gateway_log(&store, &sites),
                sites: sites
                    .iter()
                    .map(|run| {
                        (
                            run.accepted.lock().unwrap().len() as u64,
                            run.status.duplicates.load(Ordering::SeqCst),
                        )
                    })
                    .collect(),
                weather: weather.applied,
                crashes: weather.crashes,
                drops,
            });
        }
    }
}

/// The gateway log in order, each site change named by its position among that site's
/// writes (origin sequences start at a floor taken from the real clock, so they differ between
/// runs).
fn gateway_log(store: &MemoryStore, sites: &[SiteRun]) -> Vec<(String, u64)> {
    let position: BTreeMap<(String, u64), u64> = sites
        .iter()
        .flat_map(|run| {
            let accepted = run.accepted.lock().unwrap();
            accepted
                .iter()
                .enumerate()
                .map(|(i, c)| ((c.origin_site.clone(), c.origin_seq), i as u64))
                .collect::<Vec<_>>()
        })
        .collect();
    store
        .range(&keys::log(0), &keys::log(u64::MAX), usize::MAX)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(_, raw)| hotline_gateway::log::decode_record(&raw).ok())
        .map(|(change, _)| {
            let id = (change.origin_site, change.origin_seq);
            let seq = position.get(&id).copied().unwrap_or(id.1);
            (id.0, seq)
        })
        .collect()
}

/// `HOTLINE_TURMOIL_LOG=1`: print the fault timeline, session changes and the sync logs.
fn verbose() -> bool {
    std::env::var_os("HOTLINE_TURMOIL_LOG").is_some()
}

/// The seeds to run, from the environment.
fn seeds() -> Vec<u64> {
    let parse = |name: &str, value: String| -> u64 {
        value.trim().parse().unwrap_or_else(|_| {
            panic!("{name}={value:?} is not a number; give a non-negative integer")
        })
    };
    if let Ok(seed) = std::env::var("HOTLINE_TURMOIL_SEED") {
        return vec![parse("HOTLINE_TURMOIL_SEED", seed)];
    }
    let count = match std::env::var("HOTLINE_TURMOIL_SEEDS") {
        Ok(count) => parse("HOTLINE_TURMOIL_SEEDS", count),
        Err(_) => DEFAULT_SEEDS,
    };
    (1..=count).collect()
}

/// Runs `seed`, turning a panic anywhere in the simulation into a failure of that seed.
fn run_caught(seed: u64) -> Result<Trace, String> {
    std::panic::catch_unwind(|| run_seed(seed)).unwrap_or_else(|panic| {
        let text = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!("panicked: {text}"))
    })
}

/// Under partitions, delays, lost segments, reordering and gateway restarts, every seed
/// converges: each accepted change reaches the gateway exactly once and every site that may
/// see it, and every replica ends equal to the gateway's view for its tenant.
#[test]
fn every_seed_converges_and_loses_nothing() {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut failed = Vec::new();
    let mut passed = Vec::new();
    for &seed in &seeds {
        match run_caught(seed) {
            Ok(trace) => {
                eprintln!("seed {seed}: {}", trace.summary());
                passed.push(trace);
            }
            Err(problems) => {
                eprintln!(
                    "seed {seed} FAILED:\n  {problems}\nreplay: HOTLINE_TURMOIL_SEED={seed} \
                     cargo test -p hotline-tests --test sync_turmoil -- --nocapture"
                );
                failed.push(seed);
            }
        }
    }
    let total = |f: fn(&Trace) -> u64| passed.iter().map(f).sum::<u64>();
    eprintln!(
        "{} seeds, {} failed, {:.1} s; passing seeds: {} changes, {} gateway crashes, {} \
         sessions ended, {} re-pushed duplicates",
        seeds.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        total(|t| t.log.len() as u64),
        total(|t| t.crashes),
        total(|t| t.drops),
        total(Trace::duplicates),
    );
    assert!(
        failed.is_empty(),
        "seeds {failed:?} failed; replay one with HOTLINE_TURMOIL_SEED=<seed> cargo test -p \
         hotline-tests --test sync_turmoil -- --nocapture"
    );
    if passed.len() >= 8 {
        // The weather must bite, or the seeds prove nothing: sessions die, the gateway
        // restarts, and acknowledgements get lost so changes are pushed twice.
        assert!(
            total(|t| t.drops) > 0 && total(|t| t.crashes) > 0 && total(Trace::duplicates) > 0,
            "the simulated faults never broke a session, crashed the gateway or lost an ack"
        );
    }
}

/// A seed replays: two runs of the same seed make the same writes, take the same time to
/// converge and leave the same gateway log, so the replay command reproduces a failure.
#[test]
fn a_seed_replays_identically() {
    let seed = seeds().first().copied().unwrap_or(1);
    let first = run_caught(seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    let second = run_caught(seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert_eq!(first, second, "seed {seed} did not replay identically");
}
