//! Property (issue 12): over generated histories (three tenants, policy changes, ticket moves,
//! publications, deletes, comments of every visibility and adversarial partner writes, most of
//! them refused), everything a tenant receives, by snapshot, catch-up from any cursor or the
//! live tail, is something it may see at the moment it receives it, and never a value that was
//! superseded while the entity was hidden from it. Revocations name only entities the tenant
//! could see at some point, and every subscriber's replica equals the gateway's view for its
//! tenant after every step.
//!
//! The gateway runs in this process on the in-memory store; subscriptions are the real
//! subscription code (`hotline_gateway::subscribe`), without the network.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use hotline_federation::authority::{Caller, current_status};
use hotline_federation::model::{
    ArticleField, ArticleState, Comment, EntityKey, EntityKind, FieldValue, PolicyField,
    StatusTransition, TicketField, TicketStatus, Visibility,
};
use hotline_federation::status::allowed_after;
use hotline_federation::visibility::{Access, access, redact};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use hotline_gateway::config::GatewayConfig;
use hotline_gateway::state::GatewayState;
use hotline_gateway::store::memory::MemoryStore;
use hotline_gateway::writer::Outcome;
use hotline_proto::v1 as pb;
use hotline_tests::harness::{apply_events, federation_layout};
use pb::sync_event::Body;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

const SITES: [(&str, &str); 3] = [
    ("munich", "inhouse"),
    ("dortmund", "twenty4help"),
    ("erfurt", "helpbycom"),
];
const TEAMS: [&str; 4] = ["finance-hr", "plants", "bank", "dealers-sales"];
const PARTNERS: [&str; 2] = ["twenty4help", "helpbycom"];

/// One step of a generated history.
#[derive(Clone, Debug)]
enum Step {
    /// A site opens a ticket (with customer data) in a team, with its next leased number.
    Open { site: usize, team: usize },
    /// A site sets the subject or the customer's name of a ticket.
    Write {
        site: usize,
        ticket: usize,
        pii: bool,
    },
    /// A site moves a ticket to another team (only in-house may).
    Move {
        site: usize,
        ticket: usize,
        team: usize,
    },
    /// A site changes a ticket's status, naming the current one unless `lie`.
    Status {
        site: usize,
        ticket: usize,
        to: usize,
        lie: bool,
    },
    /// A site comments on a ticket.
    Comment {
        site: usize,
        ticket: usize,
        visibility: usize,
    },
    /// A site deletes a ticket (only in-house may).
    Delete { site: usize, ticket: usize },
    /// A site edits an article's title and state (only in-house may).
    Article {
        site: usize,
        article: usize,
        state: usize,
    },
    /// In-house changes a team's handlers and PII grants (bit masks over the partners).
    Policy {
        team: usize,
        handlers: u8,
        grants: u8,
    },
    /// The retention sweep archives a ticket (it does when the ticket is closed: every team
    /// keeps closed tickets 0 days here).
    Archive { ticket: usize },
    /// A new subscriber for a tenant: from the start, from the head, from a random cursor, or
    /// with a snapshot (cursor beyond the head).
    Subscribe { tenant: usize, from: u8 },
}

fn step() -> impl Strategy<Value = Step> {
    let site = 0..3usize;
    let ticket = 0..8usize;
    prop_oneof![
        3 => (site.clone(), 0..4usize).prop_map(|(site, team)| Step::Open { site, team }),
        3 => (site.clone(), ticket.clone(), any::<bool>())
            .prop_map(|(site, ticket, pii)| Step::Write { site, ticket, pii }),
        2 => (site.clone(), ticket.clone(), 0..4usize)
            .prop_map(|(site, ticket, team)| Step::Move { site, ticket, team }),
        2 => (site.clone(), ticket.clone(), 0..6usize, prop::bool::weighted(0.2))
            .prop_map(|(site, ticket, to, lie)| Step::Status { site, ticket, to, lie }),
        2 => (site.clone(), ticket.clone(), 0..3usize)
            .prop_map(|(site, ticket, visibility)| Step::Comment { site, ticket, visibility }),
        1 => (site.clone(), ticket.clone()).prop_map(|(site, ticket)| Step::Delete { site, ticket }),
        2 => (site, 0..2usize, 0..3usize)
            .prop_map(|(site, article, state)| Step::Article { site, article, state }),
        2 => (0..4usize, 0..4u8, 0..4u8)
            .prop_map(|(team, handlers, grants)| Step::Policy { team, handlers, grants }),
        2 => (0..3usize, any::<u8>()).prop_map(|(tenant, from)| Step::Subscribe { tenant, from }),
        2 => ticket.prop_map(|ticket| Step::Archive { ticket }),
    ]
}

/// A subscriber under test: its stream, the replica it builds, its tenant.
struct Subscriber {
    tenant: &'static str,
    stream: hotline_gateway::subscribe::Subscription,
    replica: Replica,
    cursor: u64,
}

/// The run of one history.
struct World {
    state: Arc<GatewayState>,
    shutdown: CancellationToken,
    /// Per accepted log entry, how much of its entity each tenant could read right after it.
    access_at: BTreeMap<u64, BTreeMap<&'static str, Access>>,
    /// Entities each tenant could read at some point.
    ever_seen: BTreeMap<&'static str, BTreeSet<EntityKey>>,
    tickets: Vec<String>,
    numbers: BTreeMap<usize, (u64, u64, u32)>,
    seqs: [u64; 3],
    subscribers: Vec<Subscriber>,
    step: u64,
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let mut config = GatewayConfig {
            storage: "memory".into(),
            ..federation_layout()
        };
        for team in &mut config.focus_teams {
            team.partner_retention_days = Some(0);
        }
        let state = GatewayState::open_with_store(config, Arc::new(MemoryStore::new())).await?;
        let mut numbers = BTreeMap::new();
        for (i, (site, _)) in SITES.iter().enumerate() {
            let grant = state.writer.lease((*site).into(), 50).await?;
            numbers.insert(
                i,
                (
                    grant.first,
                    grant.first + u64::from(grant.count),
                    grant.year,
                ),
            );
        }
        let mut world = World {
            state,
            shutdown: CancellationToken::new(),
            access_at: BTreeMap::new(),
            ever_seen: BTreeMap::new(),
            tickets: Vec::new(),
            numbers,
            seqs: [0; 3],
            subscribers: Vec::new(),
            step: 0,
        };
        world.note_views()?;
        Ok(world)
    }

    fn ticket(&self, index: usize) -> String {
        // Beyond the opened tickets: a number nobody holds (missing), or another site's.
        self.tickets
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("ASZ-2026-{:06}", 900 + index))
    }

    async fn push(
        &mut self,
        site: usize,
        key: EntityKey,
        ops: Vec<FieldOp>,
    ) -> anyhow::Result<bool> {
        let (name, tenant) = SITES[site];
        self.seqs[site] += 1;
        self.step += 1;
        let change = Change {
            key: key.clone(),
            ops,
            origin_site: name.into(),
            origin_seq: self.seqs[site],
            hlc: Hlc::new(hotline_tests::changes::now_ms() + self.step, 0),
        };
        if change.validate().is_err() {
            return Ok(false);
        }
        let caller = Caller::Site {
            tenant: tenant.into(),
            site: name.into(),
        };
        let outcome = self.state.writer.push(caller, vec![change]).await?;
        let accepted = match outcome.first() {
            Some(Outcome::Accepted {
                global_seq,
                duplicate: false,
            }) => Some(*global_seq),
            _ => None,
        };
        if let Some(seq) = accepted {
            self.note_access(seq, &key)?;
        }
        Ok(accepted.is_some())
    }

    /// Records how much of `key` each tenant may read right after log entry `seq`.
    fn note_access(&mut self, seq: u64, key: &EntityKey) -> anyhow::Result<()> {
        let entity = self.state.entity(key)?;
        let directory = self.state.shared.directory();
        let per_tenant = SITES
            .iter()
            .map(|(_, t)| (*t, access(t, &entity, &directory)))
            .collect();
        self.access_at.insert(seq, per_tenant);
        Ok(())
    }

    /// Records which entities each tenant may read now.
    fn note_views(&mut self) -> anyhow::Result<()> {
        for (_, tenant) in SITES {
            let view = self.state.view(tenant)?;
            self.ever_seen
                .entry(tenant)
                .or_default()
                .extend(view.entities.into_keys());
        }
        Ok(())
    }

    async fn run(&mut self, step: &Step) -> anyhow::Result<()> {
        let ticket_key = |id: String| EntityKey::new(EntityKind::Ticket, id);
        let set = |f: TicketField| FieldOp::Set(FieldValue::Ticket(f));
        let n = self.step;
        match *step {
            Step::Open { site, team } => {
                let (next, end, year) = self.numbers[&site];
                if next >= end {
                    return Ok(());
                }
                self.numbers.insert(site, (next + 1, end, year));
                let id = format!("ASZ-{year}-{next:06}");
                let ops = vec![
                    set(TicketField::PublicNumber(id.clone())),
                    set(TicketField::OriginTenant(SITES[site].1.into())),
                    set(TicketField::FocusTeam(TEAMS[team].into())),
                    set(TicketField::Status(StatusTransition {
                        from: None,
                        to: TicketStatus::New,
                    })),
                    set(TicketField::Subject(format!("subject {n}"))),
                    set(TicketField::CustomerName(format!("name {n}"))),
                ];
                if self.push(site, ticket_key(id.clone()), ops).await? {
                    self.tickets.push(id);
                }
            }
            Step::Write { site, ticket, pii } => {
                let field = if pii {
                    TicketField::CustomerName(format!("name {n}"))
                } else {
                    TicketField::Subject(format!("subject {n}"))
                };
                let id = self.ticket(ticket);
                self.push(site, ticket_key(id), vec![set(field)]).await?;
            }
            Step::Move { site, ticket, team } => {
                let id = self.ticket(ticket);
                self.push(
                    site,
                    ticket_key(id),
                    vec![set(TicketField::FocusTeam(TEAMS[team].into()))],
                )
                .await?;
            }
            Step::Status {
                site,
                ticket,
                to,
                lie,
            } => {
                let id = self.ticket(ticket);
                let current = current_status(&self.state.entity(&ticket_key(id.clone()))?);
                let from = if lie {
                    Some(TicketStatus::Resolved)
                } else {
                    current
                };
                let allowed = allowed_after(from);
                if allowed.is_empty() {
                    return Ok(());
                }
                let to = allowed[to % allowed.len()];
                self.push(
                    site,
                    ticket_key(id),
                    vec![set(TicketField::Status(StatusTransition { from, to }))],
                )
                .await?;
            }
            Step::Comment {
                site,
                ticket,
                visibility,
            } => {
                let id = self.ticket(ticket);
                let comment = Comment {
                    id: format!("{}-{}", SITES[site].0, self.seqs[site] + 1),
                    author_alias: "A".into(),
                    author_tenant: SITES[site].1.into(),
                    visibility: Visibility::ALL[visibility],
                    body: format!("comment {n}"),
                    created_at_ms: n,
                    attachments: Vec::new(),
                };
                self.push(site, ticket_key(id), vec![FieldOp::AddComment(comment)])
                    .await?;
            }
            Step::Delete { site, ticket } => {
                let id = self.ticket(ticket);
                self.push(
                    site,
                    ticket_key(id),
                    vec![FieldOp::Delete {
                        reason: "gone".into(),
                    }],
                )
                .await?;
            }
            Step::Article {
                site,
                article,
                state,
            } => {
                let ops = vec![
                    FieldOp::Set(FieldValue::Article(ArticleField::Title(format!(
                        "title {n}"
                    )))),
                    FieldOp::Set(FieldValue::Article(ArticleField::State(
                        ArticleState::ALL[state],
                    ))),
                ];
                self.push(
                    site,
                    EntityKey::new(EntityKind::Article, format!("a{article}")),
                    ops,
                )
                .await?;
            }
            Step::Policy {
                team,
                handlers,
                grants,
            } => {
                let pick = |mask: u8| {
                    let mut list: Vec<String> = vec!["inhouse".into()];
                    list.extend(
                        PARTNERS
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| mask & (1 << i) != 0)
                            .map(|(_, t)| t.to_string()),
                    );
                    list
                };
                let ops = vec![
                    FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(pick(handlers)))),
                    FieldOp::Set(FieldValue::Policy(PolicyField::PiiGrants(
                        pick(grants)[1..].to_vec(),
                    ))),
                ];
                self.push(0, EntityKey::new(EntityKind::Policy, TEAMS[team]), ops)
                    .await?;
            }
            Step::Archive { ticket } => {
                let key = ticket_key(self.ticket(ticket));
                let outcomes = self.state.writer.archive(vec![key.clone()]).await?;
                for outcome in outcomes {
                    if let Outcome::Accepted { global_seq, .. } = outcome {
                        self.note_access(global_seq, &key)?;
                    }
                }
            }
            Step::Subscribe { tenant, from } => {
                let head = self.state.head();
                let cursor = match from % 4 {
                    0 => 0,
                    1 => head,
                    2 => head + 1_000,
                    _ => u64::from(from) % (head + 1),
                };
                let (site, tenant) = SITES[tenant];
                let stream = hotline_gateway::subscribe::start(
                    self.state.clone(),
                    tenant.into(),
                    site.into(),
                    cursor,
                    self.shutdown.child_token(),
                );
                // A site resuming from a cursor holds what it had; the view now stands in for
                // it (the events then must not add anything the view does not hold).
                let replica = if cursor == 0 || cursor > head {
                    Replica::default()
                } else {
                    self.state.view(tenant)?
                };
                self.subscribers.push(Subscriber {
                    tenant,
                    stream,
                    replica,
                    cursor,
                });
            }
        }
        self.note_views()?;
        self.check_subscribers().await
    }

    /// Brings every subscriber to the head and checks each event it received.
    async fn check_subscribers(&mut self) -> anyhow::Result<()> {
        let head = self.state.head();
        let directory = self.state.shared.directory();
        for sub in &mut self.subscribers {
            let mut events = Vec::new();
            while sub.cursor != head {
                let event = tokio::time::timeout(Duration::from_secs(10), sub.stream.next())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "{}: no event within 10 s at cursor {}",
                            sub.tenant,
                            sub.cursor
                        )
                    })?
                    .ok_or_else(|| anyhow::anyhow!("{}: subscription ended", sub.tenant))??;
                // The bytes the site would receive, decoded as the site decodes them.
                let event = event.event()?;
                if event.cursor > 0 {
                    sub.cursor = event.cursor;
                }
                events.push(event);
            }
            for event in &events {
                check_event(
                    sub.tenant,
                    event,
                    &self.state,
                    &directory,
                    &self.access_at,
                    &self.ever_seen[sub.tenant],
                )?;
            }
            apply_events(sub.tenant, &mut sub.replica, &events)?;
            anyhow::ensure!(
                sub.replica == self.state.view(sub.tenant)?,
                "{}'s replica differs from its view at head {head}",
                sub.tenant
            );
        }
        Ok(())
    }
}

/// One received event against what the tenant may read now and could read at its entry.
fn check_event(
    tenant: &str,
    event: &pb::SyncEvent,
    state: &GatewayState,
    directory: &hotline_federation::visibility::Directory,
    access_at: &BTreeMap<u64, BTreeMap<&'static str, Access>>,
    ever_seen: &BTreeSet<EntityKey>,
) -> anyhow::Result<()> {
    match &event.body {
        Some(Body::Entity(wire)) => {
            let received = EntityState::try_from(wire.clone())?;
            let current = state.entity(&received.key)?;
            let allowed = redact(tenant, &current, directory);
            anyhow::ensure!(
                allowed.as_ref() == Some(&received),
                "{tenant} received {} other than it may see now:\nreceived {received:?}\nallowed {allowed:?}",
                received.key
            );
        }
        Some(Body::Change(wire)) => {
            let change = Change::try_from(wire.clone())?;
            let at_entry = access_at
                .get(&event.cursor)
                .and_then(|m| m.get(tenant))
                .copied()
                .unwrap_or(Access::Hidden);
            let now = access(tenant, &state.entity(&change.key)?, directory);
            let allowed = at_entry.min(now);
            anyhow::ensure!(
                allowed != Access::Hidden,
                "{tenant} received a change of {} at {} while it may not see it (at the entry: \
                 {at_entry:?}, now: {now:?})",
                change.key,
                event.cursor
            );
            for op in &change.ops {
                match op {
                    FieldOp::Set(value) if value.is_pii() => anyhow::ensure!(
                        allowed == Access::Full,
                        "{tenant} received customer data of {} without the grant",
                        change.key
                    ),
                    FieldOp::AddComment(c) if c.visibility == Visibility::Tenant => {
                        anyhow::ensure!(
                            tenant == "inhouse" || c.author_tenant == tenant,
                            "{tenant} received another tenant's internal comment"
                        )
                    }
                    _ => {}
                }
            }
        }
        Some(Body::Revocation(pb::Revocation { key, reason })) => {
            let key = EntityKey::try_from(key.clone().ok_or_else(|| anyhow::anyhow!("no key"))?)?;
            anyhow::ensure!(
                ever_seen.contains(&key),
                "{tenant} received a revocation of {key}, which it never could see"
            );
            if *reason == i32::from(pb::RevocationReason::Retention) {
                anyhow::ensure!(
                    hotline_federation::retention::archived(&state.entity(&key)?),
                    "{tenant} was told {key} ended its retention, but it is not archived"
                );
            }
        }
        _ => {}
    }
    Ok(())
}

fn run_history(steps: Vec<Step>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut world = World::start().await?;
        for (i, step) in steps.iter().enumerate() {
            world
                .run(step)
                .await
                .map_err(|e| anyhow::anyhow!("after step {i} ({step:?}): {e}"))?;
        }
        // Catch-up from every cursor for every tenant ends in the tenant's view.
        let head = world.state.head();
        for (site, tenant) in SITES {
            for cursor in [0, head / 3, head / 2, head.saturating_sub(1)] {
                world.subscribers = vec![Subscriber {
                    tenant,
                    stream: hotline_gateway::subscribe::start(
                        world.state.clone(),
                        tenant.into(),
                        site.into(),
                        cursor,
                        world.shutdown.child_token(),
                    ),
                    replica: if cursor == 0 {
                        Replica::default()
                    } else {
                        world.state.view(tenant)?
                    },
                    cursor,
                }];
                world.check_subscribers().await?;
            }
        }
        world.shutdown.cancel();
        world.state.close().await;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("HOTLINE_VIEW_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    /// Every event a tenant receives is within what it may see when it receives it, and never a
    /// value superseded while the entity was hidden from it, on every path.
    #[test]
    fn tenants_receive_only_what_they_may_see_now(steps in prop::collection::vec(step(), 1..40)) {
        let result = run_history(steps);
        prop_assert!(result.is_ok(), "{:?}", result.err());
    }
}

/// A ticket archived before a tenant became a handler of its team: adding and removing that
/// tenant again tells it nothing of the ticket (no revocation of a ticket it never saw, which
/// would give away its number).
#[test]
fn a_handler_added_after_the_archive_hears_nothing_of_the_ticket() {
    let steps = vec![
        Step::Subscribe { tenant: 2, from: 0 },
        Step::Open { site: 0, team: 2 },
        Step::Status {
            site: 0,
            ticket: 0,
            to: 3,
            lie: false,
        },
        Step::Archive { ticket: 0 },
        Step::Policy {
            team: 2,
            handlers: 0b10,
            grants: 0,
        },
        Step::Policy {
            team: 2,
            handlers: 0,
            grants: 0,
        },
    ];
    let result = run_history(steps);
    assert!(result.is_ok(), "{:?}", result.err());
}
