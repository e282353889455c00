//! Sites that misbehave: a noisy tenant is held to its quota while the others keep being served,
//! and a clock far ahead cannot win conflicts.

use hotline_federation::model::Visibility;
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{Pki, RunningGateway, federation_config, lease};

/// helpbycom pushing far above its quota gets RESOURCE_EXHAUSTED with retry advice (and
/// nothing of the refused push is stored), while twenty4help's pushes go through meanwhile.
#[tokio::test]
async fn noisy_tenant_is_throttled_others_are_served() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let mut config = federation_config(&pki, data.path());
    config.limits.tenant_changes_per_second = 20;
    config.limits.tenant_burst = 600;
    let gateway = RunningGateway::start(config).await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;

    let noisy_block = lease(&mut erfurt, 1).await?;
    let noisy_ticket = number(&noisy_block, 0);
    accepted(
        &erfurt
            .push(push(&[open_ticket(
                &noisy_ticket,
                "helpbycom",
                "erfurt",
                "plants",
                1,
            )]))
            .await?
            .into_inner(),
    )?;
    let mut seq = 1;
    let mut refusal = None;
    for _ in 0..20 {
        let changes: Vec<_> = (0..100)
            .map(|_| {
                seq += 1;
                comment(
                    &noisy_ticket,
                    "helpbycom",
                    "erfurt",
                    seq,
                    &format!("erfurt-{seq}"),
                    Visibility::Federation,
                    "again",
                )
            })
            .collect();
        let head = gateway.head();
        match erfurt.push(push(&changes)).await {
            Ok(_) => {}
            Err(status) => {
                assert_eq!(gateway.head(), head, "a throttled push stored something");
                refusal = Some(status);
                break;
            }
        }
    }
    let status = refusal.expect("2,000 changes at once stayed within a 20/s quota");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry in"), "{status:?}");
    let advised: u64 = status
        .metadata()
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("retry-after-ms metadata");
    assert!(advised > 0);

    // The other tenant is served while helpbycom is throttled.
    let block = lease(&mut dortmund, 1).await?;
    let ticket = number(&block, 0);
    accepted(
        &dortmund
            .push(push(&[open_ticket(
                &ticket,
                "twenty4help",
                "dortmund",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;
    gateway.stop().await
}

/// A site whose clock runs an hour ahead cannot win later conflicts: its change is refused
/// with CLOCK_SKEW naming how far ahead it is and what is allowed, and is kept as a dead letter
/// for an operator, while a correct site's later write stands.
#[tokio::test]
async fn clock_an_hour_ahead_is_refused_with_the_skew() -> anyhow::Result<()> {
    use hotline_federation::Hlc;
    use hotline_federation::model::{FieldValue, TicketField};
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let block = lease(&mut dortmund, 1).await?;
    let ticket = number(&block, 0);
    accepted(
        &dortmund
            .push(push(&[open_ticket(
                &ticket,
                "twenty4help",
                "dortmund",
                "finance-hr",
                1,
            )]))
            .await?
            .into_inner(),
    )?;

    let mut ahead = open_ticket(&ticket, "twenty4help", "dortmund", "finance-hr", 2);
    ahead.ops = vec![hotline_federation::FieldOp::Set(FieldValue::Ticket(
        TicketField::Subject("from the future".into()),
    ))];
    ahead.hlc = Hlc::new(hotline_tests::changes::now_ms() + 3_600_000, 0);
    let answer = dortmund.push(push(&[ahead])).await?.into_inner();
    let Some(hotline_proto::v1::change_result::Outcome::Rejected(rejected)) =
        &answer.results[0].outcome
    else {
        anyhow::bail!("a change an hour ahead was accepted: {answer:?}");
    };
    assert_eq!(
        rejected.reason,
        hotline_proto::v1::RejectReason::ClockSkew as i32
    );
    assert!(
        rejected.message.contains("ms ahead") && rejected.message.contains("at most 300000 ms"),
        "{}",
        rejected.message
    );

    let mut now = open_ticket(&ticket, "twenty4help", "dortmund", "finance-hr", 3);
    now.ops = vec![hotline_federation::FieldOp::Set(FieldValue::Ticket(
        TicketField::Subject("from now".into()),
    ))];
    accepted(&dortmund.push(push(&[now])).await?.into_inner())?;
    let view = gateway.state.view("inhouse")?;
    let state = view
        .entities
        .values()
        .find(|e| e.key.id == ticket)
        .expect("ticket");
    assert_eq!(
        state.value("subject"),
        Some(&FieldValue::Ticket(TicketField::Subject("from now".into())))
    );
    let (start, end) =
        hotline_gateway::store::keys::prefix_range(hotline_gateway::store::keys::DEAD_LETTER);
    let letters = gateway.state.store.range(&start, &end, 10)?;
    assert_eq!(
        letters.len(),
        1,
        "the refused change waits as a dead letter for an operator"
    );
    gateway.stop().await
}
