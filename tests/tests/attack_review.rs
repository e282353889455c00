//! The attacks of a second review of issue 12 (written by a reviewer who did not write the
//! rules), kept as regression tests: each is one attack by a partner site over real mTLS and
//! asserts the safe behaviour. Four of them found holes that are now closed: a policy change
//! followed by a move or a delete (in one push, or caught up later) left tickets at the site, a
//! withdrawn grant followed by a move left customer data, and a partner's write of the current
//! focus team stamped ahead could undo an in-house move.

use hotline_federation::model::{
    ArticleField, ArticleState, CallEvent, CallOutcome, Comment, EntityKey, EntityKind, FieldValue,
    PolicyField, StatusTransition, SuggestionField, SuggestionState, TicketField, TicketStatus,
    Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc, Replica};
use hotline_gateway::config::{FocusTeamConfig, GatewayConfig};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{now_ms, number, open_ticket};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, collect_until, federation_config, gateway_view, lease,
};
use pb::federation_client::FederationClient;
use tonic::transport::Channel as GrpcChannel;

// ---------------------------------------------------------------------------------------------
// Helpers

struct Site {
    client: FederationClient<GrpcChannel>,
    tenant: String,
    site: String,
    seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Accepted {
        duplicate: bool,
    },
    Refused {
        reason: pb::RejectReason,
        message: String,
    },
}

impl Answer {
    fn reason(&self) -> Option<pb::RejectReason> {
        match self {
            Answer::Accepted { .. } => None,
            Answer::Refused { reason, .. } => Some(*reason),
        }
    }

    fn masked(&self, id: &str) -> String {
        match self {
            Answer::Accepted { duplicate } => format!("accepted(dup={duplicate})"),
            Answer::Refused { reason, message } => {
                format!("{reason:?}: {}", message.replace(id, "<id>"))
            }
        }
    }
}

fn to_answer(result: Option<pb::ChangeResult>) -> anyhow::Result<Answer> {
    Ok(match result.and_then(|r| r.outcome) {
        Some(pb::change_result::Outcome::Accepted(a)) => Answer::Accepted {
            duplicate: a.duplicate,
        },
        Some(pb::change_result::Outcome::Rejected(r)) => Answer::Refused {
            reason: pb::RejectReason::try_from(r.reason)?,
            message: r.message,
        },
        None => anyhow::bail!("push answered without an outcome"),
    })
}

impl Site {
    fn change_at(&mut self, kind: EntityKind, id: &str, ops: Vec<FieldOp>, hlc: Hlc) -> Change {
        self.seq += 1;
        Change {
            key: EntityKey::new(kind, id),
            ops,
            origin_site: self.site.clone(),
            origin_seq: self.seq,
            hlc,
        }
    }

    fn change(&mut self, kind: EntityKind, id: &str, ops: Vec<FieldOp>) -> Change {
        // Strictly growing, as a real site's clock: two writes in one millisecond differ.
        let logical = self.seq as u32 + 1;
        self.change_at(kind, id, ops, Hlc::new(now_ms(), logical))
    }

    async fn send_all(&mut self, changes: &[Change]) -> anyhow::Result<Vec<Answer>> {
        let response = match self
            .client
            .push(pb::PushRequest {
                changes: changes.iter().cloned().map(Into::into).collect(),
            })
            .await
        {
            Ok(response) => response.into_inner(),
            // A malformed push is refused as a whole: counts as a refusal of each change.
            Err(status) if status.code() == tonic::Code::InvalidArgument => {
                return Ok(changes
                    .iter()
                    .map(|_| Answer::Refused {
                        reason: pb::RejectReason::Invalid,
                        message: format!("push refused: {}", status.message()),
                    })
                    .collect());
            }
            Err(status) => return Err(status.into()),
        };
        response
            .results
            .into_iter()
            .map(|r| to_answer(Some(r)))
            .collect()
    }

    async fn send(&mut self, change: &Change) -> anyhow::Result<Answer> {
        Ok(self.send_all(std::slice::from_ref(change)).await?.remove(0))
    }

    async fn write(
        &mut self,
        kind: EntityKind,
        id: &str,
        ops: Vec<FieldOp>,
    ) -> anyhow::Result<Answer> {
        let change = self.change(kind, id, ops);
        self.send(&change).await
    }

    async fn must(&mut self, kind: EntityKind, id: &str, ops: Vec<FieldOp>) -> anyhow::Result<()> {
        let answer = self.write(kind, id, ops).await?;
        anyhow::ensure!(
            matches!(answer, Answer::Accepted { .. }),
            "{} expected to be accepted: {answer:?}",
            self.site
        );
        Ok(())
    }

    async fn must_all(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        let answers = self.send_all(changes).await?;
        for answer in &answers {
            anyhow::ensure!(
                matches!(answer, Answer::Accepted { .. }),
                "{} expected all accepted: {answers:?}",
                self.site
            );
        }
        Ok(())
    }

    /// Opens a ticket (with PII) in `team`.
    async fn open(
        &mut self,
        block: &pb::LeaseBlock,
        offset: u64,
        team: &str,
    ) -> anyhow::Result<String> {
        let id = number(block, offset);
        self.seq += 1;
        let change = open_ticket(&id, &self.tenant, &self.site, team, self.seq);
        let answer = self.send(&change).await?;
        anyhow::ensure!(
            matches!(answer, Answer::Accepted { .. }),
            "{} could not open {id} in {team}: {answer:?}",
            self.site
        );
        Ok(id)
    }

    async fn fetch(
        &mut self,
        kind: EntityKind,
        id: &str,
    ) -> anyhow::Result<Option<pb::EntityState>> {
        let answer = self
            .client
            .fetch(pb::FetchRequest {
                keys: vec![EntityKey::new(kind, id).into()],
            })
            .await?
            .into_inner();
        Ok(answer.states.into_iter().next())
    }
}

fn ticket(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

fn status(from: Option<TicketStatus>, to: TicketStatus) -> FieldOp {
    ticket(TicketField::Status(StatusTransition { from, to }))
}

fn comment_op(id: &str, tenant: &str, visibility: Visibility, body: &str) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: id.into(),
        author_alias: "Advisor 7".into(),
        author_tenant: tenant.into(),
        visibility,
        body: body.into(),
        created_at_ms: now_ms(),
        attachments: Vec::new(),
    })
}

fn delete() -> FieldOp {
    FieldOp::Delete {
        reason: "review".into(),
    }
}

fn policy_op(field: PolicyField) -> Vec<FieldOp> {
    vec![FieldOp::Set(FieldValue::Policy(field))]
}

fn tkey(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, id)
}

fn has_register(state: &pb::EntityState, name: &str) -> bool {
    let state = hotline_federation::EntityState::try_from(state.clone()).expect("valid state");
    state.registers.contains_key(name)
}

struct World {
    _data: tempfile::TempDir,
    pki: Pki,
    gateway: RunningGateway,
}

/// The test federation plus `hr-light` (handled by twenty4help, no PII grant).
fn config(pki: &Pki, dir: &std::path::Path) -> GatewayConfig {
    let mut config = federation_config(pki, dir);
    config.focus_teams.push(FocusTeamConfig {
        id: "hr-light".into(),
        name: "HR without customer data".into(),
        handlers: vec!["inhouse".into(), "twenty4help".into()],
        sla_answer_seconds: 25,
        sla_target_percent: 80,
        fcr_target_percent: 75,
        review_cadence: "weekly".into(),
        pii_grants: vec![],
        partner_retention_days: None,
    });
    config
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let pki = Pki::new()?;
        let data = tempfile::tempdir()?;
        let gateway = RunningGateway::start(config(&pki, data.path())).await?;
        Ok(World {
            _data: data,
            pki,
            gateway,
        })
    }

    async fn site(&self, tenant: &str, site: &str) -> anyhow::Result<Site> {
        Ok(Site {
            client: self.gateway.site_client(&self.pki, tenant, site).await?,
            tenant: tenant.into(),
            site: site.into(),
            seq: 0,
        })
    }
}

/// A subscribed replica of one tenant.
struct Sub {
    tenant: String,
    stream: tonic::Streaming<pb::SyncEvent>,
    replica: Replica,
    events: Vec<pb::SyncEvent>,
}

impl Sub {
    async fn start(site: &mut Site, cursor: u64) -> anyhow::Result<Sub> {
        let stream = site
            .client
            .subscribe(pb::SubscribeRequest { cursor })
            .await?
            .into_inner();
        Ok(Sub {
            tenant: site.tenant.clone(),
            stream,
            replica: Replica::default(),
            events: Vec::new(),
        })
    }

    /// Reads until the gateway's head, applies, and returns the events of this round.
    async fn sync(&mut self, gateway: &RunningGateway) -> anyhow::Result<Vec<pb::SyncEvent>> {
        let head = gateway.head();
        let events = collect_until(&mut self.stream, 100_000, |e| {
            e.last().is_some_and(|e| e.cursor >= head)
        })
        .await?;
        apply_events(&self.tenant, &mut self.replica, &events)?;
        self.events.extend(events.iter().cloned());
        Ok(events)
    }

    fn cursor(&self) -> u64 {
        self.events.iter().map(|e| e.cursor).max().unwrap_or(0)
    }

    fn holds(&self, id: &str) -> bool {
        self.replica.entities.contains_key(&tkey(id))
    }

    fn holds_pii(&self, id: &str) -> bool {
        self.replica.entities.get(&tkey(id)).is_some_and(|t| {
            ["customer_name", "customer_email", "customer_phone"]
                .iter()
                .any(|r| t.registers.contains_key(*r))
        })
    }
}

fn debug_contains(events: &[pb::SyncEvent], needle: &str) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{e:?}"))
        .filter(|s| s.contains(needle))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Existence probes

/// A partner learns nothing about a foreign, a deleted or a missing ticket from Push: every op
/// kind gets the same reason and message (id masked).
#[tokio::test]
async fn push_probe_foreign_deleted_missing_tickets_answer_alike() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let mut goerlitz = world.site("twenty4help", "goerlitz").await?;
    let mblock = lease(&mut munich.client, 10).await?;
    let eblock = lease(&mut erfurt.client, 10).await?;
    let gblock = lease(&mut goerlitz.client, 10).await?;
    let dblock = lease(&mut dortmund.client, 10).await?;
    let bank = munich.open(&mblock, 0, "bank").await?;
    let deleted = munich.open(&mblock, 1, "finance-hr").await?;
    munich
        .must(EntityKind::Ticket, &deleted, vec![delete()])
        .await?;
    let dortmund_deleted = dortmund.open(&dblock, 0, "finance-hr").await?;
    munich
        .must(EntityKind::Ticket, &dortmund_deleted, vec![delete()])
        .await?;
    let plants = erfurt.open(&eblock, 0, "plants").await?;
    let leased_to_munich_unused = number(&mblock, 7);
    let leased_to_goerlitz_unused = number(&gblock, 3);
    let never_leased = number(&dblock, 50_000);

    let probes: Vec<(&str, Vec<FieldOp>)> = vec![
        (
            "comment",
            vec![comment_op(
                "dortmund-1",
                "twenty4help",
                Visibility::Federation,
                "hi",
            )],
        ),
        (
            "status",
            vec![status(Some(TicketStatus::New), TicketStatus::InProgress)],
        ),
        ("subject", vec![ticket(TicketField::Subject("x".into()))]),
        (
            "team",
            vec![ticket(TicketField::FocusTeam("finance-hr".into()))],
        ),
        (
            "handling",
            vec![ticket(TicketField::HandlingSite("dortmund".into()))],
        ),
        (
            "name",
            vec![ticket(TicketField::CustomerName("probe".into()))],
        ),
    ];
    let mut failures = Vec::new();
    for (label, ops) in probes {
        let reference = dortmund
            .write(EntityKind::Ticket, &never_leased, ops.clone())
            .await?;
        let reference = reference.masked(&never_leased);
        for target in [
            &bank,
            &deleted,
            &dortmund_deleted,
            &plants,
            &leased_to_munich_unused,
            &leased_to_goerlitz_unused,
        ] {
            let answer = dortmund
                .write(EntityKind::Ticket, target, ops.clone())
                .await?;
            let masked = answer.masked(target);
            if masked != reference {
                failures.push(format!(
                    "{label} on {target}: {masked} vs missing: {reference}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "answers differ:\n{}",
        failures.join("\n")
    );
    for target in [&bank, &deleted, &dortmund_deleted, &plants] {
        assert!(
            dortmund.fetch(EntityKind::Ticket, target).await?.is_none(),
            "Fetch showed {target}"
        );
    }
    world.gateway.stop().await
}

/// Fetch and Subscribe (snapshot and catch-up) hide drafts, foreign suggestions, foreign call
/// logs and policies of teams the partner does not handle; draft text never appears.
#[tokio::test]
async fn drafts_and_foreign_entities_never_reach_partners() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let article = |state, body: &str| {
        vec![
            FieldOp::Set(FieldValue::Article(ArticleField::Title("VPN".into()))),
            FieldOp::Set(FieldValue::Article(ArticleField::Body(body.into()))),
            FieldOp::Set(FieldValue::Article(ArticleField::State(state))),
        ]
    };
    munich
        .must(
            EntityKind::Article,
            "kb-draft",
            article(ArticleState::Draft, "SECRET-DRAFT-1"),
        )
        .await?;
    munich
        .must(
            EntityKind::Article,
            "kb-pub",
            article(ArticleState::Published, "public text"),
        )
        .await?;
    // Unpublish and edit in one change.
    munich
        .must(
            EntityKind::Article,
            "kb-pub",
            article(ArticleState::Draft, "SECRET-DRAFT-2"),
        )
        .await?;
    // A published article edited into draft while hidden, then re-published with new text.
    munich
        .must(
            EntityKind::Article,
            "kb-re",
            article(ArticleState::Published, "v1"),
        )
        .await?;
    munich
        .must(
            EntityKind::Article,
            "kb-re",
            article(ArticleState::Draft, "SECRET-DRAFT-3"),
        )
        .await?;
    munich
        .must(
            EntityKind::Article,
            "kb-re",
            article(ArticleState::Published, "v3 public"),
        )
        .await?;
    erfurt
        .must(
            EntityKind::Suggestion,
            "erfurt-1",
            vec![
                FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(
                    "helpbycom".into(),
                ))),
                FieldOp::Set(FieldValue::Suggestion(SuggestionField::ArticleId(
                    "kb-re".into(),
                ))),
                FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedBody(
                    "SECRET-SUGGESTION".into(),
                ))),
            ],
        )
        .await?;
    erfurt
        .must(
            EntityKind::CallLog,
            "erfurt.2026-05-09",
            vec![FieldOp::AddCallEvent(CallEvent {
                id: "c-1".into(),
                site: "erfurt".into(),
                outcome: CallOutcome::Answered,
                wait_seconds: 5,
                at_ms: 1,
                focus_team: Some("plants".into()),
                ticket_number: None,
                talk_seconds: 0,
                wrap_seconds: 0,
            })],
        )
        .await?;
    for (kind, id) in [
        (EntityKind::Article, "kb-draft"),
        (EntityKind::Article, "kb-pub"),
        (EntityKind::Suggestion, "erfurt-1"),
        (EntityKind::CallLog, "erfurt.2026-05-09"),
        (EntityKind::Policy, "bank"),
        (EntityKind::Policy, "plants"),
    ] {
        let got = dortmund.fetch(kind, id).await?;
        assert!(got.is_none(), "Fetch gave dortmund {kind}/{id}: {got:?}");
    }
    let re = dortmund
        .fetch(EntityKind::Article, "kb-re")
        .await?
        .expect("published");
    assert!(
        !format!("{re:?}").contains("SECRET"),
        "Fetch leaked draft: {re:?}"
    );
    for cursor in [0, world.gateway.head() + 1_000, 3] {
        let mut sub = Sub::start(&mut dortmund, cursor).await?;
        let events = sub.sync(&world.gateway).await?;
        let leaks = debug_contains(&events, "SECRET");
        assert!(leaks.is_empty(), "cursor {cursor}: leaked {leaks:#?}");
        if cursor != 3 {
            assert_eq!(
                sub.replica,
                gateway_view(&world.gateway.state, "twenty4help")?
            );
        }
    }
    world.gateway.stop().await
}

// ---------------------------------------------------------------------------------------------
// 2. PII and tenant comments on every path

/// helpbycom (no PII grant on dealers-sales) never receives customer data or twenty4help's /
/// in-house's `tenant` comments: by snapshot, catch-up, live tail or Fetch.
#[tokio::test]
async fn no_pii_or_foreign_tenant_comments_on_any_path() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "dealers-sales").await?;
    dortmund
        .must(
            EntityKind::Ticket,
            &t,
            vec![comment_op(
                "dortmund-1",
                "twenty4help",
                Visibility::Tenant,
                "T24H-INTERNAL",
            )],
        )
        .await?;
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![comment_op(
                "munich-1",
                "inhouse",
                Visibility::Tenant,
                "INHOUSE-INTERNAL",
            )],
        )
        .await?;
    let mut all = Vec::new();
    for cursor in [world.gateway.head() + 1_000, 0, 2] {
        let mut sub = Sub::start(&mut erfurt, cursor).await?;
        all.extend(sub.sync(&world.gateway).await?);
    }
    let mut live = Sub::start(&mut erfurt, 0).await?;
    all.extend(live.sync(&world.gateway).await?);
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![
                ticket(TicketField::CustomerPhone("+49 30 1234567".into())),
                ticket(TicketField::CustomerName("Max Geheim".into())),
                comment_op(
                    "munich-2",
                    "inhouse",
                    Visibility::Tenant,
                    "INHOUSE-INTERNAL-2",
                ),
            ],
        )
        .await?;
    dortmund
        .must(
            EntityKind::Ticket,
            &t,
            vec![
                ticket(TicketField::CustomerEmail("geheim@example.org".into())),
                comment_op(
                    "dortmund-2",
                    "twenty4help",
                    Visibility::Tenant,
                    "T24H-INTERNAL-2",
                ),
            ],
        )
        .await?;
    all.extend(live.sync(&world.gateway).await?);
    let fetched = erfurt
        .fetch(EntityKind::Ticket, &t)
        .await?
        .expect("visible");
    let mut leaks = Vec::new();
    for needle in [
        "Mustermann",
        "example.com",
        "example.org",
        "+49",
        "Geheim",
        "INTERNAL",
    ] {
        leaks.extend(debug_contains(&all, needle));
        if format!("{fetched:?}").contains(needle) {
            leaks.push(format!("fetch: {fetched:?}"));
        }
    }
    assert!(leaks.is_empty(), "helpbycom received: {leaks:#?}");
    assert_eq!(
        live.replica,
        gateway_view(&world.gateway.state, "helpbycom")?
    );
    world.gateway.stop().await
}

/// A tenant that gains sight of a ticket by an in-house move receives it whole, but without
/// another tenant's `tenant` comments; a tenant that the move takes the PII from keeps none.
#[tokio::test]
async fn gain_by_move_sends_no_foreign_tenant_comments() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "plants").await?;
    erfurt
        .must(
            EntityKind::Ticket,
            &t,
            vec![comment_op(
                "erfurt-1",
                "helpbycom",
                Visibility::Tenant,
                "HBC-INTERNAL",
            )],
        )
        .await?;
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![comment_op(
                "munich-1",
                "inhouse",
                Visibility::Tenant,
                "INHOUSE-INTERNAL",
            )],
        )
        .await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(!sub.holds(&t));
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::FocusTeam("finance-hr".into()))],
        )
        .await?;
    let events = sub.sync(&world.gateway).await?;
    assert!(sub.holds(&t), "the gain was not delivered");
    let leaks = debug_contains(&events, "INTERNAL");
    assert!(leaks.is_empty(), "dortmund received: {leaks:#?}");
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "twenty4help")?
    );
    world.gateway.stop().await
}

// ---------------------------------------------------------------------------------------------
// 3. Revocations that must follow combined access changes

/// In-house removes twenty4help from finance-hr's handlers and, in the same push (as its
/// adapter sends its outbox), moves tickets out of the team. A live twenty4help subscriber must
/// lose all of them.
#[tokio::test]
async fn live_policy_removal_then_move_in_one_push_revokes() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let stays = munich.open(&block, 0, "finance-hr").await?;
    let moved = munich.open(&block, 1, "finance-hr").await?;
    let back = munich.open(&block, 2, "finance-hr").await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds_pii(&stays) && sub.holds_pii(&moved) && sub.holds_pii(&back));
    let batch = vec![
        munich.change(
            EntityKind::Policy,
            "finance-hr",
            policy_op(PolicyField::Handlers(vec!["inhouse".into()])),
        ),
        munich.change(
            EntityKind::Ticket,
            &moved,
            vec![ticket(TicketField::FocusTeam("plants".into()))],
        ),
        munich.change(
            EntityKind::Ticket,
            &back,
            vec![ticket(TicketField::FocusTeam("plants".into()))],
        ),
        munich.change(
            EntityKind::Ticket,
            &back,
            vec![ticket(TicketField::FocusTeam("finance-hr".into()))],
        ),
    ];
    munich.must_all(&batch).await?;
    sub.sync(&world.gateway).await?;
    let view = gateway_view(&world.gateway.state, "twenty4help")?;
    let kept: Vec<(String, bool)> = [&stays, &moved, &back]
        .into_iter()
        .filter(|id| sub.holds(id))
        .map(|id| (id.clone(), sub.holds_pii(id)))
        .collect();
    assert!(
        kept.is_empty(),
        "twenty4help still holds (ticket, with PII) {kept:?} although it lost sight; \
         gateway view holds {:?}",
        view.entities.keys().collect::<Vec<_>>()
    );
    assert_eq!(sub.replica, view);
    world.gateway.stop().await
}

/// The same two changes in separate pushes, while the partner site is offline: it resumes from
/// its stored cursor (catch-up) and must lose the ticket.
#[tokio::test]
async fn catch_up_policy_removal_then_move_revokes() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let moved = munich.open(&block, 0, "finance-hr").await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds_pii(&moved));
    let cursor = sub.cursor();
    let replica = sub.replica.clone();
    drop(sub);
    munich
        .must(
            EntityKind::Policy,
            "finance-hr",
            policy_op(PolicyField::Handlers(vec!["inhouse".into()])),
        )
        .await?;
    munich
        .must(
            EntityKind::Ticket,
            &moved,
            vec![ticket(TicketField::FocusTeam("plants".into()))],
        )
        .await?;
    let mut sub = Sub::start(&mut dortmund, cursor).await?;
    sub.replica = replica;
    sub.sync(&world.gateway).await?;
    assert!(
        !sub.holds(&moved),
        "after catch-up from cursor {cursor} twenty4help still holds {moved} (with PII: {})",
        sub.holds_pii(&moved)
    );
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "twenty4help")?
    );
    world.gateway.stop().await
}

/// Policy removal followed by a delete of a ticket of that team (one push, live subscriber; and
/// separate pushes, catch-up): the deleted ticket must leave the partner.
#[tokio::test]
async fn policy_removal_then_delete_revokes() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "finance-hr").await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds_pii(&t));
    let batch = vec![
        munich.change(
            EntityKind::Policy,
            "finance-hr",
            policy_op(PolicyField::Handlers(vec!["inhouse".into()])),
        ),
        munich.change(EntityKind::Ticket, &t, vec![delete()]),
    ];
    munich.must_all(&batch).await?;
    sub.sync(&world.gateway).await?;
    assert!(
        !sub.holds(&t),
        "live: twenty4help still holds deleted {t} (with PII: {})",
        sub.holds_pii(&t)
    );
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "twenty4help")?
    );
    world.gateway.stop().await
}

/// Catch-up variant of the policy-then-delete pair, on dealers-sales for helpbycom.
#[tokio::test]
async fn catch_up_policy_removal_then_delete_revokes() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "dealers-sales").await?;
    let mut sub = Sub::start(&mut erfurt, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds(&t));
    let cursor = sub.cursor();
    let replica = sub.replica.clone();
    drop(sub);
    munich
        .must(
            EntityKind::Policy,
            "dealers-sales",
            policy_op(PolicyField::Handlers(vec![
                "inhouse".into(),
                "twenty4help".into(),
            ])),
        )
        .await?;
    munich.must(EntityKind::Ticket, &t, vec![delete()]).await?;
    let mut sub = Sub::start(&mut erfurt, cursor).await?;
    sub.replica = replica;
    sub.sync(&world.gateway).await?;
    assert!(
        !sub.holds(&t),
        "after catch-up from {cursor} helpbycom still holds deleted ticket {t}"
    );
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "helpbycom")?
    );
    world.gateway.stop().await
}

/// In-house withdraws twenty4help's PII grant on finance-hr and moves a ticket to hr-light (no
/// PII) in the same push: the live partner must not keep the customer data.
#[tokio::test]
async fn pii_withdrawal_then_move_purges_pii() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "finance-hr").await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds_pii(&t));
    let batch = vec![
        munich.change(
            EntityKind::Policy,
            "finance-hr",
            policy_op(PolicyField::PiiGrants(vec![])),
        ),
        munich.change(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::FocusTeam("hr-light".into()))],
        ),
    ];
    munich.must_all(&batch).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds(&t));
    assert!(
        !sub.holds_pii(&t),
        "twenty4help keeps the customer data of {t} after losing the grant"
    );
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "twenty4help")?
    );
    world.gateway.stop().await
}

// ---------------------------------------------------------------------------------------------
// 4. Writes a partner must not make

/// Creation rules: numbers of other sites, foreign teams, spoofed origin_tenant /
/// handling_site / author_tenant, comment ids of other sites, deletes, moves, closed is final.
#[tokio::test]
async fn partner_write_rules_hold() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut goerlitz = world.site("twenty4help", "goerlitz").await?;
    let mblock = lease(&mut munich.client, 10).await?;
    let dblock = lease(&mut dortmund.client, 20).await?;
    let gblock = lease(&mut goerlitz.client, 10).await?;
    let base = |id: &str, tenant: &str, team: &str| {
        vec![
            ticket(TicketField::PublicNumber(id.into())),
            ticket(TicketField::OriginTenant(tenant.into())),
            ticket(TicketField::FocusTeam(team.into())),
            status(None, TicketStatus::New),
        ]
    };
    let mut accepted = Vec::new();
    let mut check = |label: &str, answer: Answer| {
        if answer.reason().is_none() {
            accepted.push(format!("{label}: {answer:?}"));
        }
    };
    // A number leased to goerlitz.
    let g = number(&gblock, 0);
    check(
        "create with goerlitz's number",
        dortmund
            .write(
                EntityKind::Ticket,
                &g,
                base(&g, "twenty4help", "finance-hr"),
            )
            .await?,
    );
    let m = number(&mblock, 5);
    check(
        "create with munich's number",
        dortmund
            .write(
                EntityKind::Ticket,
                &m,
                base(&m, "twenty4help", "finance-hr"),
            )
            .await?,
    );
    let d = number(&dblock, 0);
    check(
        "create in bank",
        dortmund
            .write(EntityKind::Ticket, &d, base(&d, "twenty4help", "bank"))
            .await?,
    );
    check(
        "create in plants",
        dortmund
            .write(EntityKind::Ticket, &d, base(&d, "twenty4help", "plants"))
            .await?,
    );
    check(
        "create as inhouse",
        dortmund
            .write(EntityKind::Ticket, &d, base(&d, "inhouse", "finance-hr"))
            .await?,
    );
    let mut two_origins = base(&d, "twenty4help", "finance-hr");
    two_origins.push(ticket(TicketField::OriginTenant("inhouse".into())));
    check(
        "create with two origin_tenant ops",
        dortmund.write(EntityKind::Ticket, &d, two_origins).await?,
    );
    let mut with_handler = base(&d, "twenty4help", "finance-hr");
    with_handler.push(ticket(TicketField::HandlingSite("erfurt".into())));
    check(
        "create handled by erfurt",
        dortmund.write(EntityKind::Ticket, &d, with_handler).await?,
    );
    let mut with_comment = base(&d, "twenty4help", "finance-hr");
    with_comment.push(comment_op(
        "dortmund-1",
        "inhouse",
        Visibility::Tenant,
        "spoof",
    ));
    check(
        "create with in-house comment",
        dortmund.write(EntityKind::Ticket, &d, with_comment).await?,
    );
    let mut closed = base(&d, "twenty4help", "finance-hr");
    closed[3] = status(None, TicketStatus::Closed);
    // Not well-formed: the whole push is refused (INVALID_ARGUMENT).
    let closed_change = dortmund.change(EntityKind::Ticket, &d, closed);
    let closed_push = dortmund
        .client
        .push(pb::PushRequest {
            changes: vec![closed_change.into()],
        })
        .await;
    assert!(closed_push.is_err(), "creating as closed: {closed_push:?}");
    // Now a legit ticket of dortmund and an in-house one it sees.
    let own = dortmund.open(&dblock, 1, "finance-hr").await?;
    let shared = munich.open(&mblock, 0, "finance-hr").await?;
    for id in [&own, &shared] {
        check(
            "move to dealers-sales",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![ticket(TicketField::FocusTeam("dealers-sales".into()))],
                )
                .await?,
        );
        check(
            "move to bank",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![ticket(TicketField::FocusTeam("bank".into()))],
                )
                .await?,
        );
        check(
            "rewrite origin_tenant",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![ticket(TicketField::OriginTenant("twenty4help".into()))],
                )
                .await?,
        );
        check(
            "handling_site erfurt",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![ticket(TicketField::HandlingSite("erfurt".into()))],
                )
                .await?,
        );
        check(
            "handling_site munich",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![ticket(TicketField::HandlingSite("munich".into()))],
                )
                .await?,
        );
        check(
            "comment as inhouse",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![comment_op(
                        "dortmund-9",
                        "inhouse",
                        Visibility::Federation,
                        "x",
                    )],
                )
                .await?,
        );
        check(
            "comment as helpbycom",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![comment_op(
                        "dortmund-9",
                        "helpbycom",
                        Visibility::Federation,
                        "x",
                    )],
                )
                .await?,
        );
        check(
            "comment with goerlitz id",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![comment_op(
                        "goerlitz-1",
                        "twenty4help",
                        Visibility::Federation,
                        "x",
                    )],
                )
                .await?,
        );
        check(
            "comment with munich id",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![comment_op(
                        "munich-1",
                        "twenty4help",
                        Visibility::Federation,
                        "x",
                    )],
                )
                .await?,
        );
        check(
            "comment with bare site id",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![comment_op(
                        "dortmund",
                        "twenty4help",
                        Visibility::Federation,
                        "x",
                    )],
                )
                .await?,
        );
        check(
            "delete",
            dortmund
                .write(EntityKind::Ticket, id, vec![delete()])
                .await?,
        );
        check(
            "status from wrong",
            dortmund
                .write(
                    EntityKind::Ticket,
                    id,
                    vec![status(Some(TicketStatus::Resolved), TicketStatus::Closed)],
                )
                .await?,
        );
    }
    // Comment id reuse with other content.
    dortmund
        .must(
            EntityKind::Ticket,
            &shared,
            vec![comment_op(
                "dortmund-5",
                "twenty4help",
                Visibility::Tenant,
                "first",
            )],
        )
        .await?;
    check(
        "reuse comment id",
        dortmund
            .write(
                EntityKind::Ticket,
                &shared,
                vec![comment_op(
                    "dortmund-5",
                    "twenty4help",
                    Visibility::Federation,
                    "second",
                )],
            )
            .await?,
    );
    // Closed is final.
    dortmund
        .must(
            EntityKind::Ticket,
            &own,
            vec![status(Some(TicketStatus::New), TicketStatus::Closed)],
        )
        .await?;
    check(
        "reopen closed",
        dortmund
            .write(
                EntityKind::Ticket,
                &own,
                vec![status(Some(TicketStatus::Closed), TicketStatus::InProgress)],
            )
            .await?,
    );
    check(
        "closed from resolved",
        dortmund
            .write(
                EntityKind::Ticket,
                &own,
                vec![status(
                    Some(TicketStatus::Resolved),
                    TicketStatus::InProgress,
                )],
            )
            .await?,
    );
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
    world.gateway.stop().await
}

/// Two changes in one push where the first could change what the second is checked against.
#[tokio::test]
async fn ordering_tricks_in_one_push() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let dblock = lease(&mut dortmund.client, 20).await?;
    let mblock = lease(&mut munich.client, 10).await?;
    let t = number(&dblock, 0);
    let create = open_ticket(&t, "twenty4help", "dortmund", "finance-hr", 1);
    dortmund.seq = 1;
    let move_it = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![ticket(TicketField::FocusTeam("dealers-sales".into()))],
    );
    let rewrite_origin = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![ticket(TicketField::OriginTenant("twenty4help".into()))],
    );
    let answers = dortmund
        .send_all(&[create, move_it, rewrite_origin])
        .await?;
    assert!(matches!(answers[0], Answer::Accepted { .. }), "{answers:?}");
    assert_eq!(
        answers[1].reason(),
        Some(pb::RejectReason::Forbidden),
        "move after create: {answers:?}"
    );
    assert_eq!(
        answers[2].reason(),
        Some(pb::RejectReason::Forbidden),
        "origin after create: {answers:?}"
    );
    // Close then reopen in one push.
    let close = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![status(Some(TicketStatus::New), TicketStatus::Resolved)],
    );
    let closed = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![status(Some(TicketStatus::Resolved), TicketStatus::Closed)],
    );
    let reopen = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![status(
            Some(TicketStatus::Resolved),
            TicketStatus::InProgress,
        )],
    );
    let answers = dortmund.send_all(&[close, closed, reopen]).await?;
    assert!(
        answers[2].reason().is_some(),
        "reopened a closed ticket in one push: {answers:?}"
    );
    // In-house moves a ticket away from twenty4help; dortmund's push in the same moment is
    // checked against the moved ticket.
    let shared = munich.open(&mblock, 0, "finance-hr").await?;
    let mv = munich.change(
        EntityKind::Ticket,
        &shared,
        vec![ticket(TicketField::FocusTeam("bank".into()))],
    );
    let (a, b) = tokio::join!(
        munich.client.push(pb::PushRequest {
            changes: vec![mv.into()]
        }),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let c = dortmund.change(
                EntityKind::Ticket,
                &shared,
                vec![comment_op(
                    "dortmund-1",
                    "twenty4help",
                    Visibility::Federation,
                    "late",
                )],
            );
            dortmund.send(&c).await
        }
    );
    a?;
    let late = b?;
    assert_eq!(
        late.reason(),
        Some(pb::RejectReason::Forbidden),
        "late write to moved ticket: {late:?}"
    );
    world.gateway.stop().await
}

/// A partner "pins" the focus team it has (a no-op write the rules allow) with a clock reading
/// just inside the allowed skew; an in-house move made right after (before in-house saw the pin)
/// must still take the ticket away.
#[tokio::test]
async fn future_stamped_team_pin_cannot_defeat_inhouse_move() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "finance-hr").await?;
    let pin = dortmund.change_at(
        EntityKind::Ticket,
        &t,
        vec![ticket(TicketField::FocusTeam("finance-hr".into()))],
        Hlc::new(now_ms() + 4 * 60 * 1000, 0),
    );
    let pinned = dortmund.send(&pin).await?;
    assert_eq!(
        pinned.reason(),
        Some(pb::RejectReason::Forbidden),
        "a partner may not write an existing ticket's focus team, not even the same: {pinned:?}"
    );
    let moved = munich
        .write(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::FocusTeam("bank".into()))],
        )
        .await?;
    assert!(moved.reason().is_none(), "in-house move refused: {moved:?}");
    let seen = dortmund.fetch(EntityKind::Ticket, &t).await?;
    assert!(seen.is_none(), "the in-house move took effect");

    // The partner's own creation stamped four minutes ahead: an in-house move stamped before it
    // is refused as a conflict (never acknowledged without effect), and takes effect when made
    // anew with a later reading, as an in-house adapter that has seen the ticket does.
    let dblock = lease(&mut dortmund.client, 10).await?;
    let id = number(&dblock, 0);
    let ahead = now_ms() + 4 * 60 * 1000;
    let mut create = open_ticket(&id, "twenty4help", "dortmund", "finance-hr", 0);
    dortmund.seq += 1;
    create.origin_seq = dortmund.seq;
    create.hlc = Hlc::new(ahead, 0);
    assert!(dortmund.send(&create).await?.reason().is_none());
    let early = munich
        .write(
            EntityKind::Ticket,
            &id,
            vec![ticket(TicketField::FocusTeam("bank".into()))],
        )
        .await?;
    assert_eq!(
        early.reason(),
        Some(pb::RejectReason::Conflict),
        "{early:?}"
    );
    assert!(dortmund.fetch(EntityKind::Ticket, &id).await?.is_some());
    let late = munich.change_at(
        EntityKind::Ticket,
        &id,
        vec![ticket(TicketField::FocusTeam("bank".into()))],
        Hlc::new(ahead, 1),
    );
    assert!(munich.send(&late).await?.reason().is_none());
    // The creator still sees its ticket, now in bank.
    let state = dortmund
        .fetch(EntityKind::Ticket, &id)
        .await?
        .expect("the creator sees it");
    let state = hotline_federation::EntityState::try_from(state)?;
    assert_eq!(
        state.value("focus_team"),
        Some(&FieldValue::Ticket(TicketField::FocusTeam("bank".into())))
    );
    world.gateway.stop().await
}

/// Dedupe is no way around the rules: after the ticket moved away, the very same change again
/// is a harmless duplicate (nothing appended), other content under the same seq is refused, and
/// a fresh write gets the missing-ticket answer.
#[tokio::test]
async fn dedupe_is_no_way_around_the_rules() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "finance-hr").await?;
    let first = dortmund.change(
        EntityKind::Ticket,
        &t,
        vec![comment_op(
            "dortmund-1",
            "twenty4help",
            Visibility::Federation,
            "hello",
        )],
    );
    assert!(dortmund.send(&first).await?.reason().is_none());
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::FocusTeam("bank".into()))],
        )
        .await?;
    let head = world.gateway.head();
    let again = dortmund.send(&first).await?;
    assert_eq!(again, Answer::Accepted { duplicate: true });
    assert_eq!(world.gateway.head(), head, "a duplicate appended something");
    let mut other = first.clone();
    other.ops = vec![comment_op(
        "dortmund-1",
        "twenty4help",
        Visibility::Federation,
        "changed",
    )];
    let other = dortmund.send(&other).await?;
    assert!(
        other.reason().is_some(),
        "other content under a used seq: {other:?}"
    );
    let mut other_ticket = first.clone();
    other_ticket.key = tkey(&number(&block, 1));
    let other_ticket = dortmund.send(&other_ticket).await?;
    assert!(
        other_ticket.reason().is_some(),
        "used seq on another entity: {other_ticket:?}"
    );
    assert_eq!(world.gateway.head(), head);
    world.gateway.stop().await
}

/// Suggestions and call logs: another site's ids answer like free ones; partners cannot decide,
/// edit decided ones, or write another site's call log.
#[tokio::test]
async fn suggestions_and_call_logs_of_others() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let sugg = |tenant: &str| {
        vec![
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(
                tenant.into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ArticleId(
                "kb-1".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedBody(
                "text".into(),
            ))),
        ]
    };
    dortmund
        .must(EntityKind::Suggestion, "dortmund-1", sugg("twenty4help"))
        .await?;
    munich
        .must(EntityKind::Suggestion, "munich-1", sugg("inhouse"))
        .await?;
    // Probes by erfurt: taken vs free ids.
    let taken = erfurt
        .write(EntityKind::Suggestion, "dortmund-1", sugg("helpbycom"))
        .await?;
    let free = erfurt
        .write(EntityKind::Suggestion, "dortmund-77", sugg("helpbycom"))
        .await?;
    assert_eq!(taken.masked("dortmund-1"), free.masked("dortmund-77"));
    let taken = erfurt
        .write(EntityKind::Suggestion, "munich-1", sugg("helpbycom"))
        .await?;
    let free = erfurt
        .write(EntityKind::Suggestion, "munich-77", sugg("helpbycom"))
        .await?;
    assert_eq!(taken.masked("munich-1"), free.masked("munich-77"));
    assert!(
        erfurt
            .fetch(EntityKind::Suggestion, "dortmund-1")
            .await?
            .is_none()
    );
    // Deciding, spoofing, deleting.
    let mut accepted = Vec::new();
    let mut check = |label: &str, a: Answer| {
        if a.reason().is_none() {
            accepted.push(format!("{label}: {a:?}"));
        }
    };
    check(
        "accept own",
        dortmund
            .write(
                EntityKind::Suggestion,
                "dortmund-1",
                vec![FieldOp::Set(FieldValue::Suggestion(
                    SuggestionField::State(SuggestionState::Accepted),
                ))],
            )
            .await?,
    );
    check(
        "reopen own",
        dortmund
            .write(
                EntityKind::Suggestion,
                "dortmund-1",
                vec![FieldOp::Set(FieldValue::Suggestion(
                    SuggestionField::State(SuggestionState::Open),
                ))],
            )
            .await?,
    );
    check(
        "author spoof",
        dortmund
            .write(
                EntityKind::Suggestion,
                "dortmund-1",
                vec![FieldOp::Set(FieldValue::Suggestion(
                    SuggestionField::AuthorTenant("inhouse".into()),
                ))],
            )
            .await?,
    );
    check(
        "delete own",
        dortmund
            .write(EntityKind::Suggestion, "dortmund-1", vec![delete()])
            .await?,
    );
    let mut new_accepted = sugg("twenty4help");
    new_accepted.push(FieldOp::Set(FieldValue::Suggestion(
        SuggestionField::State(SuggestionState::Accepted),
    )));
    check(
        "create accepted",
        dortmund
            .write(EntityKind::Suggestion, "dortmund-2", new_accepted)
            .await?,
    );
    check(
        "create as inhouse",
        dortmund
            .write(EntityKind::Suggestion, "dortmund-3", sugg("inhouse"))
            .await?,
    );
    check(
        "goerlitz id",
        dortmund
            .write(EntityKind::Suggestion, "goerlitz-1", sugg("twenty4help"))
            .await?,
    );
    // Decided by in-house: frozen for the partner.
    munich
        .must(
            EntityKind::Suggestion,
            "dortmund-1",
            vec![FieldOp::Set(FieldValue::Suggestion(
                SuggestionField::State(SuggestionState::Rejected),
            ))],
        )
        .await?;
    check(
        "edit decided",
        dortmund
            .write(
                EntityKind::Suggestion,
                "dortmund-1",
                vec![FieldOp::Set(FieldValue::Suggestion(
                    SuggestionField::ProposedBody("again".into()),
                ))],
            )
            .await?,
    );
    // Call logs.
    let event = |site: &str| {
        vec![FieldOp::AddCallEvent(CallEvent {
            id: "c-1".into(),
            site: site.into(),
            outcome: CallOutcome::Abandoned,
            wait_seconds: 99,
            at_ms: 1,
            // A team dortmund handles: it may report calls only for those.
            focus_team: Some("dealers-sales".into()),
            ticket_number: None,
            talk_seconds: 0,
            wrap_seconds: 0,
        })]
    };
    check(
        "erfurt's call log",
        dortmund
            .write(EntityKind::CallLog, "erfurt.2026-05-09", event("erfurt"))
            .await?,
    );
    check(
        "goerlitz's call log",
        dortmund
            .write(
                EntityKind::CallLog,
                "goerlitz.2026-05-09",
                event("goerlitz"),
            )
            .await?,
    );
    check(
        "munich's call log",
        dortmund
            .write(EntityKind::CallLog, "munich.2026-05-09", event("munich"))
            .await?,
    );
    check("delete own call log", {
        dortmund
            .must(
                EntityKind::CallLog,
                "dortmund.2026-05-09",
                event("dortmund"),
            )
            .await?;
        dortmund
            .write(EntityKind::CallLog, "dortmund.2026-05-09", vec![delete()])
            .await?
    });
    assert!(accepted.is_empty(), "accepted:\n{}", accepted.join("\n"));
    world.gateway.stop().await
}

/// Customer data a partner writes without the grant never comes back to it (Fetch, live).
#[tokio::test]
async fn written_pii_never_comes_back_without_grant() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "plants").await?;
    let mut sub = Sub::start(&mut erfurt, 0).await?;
    sub.sync(&world.gateway).await?;
    erfurt
        .must(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::CustomerName(
                "Written By Erfurt".into(),
            ))],
        )
        .await?;
    let events = sub.sync(&world.gateway).await?;
    let fetched = erfurt
        .fetch(EntityKind::Ticket, &t)
        .await?
        .expect("visible");
    assert!(
        !has_register(&fetched, "customer_name"),
        "Fetch: {fetched:?}"
    );
    let leaks = debug_contains(&events, "Written By Erfurt");
    assert!(leaks.is_empty(), "{leaks:#?}");
    world.gateway.stop().await
}

/// Catch-up variant: the grant is withdrawn and the ticket moved to hr-light in separate pushes
/// while the partner is offline; resuming from its cursor must take the customer data away.
#[tokio::test]
async fn catch_up_pii_withdrawal_then_move_purges_pii() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let t = munich.open(&block, 0, "finance-hr").await?;
    let mut sub = Sub::start(&mut dortmund, 0).await?;
    sub.sync(&world.gateway).await?;
    assert!(sub.holds_pii(&t));
    let cursor = sub.cursor();
    let replica = sub.replica.clone();
    drop(sub);
    munich
        .must(
            EntityKind::Policy,
            "finance-hr",
            policy_op(PolicyField::PiiGrants(vec![])),
        )
        .await?;
    munich
        .must(
            EntityKind::Ticket,
            &t,
            vec![ticket(TicketField::FocusTeam("hr-light".into()))],
        )
        .await?;
    let mut sub = Sub::start(&mut dortmund, cursor).await?;
    sub.replica = replica;
    sub.sync(&world.gateway).await?;
    assert!(
        !sub.holds_pii(&t),
        "after catch-up from {cursor} twenty4help keeps the customer data of {t}"
    );
    assert_eq!(
        sub.replica,
        gateway_view(&world.gateway.state, "twenty4help")?
    );
    world.gateway.stop().await
}
