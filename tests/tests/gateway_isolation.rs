//! Tenant isolation for every Federation RPC: a partner never receives another tenant's
//! `tenant` comments, tickets of focus teams it does not handle, or PII it is not granted, and
//! a foreign ticket answers exactly like a missing one.

use hotline_federation::Replica;
use hotline_federation::model::{FieldValue, Visibility};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, comment, number, open_ticket, push};
use hotline_tests::harness::{
    Pki, RunningGateway, apply_events, federation_config, gateway_view, lease, subscribe_until,
};

fn rejection(response: &pb::PushResponse) -> Option<(i32, String)> {
    match &response.results.first()?.outcome {
        Some(pb::change_result::Outcome::Rejected(r)) => Some((r.reason, r.message.clone())),
        _ => None,
    }
}

/// The isolation matrix over Push, Subscribe and Lease for three tenants and two focus teams.
#[tokio::test]
async fn tenants_see_only_what_policy_allows() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let data = tempfile::tempdir()?;
    let gateway = RunningGateway::start(federation_config(&pki, data.path())).await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;

    // Lease: blocks of different sites never overlap.
    let inhouse_block = lease(&mut munich, 10).await?;
    let dortmund_block = lease(&mut dortmund, 10).await?;
    let erfurt_block = lease(&mut erfurt, 10).await?;
    let ranges = [&inhouse_block, &dortmund_block, &erfurt_block]
        .map(|b| b.first..b.first + u64::from(b.count));
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            assert!(
                a.end <= b.start || b.end <= a.start,
                "overlapping leases {a:?} {b:?}"
            );
        }
    }

    // In-house opens one ticket per focus team, each with an internal (tenant) note.
    let finance = number(&inhouse_block, 0);
    let plants = number(&inhouse_block, 1);
    let bank = number(&inhouse_block, 2);
    accepted(
        &munich
            .push(push(&[
                open_ticket(&finance, "inhouse", "munich", "finance-hr", 1),
                open_ticket(&plants, "inhouse", "munich", "plants", 2),
                open_ticket(&bank, "inhouse", "munich", "bank", 3),
                comment(
                    &finance,
                    "inhouse",
                    "munich",
                    4,
                    "munich-1",
                    Visibility::Tenant,
                    "internal",
                ),
                comment(
                    &plants,
                    "inhouse",
                    "munich",
                    5,
                    "munich-2",
                    Visibility::Tenant,
                    "internal",
                ),
                comment(
                    &plants,
                    "inhouse",
                    "munich",
                    6,
                    "munich-3",
                    Visibility::Federation,
                    "to partners",
                ),
            ]))
            .await?
            .into_inner(),
    )?;
    // twenty4help adds its own internal note to the finance ticket it handles.
    accepted(
        &dortmund
            .push(push(&[comment(
                &finance,
                "twenty4help",
                "dortmund",
                1,
                "dortmund-1",
                Visibility::Tenant,
                "ours",
            )]))
            .await?
            .into_inner(),
    )?;
    let head = gateway.head();

    // Subscribe: each tenant's replica equals the gateway's redacted view for it.
    let mut replicas = Vec::new();
    for (client, tenant) in [
        (&mut munich, "inhouse"),
        (&mut dortmund, "twenty4help"),
        (&mut erfurt, "helpbycom"),
    ] {
        let mut replica = Replica::default();
        apply_events(
            tenant,
            &mut replica,
            &subscribe_until(client, 0, head).await?,
        )?;
        assert_eq!(replica, gateway_view(&gateway.state, tenant)?, "{tenant}");
        replicas.push(replica);
    }
    let [inhouse, twenty4help, helpbycom] = <[Replica; 3]>::try_from(replicas).expect("three");
    let ids = |r: &Replica| -> Vec<String> {
        r.entities
            .keys()
            .filter(|k| k.kind == hotline_federation::EntityKind::Ticket)
            .map(|k| k.id.clone())
            .collect()
    };
    assert_eq!(
        ids(&inhouse),
        vec![finance.clone(), plants.clone(), bank.clone()]
    );
    assert_eq!(
        ids(&twenty4help),
        vec![finance.clone()],
        "twenty4help handles finance-hr only"
    );
    assert_eq!(
        ids(&helpbycom),
        vec![plants.clone()],
        "helpbycom handles plants only"
    );

    let ticket = |r: &Replica, id: &str| {
        r.entities
            .values()
            .find(|e| e.key.id == id)
            .cloned()
            .expect("ticket")
    };
    let has_pii =
        |e: &hotline_federation::EntityState| e.registers.values().any(|r| r.winner.value.is_pii());
    assert!(
        has_pii(&ticket(&twenty4help, &finance)),
        "finance-hr grants PII to twenty4help"
    );
    assert!(
        !has_pii(&ticket(&helpbycom, &plants)),
        "plants grants no PII to helpbycom"
    );
    let comment_ids =
        |e: &hotline_federation::EntityState| e.comments.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        comment_ids(&ticket(&twenty4help, &finance)),
        vec!["dortmund-1"]
    );
    assert_eq!(comment_ids(&ticket(&helpbycom, &plants)), vec!["munich-3"]);
    assert_eq!(
        comment_ids(&ticket(&inhouse, &finance)),
        vec!["dortmund-1", "munich-1"]
    );
    assert!(matches!(
        ticket(&helpbycom, &plants).value("subject"),
        Some(FieldValue::Ticket(_))
    ));

    // Push: a foreign ticket answers exactly like a missing one.
    let missing = number(&inhouse_block, 9);
    let foreign = rejection(
        &erfurt
            .push(push(&[comment(
                &finance,
                "helpbycom",
                "erfurt",
                1,
                "erfurt-1",
                Visibility::Public,
                "hi",
            )]))
            .await?
            .into_inner(),
    )
    .expect("pushing to a foreign ticket is refused");
    let absent = rejection(
        &erfurt
            .push(push(&[comment(
                &missing,
                "helpbycom",
                "erfurt",
                2,
                "erfurt-2",
                Visibility::Public,
                "hi",
            )]))
            .await?
            .into_inner(),
    )
    .expect("pushing to a missing ticket is refused");
    assert_eq!(foreign.0, pb::RejectReason::Forbidden as i32);
    assert_eq!(foreign.0, absent.0);
    assert_eq!(
        foreign.1.replace(&finance, "<id>"),
        absent.1.replace(&missing, "<id>")
    );

    // A number leased to another site cannot be used to create a ticket.
    let stolen = number(&dortmund_block, 0);
    let refused = rejection(
        &erfurt
            .push(push(&[open_ticket(
                &stolen,
                "helpbycom",
                "erfurt",
                "plants",
                3,
            )]))
            .await?
            .into_inner(),
    );
    assert!(
        refused.is_some(),
        "erfurt created a ticket with dortmund's number"
    );

    // The partner cannot claim another site's origin or another tenant's authorship.
    let spoofed = rejection(
        &erfurt
            .push(push(&[comment(
                &plants,
                "helpbycom",
                "dortmund",
                4,
                "x-1",
                Visibility::Public,
                "hi",
            )]))
            .await?
            .into_inner(),
    )
    .expect("origin of another site refused");
    assert_eq!(spoofed.0, pb::RejectReason::OriginMismatch as i32);
    let impostor = rejection(
        &erfurt
            .push(push(&[comment(
                &plants,
                "twenty4help",
                "erfurt",
                5,
                "x-2",
                Visibility::Public,
                "hi",
            )]))
            .await?
            .into_inner(),
    )
    .expect("authorship of another tenant refused");
    assert_eq!(impostor.0, pb::RejectReason::Forbidden as i32);
    // Comment ids carry the writing site, so nobody can probe another site's ids.
    let probe = rejection(
        &erfurt
            .push(push(&[comment(
                &plants,
                "helpbycom",
                "erfurt",
                6,
                "munich-1",
                Visibility::Public,
                "hi",
            )]))
            .await?
            .into_inner(),
    )
    .expect("a comment id of another site is refused");
    assert_eq!(probe.0, pb::RejectReason::Invalid as i32);
    assert!(probe.1.contains("is not one of your site's"), "{}", probe.1);
    assert_eq!(gateway.head(), head, "no refused change reached the log");
    gateway.stop().await
}
