//! What a tenant receives when its access changes (issue 12, holes 4 to 6): it is decided by
//! what the tenant may see when it receives it, on every path (live tail, catch-up, snapshot,
//! Fetch). Customer data leaves a site when its access does, a slow snapshot follows a policy
//! change made while it runs, and a value superseded while an entity was hidden never arrives.

use hotline_federation::model::{
    ArticleField, ArticleState, EntityKey, EntityKind, FieldValue, PolicyField, TicketField,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use hotline_gateway::config::{FocusTeamConfig, GatewayConfig};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, collect_until, federation_config, gateway_view, lease,
    small_window_client, subscribe_until,
};

/// In-house's changes, numbered.
struct Inhouse {
    client: pb::federation_client::FederationClient<tonic::transport::Channel>,
    seq: u64,
}

impl Inhouse {
    async fn push(&mut self, key: EntityKey, ops: Vec<FieldOp>) -> anyhow::Result<()> {
        self.seq += 1;
        let change = Change {
            key,
            ops,
            origin_site: "munich".into(),
            origin_seq: self.seq,
            hlc: Hlc::new(now_ms(), self.seq as u32),
        };
        accepted(&self.client.push(push(&[change])).await?.into_inner())?;
        Ok(())
    }

    async fn open(&mut self, id: &str, team: &str) -> anyhow::Result<()> {
        self.seq += 1;
        let change = open_ticket(id, "inhouse", "munich", team, self.seq);
        accepted(&self.client.push(push(&[change])).await?.into_inner())?;
        Ok(())
    }
}

fn policy(team: &str, field: PolicyField) -> (EntityKey, Vec<FieldOp>) {
    (
        EntityKey::new(EntityKind::Policy, team),
        vec![FieldOp::Set(FieldValue::Policy(field))],
    )
}

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

fn has_name(replica: &Replica, id: &str) -> bool {
    replica
        .entities
        .get(&EntityKey::new(EntityKind::Ticket, id))
        .is_some_and(|t| t.registers.contains_key("customer_name"))
}

/// Hole 4: a ticket moving to a team without the PII grant, and a policy withdrawing the grant,
/// both take the customer's name, email and phone out of a subscribed partner's copy.
#[tokio::test]
async fn losing_pii_access_purges_it_from_the_site() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(config(&pki, data.path())).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut munich.client, 10).await?;
    let (moved, withdrawn) = (number(&block, 0), number(&block, 1));
    munich.open(&moved, "finance-hr").await?;
    munich.open(&withdrawn, "finance-hr").await?;
    let mut stream = dortmund
        .subscribe(pb::SubscribeRequest { cursor: 0 })
        .await?
        .into_inner();
    let mut replica = Replica::default();
    let mut sync = async |replica: &mut Replica| -> anyhow::Result<()> {
        let head = gateway.head();
        let events = collect_until(&mut stream, 10_000, |e| {
            e.last().is_some_and(|e| e.cursor >= head)
        })
        .await?;
        apply_events("twenty4help", replica, &events)?;
        assert_eq!(*replica, gateway_view(&gateway.state, "twenty4help")?);
        Ok(())
    };
    sync(&mut replica).await?;
    assert!(has_name(&replica, &moved) && has_name(&replica, &withdrawn));

    munich
        .push(
            EntityKey::new(EntityKind::Ticket, moved.clone()),
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam(
                "hr-light".into(),
            )))],
        )
        .await?;
    sync(&mut replica).await?;
    assert!(
        replica
            .entities
            .contains_key(&EntityKey::new(EntityKind::Ticket, moved.clone()))
    );
    assert!(
        !has_name(&replica, &moved),
        "the move took the customer data away"
    );

    let (key, ops) = policy("finance-hr", PolicyField::PiiGrants(vec![]));
    munich.push(key, ops).await?;
    sync(&mut replica).await?;
    assert!(
        !has_name(&replica, &withdrawn),
        "the policy took the customer data away"
    );
    gateway.stop().await
}

/// Hole 5: a snapshot follows the rules as they are while it runs: a slow reader does not keep
/// receiving customer data for hundreds of tickets after the grant was withdrawn.
#[tokio::test]
async fn a_slow_snapshot_follows_a_withdrawn_grant() -> anyhow::Result<()> {
    const TICKETS: u64 = 600;
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = config(&pki, data.path());
    config.limits.subscriber_buffer = 4;
    config.limits.stall_timeout_ms = 60_000;
    let gateway = RunningGateway::start(config).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let block = lease(&mut munich.client, TICKETS as u32).await?;
    let mut batch = Vec::new();
    for i in 0..TICKETS {
        munich.seq += 1;
        batch.push(open_ticket(
            &number(&block, i),
            "inhouse",
            "munich",
            "finance-hr",
            munich.seq,
        ));
        if batch.len() == 100 {
            accepted(&munich.client.push(push(&batch)).await?.into_inner())?;
            batch.clear();
        }
    }
    let dortmund_cert = pki.site("twenty4help", "dortmund")?;
    let mut slow = small_window_client(&gateway, &pki, &dortmund_cert).await?;
    // A cursor beyond the head asks for a snapshot.
    let mut stream = slow
        .subscribe(pb::SubscribeRequest {
            cursor: gateway.head() + 1_000,
        })
        .await?
        .into_inner();
    let first = collect_until(&mut stream, 10, |e| !e.is_empty()).await?;
    let (key, ops) = policy("finance-hr", PolicyField::PiiGrants(vec![]));
    munich.push(key, ops).await?;
    let head = gateway.head();
    let rest = collect_until(&mut stream, 100_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    let with_pii = rest
        .iter()
        .filter(|e| match &e.body {
            Some(pb::sync_event::Body::Entity(state)) => EntityState::try_from(state.clone())
                .is_ok_and(|s| s.registers.contains_key("customer_name")),
            _ => false,
        })
        .count();
    assert!(
        with_pii < (TICKETS / 2) as usize,
        "{with_pii} of {TICKETS} tickets arrived with customer data after the grant was withdrawn"
    );
    let mut replica = Replica::default();
    let mut all = first;
    all.extend(rest);
    apply_events("twenty4help", &mut replica, &all)?;
    assert_eq!(replica, gateway_view(&gateway.state, "twenty4help")?);
    gateway.stop().await
}

fn article(ops: Vec<ArticleField>) -> Vec<FieldOp> {
    ops.into_iter()
        .map(|f| FieldOp::Set(FieldValue::Article(f)))
        .collect()
}

fn mentions(events: &[pb::SyncEvent], secret: &str) -> bool {
    format!("{events:?}").contains(secret)
}

/// Hole 6: draft edits and customer data written while an entity was hidden from a partner
/// never reach it, whether it catches up from an old cursor, follows the live tail or fetches.
#[tokio::test]
async fn values_superseded_while_hidden_never_arrive() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(config(&pki, data.path())).await?;
    let mut munich = Inhouse {
        client: gateway.site_client(&pki, "inhouse", "munich").await?,
        seq: 0,
    };
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let vpn = EntityKey::new(EntityKind::Article, "vpn");
    munich
        .push(
            vpn.clone(),
            article(vec![
                ArticleField::Title("Entwurf geheim A".into()),
                ArticleField::State(ArticleState::Draft),
            ]),
        )
        .await?;
    munich
        .push(
            vpn.clone(),
            article(vec![ArticleField::Title("Entwurf geheim B".into())]),
        )
        .await?;
    munich
        .push(
            vpn.clone(),
            article(vec![
                ArticleField::Title("VPN einrichten".into()),
                ArticleField::State(ArticleState::Published),
            ]),
        )
        .await?;
    // Catch-up from the start of the log.
    let head = gateway.head();
    let events = subscribe_until(&mut dortmund, 0, head).await?;
    assert!(
        !mentions(&events, "geheim"),
        "draft text reached a partner: {events:#?}"
    );
    let mut replica = Replica::default();
    apply_events("twenty4help", &mut replica, &events)?;
    assert_eq!(replica, gateway_view(&gateway.state, "twenty4help")?);

    // Live: the article goes back to draft, is edited while hidden, and is published again.
    let mut live = dortmund
        .subscribe(pb::SubscribeRequest { cursor: head })
        .await?
        .into_inner();
    munich
        .push(
            vpn.clone(),
            article(vec![ArticleField::State(ArticleState::Draft)]),
        )
        .await?;
    munich
        .push(
            vpn.clone(),
            article(vec![ArticleField::Title("Entwurf geheim C".into())]),
        )
        .await?;
    munich
        .push(
            vpn.clone(),
            article(vec![
                ArticleField::Title("VPN einrichten v2".into()),
                ArticleField::State(ArticleState::Published),
            ]),
        )
        .await?;
    let head = gateway.head();
    let events = collect_until(&mut live, 10_000, |e| {
        e.last().is_some_and(|e| e.cursor >= head)
    })
    .await?;
    assert!(
        !mentions(&events, "geheim"),
        "draft text reached a live partner: {events:#?}"
    );
    apply_events("twenty4help", &mut replica, &events)?;
    assert_eq!(replica, gateway_view(&gateway.state, "twenty4help")?);
    let fetched = dortmund
        .fetch(pb::FetchRequest {
            keys: vec![vpn.clone().into()],
        })
        .await?
        .into_inner();
    assert!(!format!("{fetched:?}").contains("geheim"), "{fetched:?}");

    // Customer data: a plants ticket's name is changed while helpbycom may not read it; when
    // it is granted, only the current name arrives.
    let block = lease(&mut munich.client, 10).await?;
    let id = number(&block, 0);
    munich.open(&id, "plants").await?;
    let name = |n: &str| {
        vec![FieldOp::Set(FieldValue::Ticket(TicketField::CustomerName(
            n.into(),
        )))]
    };
    munich
        .push(
            EntityKey::new(EntityKind::Ticket, id.clone()),
            name("Geheim Alt"),
        )
        .await?;
    munich
        .push(
            EntityKey::new(EntityKind::Ticket, id.clone()),
            name("Erika Neu"),
        )
        .await?;
    let (key, ops) = policy("plants", PolicyField::PiiGrants(vec!["helpbycom".into()]));
    munich.push(key, ops).await?;
    let head = gateway.head();
    let events = subscribe_until(&mut erfurt, 0, head).await?;
    assert!(mentions(&events, "Erika Neu"), "the granted name arrives");
    assert!(
        !mentions(&events, "Geheim Alt"),
        "a name superseded while hidden arrived"
    );
    assert!(
        !mentions(&events, "Erika Mustermann"),
        "a name superseded while hidden arrived"
    );
    gateway.stop().await
}
