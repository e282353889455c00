//! A change the gateway refused is parked at both ends. When an admin replays it at the gateway
//! after the cause was fixed, the site notices its own write in what the gateway sends and
//! drops its parked copy, so nobody replays it a second time and the site's copy shows it.

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, TicketField};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::{accepted, now_ms, number, open_ticket, push};
use hotline_tests::harness::{FEDERATION, gateway_view, lease};
use hotline_tests::sites::{OneSite, eventually};
use serde_json::Value;

/// Dortmund writes to a bank ticket it may not see and is refused; the in-house team then makes
/// twenty4help a bank handler and an admin replays the change at the gateway: the change is
/// accepted, dortmund's dead letter disappears and its replica equals the gateway's view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_at_the_gateway_clears_the_sites_dead_letter() -> anyhow::Result<()> {
    let OneSite {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = OneSite::start().await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let block = lease(&mut munich, 1).await?;
    let bank = number(&block, 0);
    accepted(
        &munich
            .push(push(&[open_ticket(&bank, "inhouse", "munich", "bank", 1)]))
            .await?
            .into_inner(),
    )?;

    let key = EntityKey::new(EntityKind::Ticket, bank.clone());
    let subject = FieldValue::Ticket(TicketField::Subject("from dortmund".into()));
    let change = site.write_directly(&key, now_ms(), vec![FieldOp::Set(subject.clone())])?;
    let letters = || async {
        let (_, letters) = site
            .api
            .call("GET", "/v1/dead-letters", &Value::Null)
            .await?;
        anyhow::Ok(
            letters["dead_letters"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
    };
    eventually(10, "the refused change parked at the site", || async {
        Ok(!letters().await?.is_empty())
    })
    .await?;
    let parked = letters().await?;
    assert_eq!(parked[0]["reason"], "REJECT_REASON_FORBIDDEN", "{parked:?}");
    assert_eq!(parked[0]["rule"], "ticket_visible_or_leased", "{parked:?}");
    assert_eq!(parked[0]["origin_seq"], change.origin_seq, "{parked:?}");

    let handlers = Change {
        key: EntityKey::new(EntityKind::Policy, "bank"),
        ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
            vec!["inhouse".into(), "twenty4help".into()],
        )))],
        origin_site: "munich".into(),
        origin_seq: 2,
        hlc: Hlc::new(now_ms(), 0),
    };
    accepted(&munich.push(push(&[handlers])).await?.into_inner())?;
    let alice = pki
        .ca
        .issue_staff(FEDERATION, "admin", "alice", time::Duration::days(1))?;
    let mut admin = pb::admin_client::AdminClient::new(gateway.channel(&pki, Some(&alice)).await?);
    let replayed = admin
        .replay_dead_letter(pb::ReplayDeadLetterRequest {
            site: "dortmund".into(),
            origin_seq: change.origin_seq,
        })
        .await?
        .into_inner();
    assert!(
        matches!(
            replayed.result.and_then(|r| r.outcome),
            Some(pb::change_result::Outcome::Accepted(_))
        ),
        "the replay at the gateway was not accepted"
    );

    eventually(10, "the site's dead letter gone", || async {
        Ok(letters().await?.is_empty())
    })
    .await?;
    eventually(
        10,
        "the site's replica equal to the gateway's view",
        || async {
            let view = gateway_view(&gateway.state, "twenty4help")?;
            Ok(site.snapshot()?.canonical_hash() == view.canonical_hash()
                && view.entities.get(&key).and_then(|s| s.value("subject")) == Some(&subject))
        },
    )
    .await?;
    site.stop().await?;
    gateway.stop().await
}
