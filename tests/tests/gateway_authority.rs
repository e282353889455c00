//! Who may write what, over real mTLS (issue 12): each hole the outside review found has a
//! regression test here, and the adversarial matrix runs every partner-writable field of every
//! entity kind against an own, a foreign and a missing entity.

use hotline_federation::authority::Rule;
use hotline_federation::model::{
    ArticleField, ArticleState, BrandField, CallEvent, CallOutcome, Channel, Comment, EntityKey,
    EntityKind, FieldValue, Language, PolicyField, Priority, ReviewCadence, StatusTransition,
    SuggestionField, SuggestionState, TicketField, TicketStatus, Visibility,
};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{now_ms, number, open_ticket};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, lease};
use pb::federation_client::FederationClient;
use tonic::transport::Channel as GrpcChannel;

/// One site's connection, numbering its changes.
struct Site {
    client: FederationClient<GrpcChannel>,
    tenant: String,
    site: String,
    seq: u64,
}

/// The answer to one pushed change.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Accepted {
        duplicate: bool,
    },
    Refused {
        reason: pb::RejectReason,
        rule: Rule,
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

    fn rule(&self) -> Option<Rule> {
        match self {
            Answer::Accepted { .. } => None,
            Answer::Refused { rule, .. } => Some(*rule),
        }
    }

    fn message(&self) -> &str {
        match self {
            Answer::Accepted { .. } => "",
            Answer::Refused { message, .. } => message,
        }
    }
}

impl Site {
    async fn connect(
        gateway: &RunningGateway,
        pki: &Pki,
        tenant: &str,
        site: &str,
    ) -> anyhow::Result<Site> {
        Ok(Site {
            client: gateway.site_client(pki, tenant, site).await?,
            tenant: tenant.into(),
            site: site.into(),
            seq: 0,
        })
    }

    /// A change of this site with the next origin_seq.
    fn change(&mut self, kind: EntityKind, id: &str, ops: Vec<FieldOp>) -> Change {
        self.seq += 1;
        Change {
            key: EntityKey::new(kind, id),
            ops,
            origin_site: self.site.clone(),
            origin_seq: self.seq,
            // Strictly growing, as a real site's clock: two writes in one millisecond differ.
            hlc: Hlc::new(now_ms(), self.seq as u32),
        }
    }

    async fn send(&mut self, change: &Change) -> anyhow::Result<Answer> {
        let response = self
            .client
            .push(pb::PushRequest {
                changes: vec![change.clone().into()],
            })
            .await?
            .into_inner();
        let result = response.results.first().cloned();
        Ok(match result.and_then(|r| r.outcome) {
            Some(pb::change_result::Outcome::Accepted(a)) => Answer::Accepted {
                duplicate: a.duplicate,
            },
            Some(pb::change_result::Outcome::Rejected(r)) => {
                // Every refusal names its rule, and the rule's class is the wire's reason.
                let reason = pb::RejectReason::try_from(r.reason)?;
                let rule = Rule::from_name(&r.rule)
                    .ok_or_else(|| anyhow::anyhow!("refusal without a known rule: {r:?}"))?;
                anyhow::ensure!(rule.reason() == reason, "{rule} is not {reason:?}: {r:?}");
                Answer::Refused {
                    reason,
                    rule,
                    message: r.message,
                }
            }
            None => anyhow::bail!("push answered without an outcome"),
        })
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

    /// Opens a ticket (with PII) in `team` with the site's next leased number.
    async fn open(
        &mut self,
        block: &pb::LeaseBlock,
        offset: u64,
        team: &str,
    ) -> anyhow::Result<(String, Answer)> {
        let id = number(block, offset);
        self.seq += 1;
        let change = open_ticket(&id, &self.tenant, &self.site, team, self.seq);
        let answer = self.send(&change).await?;
        Ok((id, answer))
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

fn has_register(state: &pb::EntityState, name: &str) -> bool {
    let state = hotline_federation::EntityState::try_from(state.clone()).expect("valid state");
    state.registers.contains_key(name)
}

struct World {
    _data: tempfile::TempDir,
    pki: Pki,
    gateway: RunningGateway,
}

impl World {
    async fn start() -> anyhow::Result<World> {
        let pki = Pki::new()?;
        let data = tempfile::tempdir()?;
        let mut config = federation_config(&pki, data.path());
        for (site, tenant) in [("berlin", "helpbycom"), ("berlin-mitte", "helpbycom")] {
            config.sites.push(hotline_gateway::config::SiteConfig {
                id: site.into(),
                tenant: tenant.into(),
                name: None,
            });
        }
        let gateway = RunningGateway::start(config).await?;
        Ok(World {
            _data: data,
            pki,
            gateway,
        })
    }

    async fn site(&self, tenant: &str, site: &str) -> anyhow::Result<Site> {
        Site::connect(&self.gateway, &self.pki, tenant, site).await
    }
}

/// Hole 1: a partner cannot re-route a ticket to a focus team that grants it customer data (or
/// hide it from another partner); it escalates instead, and its view keeps no PII.
#[tokio::test]
async fn partners_do_not_reroute_tickets() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut munich.client, 10).await?;
    let (tech, answer) = munich.open(&block, 0, "dealers-sales").await?;
    assert_eq!(answer, Answer::Accepted { duplicate: false });
    // helpbycom sees dealers-sales without PII.
    let before = erfurt
        .fetch(EntityKind::Ticket, &tech)
        .await?
        .expect("visible");
    assert!(!has_register(&before, "customer_name"));
    let moved = erfurt
        .write(
            EntityKind::Ticket,
            &tech,
            vec![ticket(TicketField::FocusTeam("plants".into()))],
        )
        .await?;
    assert_eq!(
        moved.reason(),
        Some(pb::RejectReason::Forbidden),
        "{moved:?}"
    );
    assert_eq!(moved.rule(), Some(Rule::OnlyInhouseReroutes), "{moved:?}");
    assert!(moved.message().contains("escalate"), "{moved:?}");
    let after = erfurt
        .fetch(EntityKind::Ticket, &tech)
        .await?
        .expect("still visible");
    assert!(!has_register(&after, "customer_name"));
    // The ticket stays where it was: twenty4help still sees it.
    assert!(dortmund.fetch(EntityKind::Ticket, &tech).await?.is_some());
    // Escalating is the partner's way.
    erfurt
        .must(
            EntityKind::Ticket,
            &tech,
            vec![status(Some(TicketStatus::New), TicketStatus::Escalated)],
        )
        .await?;
    // In-house re-routes.
    munich
        .must(
            EntityKind::Ticket,
            &tech,
            vec![ticket(TicketField::FocusTeam("bank".into()))],
        )
        .await?;
    assert!(erfurt.fetch(EntityKind::Ticket, &tech).await?.is_none());
    // Customer data a partner may not read is write-only for it: its view never shows it.
    let (shared, _) = munich.open(&block, 1, "dealers-sales").await?;
    erfurt
        .must(
            EntityKind::Ticket,
            &shared,
            vec![ticket(TicketField::CustomerName("Someone Else".into()))],
        )
        .await?;
    let view = erfurt
        .fetch(EntityKind::Ticket, &shared)
        .await?
        .expect("visible");
    assert!(!has_register(&view, "customer_name"));
    world.gateway.stop().await
}

/// Hole 2: a partner creates tickets only in focus teams its tenant handles; the refusal lists
/// the teams it may use, and nothing reaches another partner.
#[tokio::test]
async fn partners_create_only_in_their_teams() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let block = lease(&mut dortmund.client, 10).await?;
    for (offset, team) in [(0, "plants"), (1, "bank")] {
        let (id, answer) = dortmund.open(&block, offset, team).await?;
        assert_eq!(
            answer.reason(),
            Some(pb::RejectReason::Forbidden),
            "{team}: {answer:?}"
        );
        assert!(
            answer.message().contains("dealers-sales, finance-hr"),
            "the refusal lists the teams: {answer:?}"
        );
        assert!(erfurt.fetch(EntityKind::Ticket, &id).await?.is_none());
    }
    // Without a focus team a partner's ticket would be invisible to every handler.
    let id = number(&block, 2);
    let bare = dortmund
        .write(
            EntityKind::Ticket,
            &id,
            vec![
                ticket(TicketField::PublicNumber(id.clone())),
                ticket(TicketField::OriginTenant("twenty4help".into())),
            ],
        )
        .await?;
    assert_eq!(bare.reason(), Some(pb::RejectReason::Invalid), "{bare:?}");
    let (ok, answer) = dortmund.open(&block, 3, "finance-hr").await?;
    assert_eq!(answer, Answer::Accepted { duplicate: false });
    assert!(dortmund.fetch(EntityKind::Ticket, &ok).await?.is_some());
    world.gateway.stop().await
}

/// Hole 9: a status change names the status its writer saw; a wrong `from` is a conflict, so a
/// partner cannot close an escalated ticket by claiming it was resolved, and closed is final.
#[tokio::test]
async fn status_changes_must_name_the_current_status() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund.client, 10).await?;
    let (id, _) = dortmund.open(&block, 0, "finance-hr").await?;
    dortmund
        .must(
            EntityKind::Ticket,
            &id,
            vec![status(Some(TicketStatus::New), TicketStatus::Escalated)],
        )
        .await?;
    let lie = dortmund
        .write(
            EntityKind::Ticket,
            &id,
            vec![status(Some(TicketStatus::Resolved), TicketStatus::Closed)],
        )
        .await?;
    assert_eq!(lie.reason(), Some(pb::RejectReason::Conflict), "{lie:?}");
    assert!(
        lie.message().contains("is escalated, not resolved"),
        "{lie:?}"
    );
    dortmund
        .must(
            EntityKind::Ticket,
            &id,
            vec![status(
                Some(TicketStatus::Escalated),
                TicketStatus::Resolved,
            )],
        )
        .await?;
    dortmund
        .must(
            EntityKind::Ticket,
            &id,
            vec![status(Some(TicketStatus::Resolved), TicketStatus::Closed)],
        )
        .await?;
    let reopen = dortmund
        .write(
            EntityKind::Ticket,
            &id,
            vec![status(
                Some(TicketStatus::Resolved),
                TicketStatus::InProgress,
            )],
        )
        .await?;
    assert_eq!(
        reopen.reason(),
        Some(pb::RejectReason::Conflict),
        "{reopen:?}"
    );
    assert!(reopen.message().contains("closed is final"), "{reopen:?}");
    let honest = dortmund.change(
        EntityKind::Ticket,
        &id,
        vec![status(Some(TicketStatus::Closed), TicketStatus::InProgress)],
    );
    let refused = dortmund.send(&honest).await;
    assert!(refused.is_err(), "closed stays closed: {refused:?}");
    let state = dortmund
        .fetch(EntityKind::Ticket, &id)
        .await?
        .expect("visible");
    let state = hotline_federation::EntityState::try_from(state)?;
    assert_eq!(
        hotline_federation::authority::current_status(&state),
        Some(TicketStatus::Closed)
    );
    world.gateway.stop().await
}

/// Hole 10: ids carry their site unambiguously: site berlin cannot write berlin-mitte's
/// comment or suggestion ids, and another site's suggestion id answers like a free one.
#[tokio::test]
async fn ids_carry_their_site() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut berlin = world.site("helpbycom", "berlin").await?;
    let mut mitte = world.site("helpbycom", "berlin-mitte").await?;
    let block = lease(&mut berlin.client, 10).await?;
    let (id, answer) = berlin.open(&block, 0, "plants").await?;
    assert_eq!(answer, Answer::Accepted { duplicate: false });
    let note = |id: &str| {
        FieldOp::AddComment(Comment {
            id: id.into(),
            author_alias: "A".into(),
            author_tenant: "helpbycom".into(),
            visibility: Visibility::Federation,
            body: "note".into(),
            created_at_ms: now_ms(),
            attachments: Vec::new(),
        })
    };
    let spoof = berlin
        .write(EntityKind::Ticket, &id, vec![note("berlin-mitte-1")])
        .await?;
    assert_eq!(spoof.reason(), Some(pb::RejectReason::Invalid), "{spoof:?}");
    berlin
        .must(EntityKind::Ticket, &id, vec![note("berlin-1")])
        .await?;
    mitte
        .must(EntityKind::Ticket, &id, vec![note("berlin-mitte-1")])
        .await?;
    // Suggestions: a taken foreign id and a free foreign id get the same answer.
    let propose = |tenant: &str| {
        vec![
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(
                tenant.into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedTitle(
                "Better VPN text".into(),
            ))),
        ]
    };
    mitte
        .must(
            EntityKind::Suggestion,
            "berlin-mitte-7",
            propose("helpbycom"),
        )
        .await?;
    let taken = berlin
        .write(
            EntityKind::Suggestion,
            "berlin-mitte-7",
            propose("helpbycom"),
        )
        .await?;
    let free = berlin
        .write(
            EntityKind::Suggestion,
            "berlin-mitte-8",
            propose("helpbycom"),
        )
        .await?;
    assert_eq!(taken.reason(), free.reason());
    assert_eq!(
        taken.message().replace("berlin-mitte-7", "<id>"),
        free.message().replace("berlin-mitte-8", "<id>")
    );
    berlin
        .must(EntityKind::Suggestion, "berlin-3", propose("helpbycom"))
        .await?;
    world.gateway.stop().await
}

/// Hole 11: the same (site, origin_seq) with different content is a conflict, not a silent
/// duplicate; the very same change again is still a harmless retry.
#[tokio::test]
async fn reused_origin_seq_is_a_conflict() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund.client, 10).await?;
    let (id, _) = dortmund.open(&block, 0, "finance-hr").await?;
    let first = dortmund.change(
        EntityKind::Ticket,
        &id,
        vec![ticket(TicketField::Subject("first".into()))],
    );
    assert_eq!(
        dortmund.send(&first).await?,
        Answer::Accepted { duplicate: false }
    );
    assert_eq!(
        dortmund.send(&first).await?,
        Answer::Accepted { duplicate: true }
    );
    let mut other = first.clone();
    other.ops = vec![ticket(TicketField::Subject("second".into()))];
    let answer = dortmund.send(&other).await?;
    assert_eq!(
        answer.reason(),
        Some(pb::RejectReason::Conflict),
        "{answer:?}"
    );
    let state = dortmund
        .fetch(EntityKind::Ticket, &id)
        .await?
        .expect("visible");
    let state = hotline_federation::EntityState::try_from(state)?;
    assert_eq!(
        state.value("subject"),
        Some(&FieldValue::Ticket(TicketField::Subject("first".into())))
    );
    world.gateway.stop().await
}

/// Hole 12: a deleted ticket is no longer served to partners (Fetch answers absent) and is no
/// longer writable: a partner gets the missing-ticket answer, in-house a clear refusal.
#[tokio::test]
async fn deleted_tickets_are_final() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund.client, 10).await?;
    let unleased = lease(&mut munich.client, 10).await?;
    let (id, _) = dortmund.open(&block, 0, "finance-hr").await?;
    munich
        .must(
            EntityKind::Ticket,
            &id,
            vec![FieldOp::Delete {
                reason: "duplicate".into(),
            }],
        )
        .await?;
    assert!(dortmund.fetch(EntityKind::Ticket, &id).await?.is_none());
    let write = dortmund
        .write(
            EntityKind::Ticket,
            &id,
            vec![ticket(TicketField::Subject("again".into()))],
        )
        .await?;
    let missing = number(&unleased, 9);
    let absent = dortmund
        .write(
            EntityKind::Ticket,
            &missing,
            vec![ticket(TicketField::Subject("again".into()))],
        )
        .await?;
    assert_eq!(write.reason(), Some(pb::RejectReason::Forbidden));
    assert_eq!(
        write.message().replace(&id, "<id>"),
        absent.message().replace(&missing, "<id>"),
        "a deleted ticket answers like a missing one"
    );
    let inhouse = munich
        .write(
            EntityKind::Ticket,
            &id,
            vec![ticket(TicketField::Subject("again".into()))],
        )
        .await?;
    assert_eq!(inhouse.reason(), Some(pb::RejectReason::Forbidden));
    assert!(inhouse.message().contains("deleted"), "{inhouse:?}");
    world.gateway.stop().await
}

/// Hole 17: names nobody configured are refused with the list of known ones.
#[tokio::test]
async fn unknown_teams_and_sites_are_refused() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let mut change = open_ticket(&number(&block, 0), "inhouse", "munich", "nosuchteam", 1);
    munich.seq = 1;
    let team = munich.send(&change).await?;
    assert_eq!(team.reason(), Some(pb::RejectReason::Invalid), "{team:?}");
    assert!(
        team.message()
            .contains("known: bank, dealers-sales, finance-hr, plants"),
        "{team:?}"
    );
    change = open_ticket(&number(&block, 0), "inhouse", "munich", "bank", 2);
    change
        .ops
        .push(ticket(TicketField::HandlingSite("nosuchsite".into())));
    change.ops.retain(|op| !matches!(op, FieldOp::Set(FieldValue::Ticket(TicketField::HandlingSite(s))) if s == "munich"));
    munich.seq = 2;
    let site = munich.send(&change).await?;
    assert_eq!(site.reason(), Some(pb::RejectReason::Invalid), "{site:?}");
    assert!(
        site.message()
            .contains("known: berlin, berlin-mitte, dortmund"),
        "{site:?}"
    );
    // A partner names only its own tenant's sites.
    let dblock = lease(&mut dortmund.client, 10).await?;
    let (id, _) = dortmund.open(&dblock, 0, "finance-hr").await?;
    let foreign = dortmund
        .write(
            EntityKind::Ticket,
            &id,
            vec![ticket(TicketField::HandlingSite("erfurt".into()))],
        )
        .await?;
    assert_eq!(
        foreign.reason(),
        Some(pb::RejectReason::Forbidden),
        "{foreign:?}"
    );
    dortmund
        .must(
            EntityKind::Ticket,
            &id,
            vec![ticket(TicketField::HandlingSite("goerlitz".into()))],
        )
        .await?;
    let call = dortmund
        .write(
            EntityKind::CallLog,
            "dortmund.2026-11-28",
            vec![FieldOp::AddCallEvent(CallEvent {
                id: "c1".into(),
                site: "dortmund".into(),
                outcome: CallOutcome::Answered,
                wait_seconds: 10,
                at_ms: now_ms(),
                focus_team: Some("nosuchteam".into()),
                ticket_number: None,
                talk_seconds: 0,
                wrap_seconds: 0,
            })],
        )
        .await?;
    // A partner learns nothing of teams it does not handle: an unknown team and another
    // tenant's team get the same answer, listing only its own.
    assert_eq!(call.rule(), Some(Rule::TeamHandled), "{call:?}");
    assert!(!call.message().contains("plants"), "{call:?}");
    world.gateway.stop().await
}

/// What a partner may do to its own entity of each kind, field by field; `None` is accepted.
fn own_expectations(
    ticket_id: &str,
) -> Vec<(
    &'static str,
    EntityKind,
    Vec<FieldOp>,
    Option<pb::RejectReason>,
)> {
    use pb::RejectReason::{Forbidden, Invalid};
    let t = |f: TicketField| vec![ticket(f)];
    let a = |f: ArticleField| vec![FieldOp::Set(FieldValue::Article(f))];
    let b = |f: BrandField| vec![FieldOp::Set(FieldValue::Brand(f))];
    let p = |f: PolicyField| vec![FieldOp::Set(FieldValue::Policy(f))];
    let s = |f: SuggestionField| vec![FieldOp::Set(FieldValue::Suggestion(f))];
    let text = || "text".to_string();
    use EntityKind as K;
    vec![
        (
            "ticket.public_number",
            K::Ticket,
            t(TicketField::PublicNumber(ticket_id.into())),
            None,
        ),
        (
            "ticket.customer_ref",
            K::Ticket,
            t(TicketField::CustomerRef("E-1".into())),
            None,
        ),
        (
            "ticket.focus_team",
            K::Ticket,
            t(TicketField::FocusTeam("dealers-sales".into())),
            Some(Forbidden),
        ),
        (
            "ticket.category",
            K::Ticket,
            t(TicketField::Category("vpn".into())),
            None,
        ),
        (
            "ticket.priority",
            K::Ticket,
            t(TicketField::Priority(Priority::High)),
            None,
        ),
        (
            "ticket.status",
            K::Ticket,
            vec![status(Some(TicketStatus::New), TicketStatus::InProgress)],
            None,
        ),
        (
            "ticket.language",
            K::Ticket,
            t(TicketField::Language(Language::En)),
            None,
        ),
        (
            "ticket.channel",
            K::Ticket,
            t(TicketField::Channel(Channel::Email)),
            None,
        ),
        (
            "ticket.opened_at_ms",
            K::Ticket,
            t(TicketField::OpenedAt(1)),
            None,
        ),
        (
            "ticket.first_answer_at_ms",
            K::Ticket,
            t(TicketField::FirstAnswerAt(2)),
            None,
        ),
        (
            "ticket.resolved_at_ms",
            K::Ticket,
            t(TicketField::ResolvedAt(3)),
            None,
        ),
        (
            "ticket.first_contact",
            K::Ticket,
            t(TicketField::FirstContact(true)),
            None,
        ),
        (
            "ticket.handling_site",
            K::Ticket,
            t(TicketField::HandlingSite("goerlitz".into())),
            None,
        ),
        (
            "ticket.assignee_alias",
            K::Ticket,
            t(TicketField::AssigneeAlias("A7".into())),
            None,
        ),
        (
            "ticket.subject",
            K::Ticket,
            t(TicketField::Subject(text())),
            None,
        ),
        (
            "ticket.origin_tenant",
            K::Ticket,
            t(TicketField::OriginTenant("twenty4help".into())),
            Some(Forbidden),
        ),
        (
            "ticket.customer_name",
            K::Ticket,
            t(TicketField::CustomerName(text())),
            None,
        ),
        (
            "ticket.customer_email",
            K::Ticket,
            t(TicketField::CustomerEmail(text())),
            None,
        ),
        (
            "ticket.customer_phone",
            K::Ticket,
            t(TicketField::CustomerPhone(text())),
            None,
        ),
        (
            "ticket.access_code",
            K::Ticket,
            t(TicketField::AccessCode(format!(
                "{}:{}",
                "a".repeat(32),
                "b".repeat(64)
            ))),
            Some(Forbidden),
        ),
        (
            "ticket.archived_at_ms",
            K::Ticket,
            t(TicketField::ArchivedAt(1)),
            Some(Forbidden),
        ),
        (
            "ticket.erased_at_ms",
            K::Ticket,
            t(TicketField::ErasedAt(1)),
            Some(Forbidden),
        ),
        (
            "ticket.add_comment",
            K::Ticket,
            vec![FieldOp::AddComment(Comment {
                id: "dortmund-900".into(),
                author_alias: "A".into(),
                author_tenant: "twenty4help".into(),
                visibility: Visibility::Federation,
                body: text(),
                created_at_ms: 1,
                attachments: Vec::new(),
            })],
            None,
        ),
        (
            "ticket.add_comment (foreign id)",
            K::Ticket,
            vec![FieldOp::AddComment(Comment {
                id: "goerlitz-900".into(),
                author_alias: "A".into(),
                author_tenant: "twenty4help".into(),
                visibility: Visibility::Federation,
                body: text(),
                created_at_ms: 1,
                attachments: Vec::new(),
            })],
            Some(Invalid),
        ),
        (
            "ticket.delete",
            K::Ticket,
            vec![FieldOp::Delete { reason: text() }],
            Some(Forbidden),
        ),
        (
            "article.version",
            K::Article,
            a(ArticleField::Version(2)),
            Some(Forbidden),
        ),
        (
            "article.language",
            K::Article,
            a(ArticleField::Language(Language::De)),
            Some(Forbidden),
        ),
        (
            "article.title",
            K::Article,
            a(ArticleField::Title(text())),
            Some(Forbidden),
        ),
        (
            "article.body",
            K::Article,
            a(ArticleField::Body(text())),
            Some(Forbidden),
        ),
        (
            "article.tags",
            K::Article,
            a(ArticleField::Tags(vec![text()])),
            Some(Forbidden),
        ),
        (
            "article.state",
            K::Article,
            a(ArticleField::State(ArticleState::Retired)),
            Some(Forbidden),
        ),
        (
            "article.focus_teams",
            K::Article,
            a(ArticleField::FocusTeams(vec!["plants".into()])),
            Some(Forbidden),
        ),
        (
            "article.draft",
            K::Article,
            a(ArticleField::Draft(
                hotline_federation::model::ArticleDraft {
                    language: Some(Language::De),
                    title: text(),
                    body: text(),
                    tags: vec![],
                    focus_teams: vec![],
                },
            )),
            Some(Forbidden),
        ),
        (
            "article.delete",
            K::Article,
            vec![FieldOp::Delete { reason: text() }],
            Some(Forbidden),
        ),
        (
            "brand.version",
            K::Brand,
            b(BrandField::Version(2)),
            Some(Forbidden),
        ),
        (
            "brand.display_name",
            K::Brand,
            b(BrandField::DisplayName(text())),
            Some(Forbidden),
        ),
        (
            "brand.hotline_number",
            K::Brand,
            b(BrandField::HotlineNumber(text())),
            Some(Forbidden),
        ),
        (
            "brand.greeting",
            K::Brand,
            b(BrandField::Greeting(Channel::Phone, Language::De, text())),
            Some(Forbidden),
        ),
        (
            "brand.template",
            K::Brand,
            b(BrandField::Template("sms".into(), Language::De, text())),
            Some(Forbidden),
        ),
        (
            "brand.signature",
            K::Brand,
            b(BrandField::Signature(text())),
            Some(Forbidden),
        ),
        (
            "brand.forbidden_terms",
            K::Brand,
            b(BrandField::ForbiddenTerms(vec![])),
            Some(Forbidden),
        ),
        (
            "brand.alias_patterns",
            K::Brand,
            b(BrandField::AliasPatterns(vec!["t4h-###".into()])),
            Some(Forbidden),
        ),
        (
            "brand.accent_color",
            K::Brand,
            b(BrandField::AccentColor("#123456".into())),
            Some(Forbidden),
        ),
        (
            "policy.display_name",
            K::Policy,
            p(PolicyField::DisplayName(text())),
            Some(Forbidden),
        ),
        (
            "policy.handlers",
            K::Policy,
            p(PolicyField::Handlers(vec!["twenty4help".into()])),
            Some(Forbidden),
        ),
        (
            "policy.sla_answer_seconds",
            K::Policy,
            p(PolicyField::SlaAnswerSeconds(20)),
            Some(Forbidden),
        ),
        (
            "policy.sla_target_percent",
            K::Policy,
            p(PolicyField::SlaTargetPercent(1)),
            Some(Forbidden),
        ),
        (
            "policy.fcr_target_percent",
            K::Policy,
            p(PolicyField::FcrTargetPercent(1)),
            Some(Forbidden),
        ),
        (
            "policy.review_cadence",
            K::Policy,
            p(PolicyField::ReviewCadence(ReviewCadence::Monthly)),
            Some(Forbidden),
        ),
        (
            "policy.pii_grants",
            K::Policy,
            p(PolicyField::PiiGrants(vec!["twenty4help".into()])),
            Some(Forbidden),
        ),
        (
            "policy.partner_retention_days",
            K::Policy,
            p(PolicyField::PartnerRetentionDays(0)),
            Some(Forbidden),
        ),
        (
            "suggestion.article_id",
            K::Suggestion,
            s(SuggestionField::ArticleId("vpn".into())),
            None,
        ),
        (
            "suggestion.base_version",
            K::Suggestion,
            s(SuggestionField::BaseVersion(1)),
            None,
        ),
        (
            "suggestion.proposed_title",
            K::Suggestion,
            s(SuggestionField::ProposedTitle(text())),
            None,
        ),
        (
            "suggestion.proposed_body",
            K::Suggestion,
            s(SuggestionField::ProposedBody(text())),
            None,
        ),
        (
            "suggestion.proposed_tags",
            K::Suggestion,
            s(SuggestionField::ProposedTags(vec![text()])),
            None,
        ),
        (
            "suggestion.rationale",
            K::Suggestion,
            s(SuggestionField::Rationale(text())),
            None,
        ),
        (
            "suggestion.author_tenant",
            K::Suggestion,
            s(SuggestionField::AuthorTenant("helpbycom".into())),
            Some(Forbidden),
        ),
        (
            "suggestion.state",
            K::Suggestion,
            s(SuggestionField::State(SuggestionState::Accepted)),
            Some(Forbidden),
        ),
        (
            "suggestion.proposed_language",
            K::Suggestion,
            s(SuggestionField::ProposedLanguage(Language::En)),
            None,
        ),
        (
            "suggestion.reject_reason",
            K::Suggestion,
            s(SuggestionField::RejectReason(text())),
            Some(Forbidden),
        ),
        (
            "suggestion.accepted_version",
            K::Suggestion,
            s(SuggestionField::AcceptedVersion(2)),
            Some(Forbidden),
        ),
        (
            "suggestion.delete",
            K::Suggestion,
            vec![FieldOp::Delete { reason: text() }],
            Some(Forbidden),
        ),
        (
            "call_log.add_call_event",
            K::CallLog,
            vec![FieldOp::AddCallEvent(CallEvent {
                id: "c-900".into(),
                site: "dortmund".into(),
                outcome: CallOutcome::Answered,
                wait_seconds: 5,
                at_ms: 1,
                // Every partner handles dealers-sales; a site reports calls only of its teams.
                focus_team: Some("dealers-sales".into()),
                ticket_number: None,
                talk_seconds: 0,
                wrap_seconds: 0,
            })],
            None,
        ),
        (
            "call_log.delete",
            K::CallLog,
            vec![FieldOp::Delete { reason: text() }],
            Some(Forbidden),
        ),
    ]
}

/// The matrix row that adds a call event.
fn call_event_row() -> Vec<FieldOp> {
    own_expectations("")
        .into_iter()
        .find(|row| row.0 == "call_log.add_call_event")
        .map(|row| row.2)
        .unwrap_or_default()
}

/// Points `ops` (written for dortmund's own entities) at another entity id: call events name
/// the call log's site.
fn retarget(kind: EntityKind, id: &str, ops: &[FieldOp]) -> Vec<FieldOp> {
    ops.iter()
        .map(|op| match op {
            FieldOp::AddCallEvent(event) if kind == EntityKind::CallLog => {
                let site = id.split_once('.').map_or("", |(s, _)| s);
                FieldOp::AddCallEvent(CallEvent {
                    site: site.into(),
                    ..event.clone()
                })
            }
            FieldOp::Set(FieldValue::Ticket(TicketField::PublicNumber(_))) => {
                ticket(TicketField::PublicNumber(id.into()))
            }
            other => other.clone(),
        })
        .collect()
}

/// The adversarial matrix: every partner-writable field x every entity kind x (own, foreign,
/// missing) gets the documented answer, and a foreign entity answers exactly like a missing one
/// (same reason, same message once the id is masked).
#[tokio::test]
async fn adversarial_matrix() -> anyhow::Result<()> {
    let world = World::start().await?;
    let mut munich = world.site("inhouse", "munich").await?;
    let mut dortmund = world.site("twenty4help", "dortmund").await?;
    let mut erfurt = world.site("helpbycom", "erfurt").await?;
    let inhouse_block = lease(&mut munich.client, 10).await?;
    let dortmund_block = lease(&mut dortmund.client, 100).await?;

    // Foreign entities of every kind, hidden from twenty4help.
    let (foreign_ticket, answer) = munich.open(&inhouse_block, 0, "plants").await?;
    assert_eq!(answer, Answer::Accepted { duplicate: false });
    let article = |state| {
        vec![
            FieldOp::Set(FieldValue::Article(ArticleField::Title("VPN".into()))),
            FieldOp::Set(FieldValue::Article(ArticleField::State(state))),
        ]
    };
    munich
        .must(
            EntityKind::Article,
            "draft-vpn",
            article(ArticleState::Draft),
        )
        .await?;
    munich
        .must(EntityKind::Article, "vpn", article(ArticleState::Published))
        .await?;
    munich
        .must(
            EntityKind::Brand,
            "brand",
            vec![FieldOp::Set(FieldValue::Brand(BrandField::DisplayName(
                "IT Hotline".into(),
            )))],
        )
        .await?;
    erfurt
        .must(
            EntityKind::Suggestion,
            "erfurt-1",
            vec![FieldOp::Set(FieldValue::Suggestion(
                SuggestionField::AuthorTenant("helpbycom".into()),
            ))],
        )
        .await?;
    let today = "2026-11-28";
    erfurt
        .must(
            EntityKind::CallLog,
            &format!("erfurt.{today}"),
            retarget(
                EntityKind::CallLog,
                &format!("erfurt.{today}"),
                &call_event_row(),
            ),
        )
        .await?;
    dortmund
        .must(
            EntityKind::Suggestion,
            "dortmund-1",
            vec![FieldOp::Set(FieldValue::Suggestion(
                SuggestionField::AuthorTenant("twenty4help".into()),
            ))],
        )
        .await?;

    let mut failures = Vec::new();
    for (i, (name, kind, ops, expected)) in own_expectations("").into_iter().enumerate() {
        // A fresh own ticket per ticket row, so each row starts from a new ticket.
        let (own, foreign, missing) = match kind {
            EntityKind::Ticket => {
                let (own, answer) = dortmund
                    .open(&dortmund_block, i as u64, "finance-hr")
                    .await?;
                assert_eq!(answer, Answer::Accepted { duplicate: false }, "{name}");
                (own, foreign_ticket.clone(), number(&inhouse_block, 9))
            }
            EntityKind::Article => ("vpn".into(), "draft-vpn".into(), "nosuch".into()),
            EntityKind::Brand => ("brand".into(), "brand".into(), "brand".into()),
            EntityKind::Policy => ("finance-hr".into(), "bank".into(), "nosuch".into()),
            EntityKind::Suggestion => ("dortmund-1".into(), "erfurt-1".into(), "erfurt-2".into()),
            EntityKind::CallLog => (
                format!("dortmund.{today}"),
                format!("erfurt.{today}"),
                "erfurt.2026-11-27".into(),
            ),
        };
        let mine = dortmund
            .write(kind, &own, retarget(kind, &own, &ops))
            .await?;
        if mine.reason() != expected {
            failures.push(format!(
                "{name} on own: expected {expected:?}, got {mine:?}"
            ));
        }
        let theirs = dortmund
            .write(kind, &foreign, retarget(kind, &foreign, &ops))
            .await?;
        let nobodys = dortmund
            .write(kind, &missing, retarget(kind, &missing, &ops))
            .await?;
        if theirs.reason().is_none() {
            failures.push(format!("{name} on foreign {foreign} was accepted"));
        }
        let masked = |a: &Answer, id: &str| (a.reason(), a.message().replace(id, "<id>"));
        if masked(&theirs, &foreign) != masked(&nobodys, &missing) {
            failures.push(format!(
                "{name}: foreign and missing differ:\n  foreign: {theirs:?}\n  missing: {nobodys:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    world.gateway.stop().await
}
