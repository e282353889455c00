//! A burst of ticket creates through one adapter's API while the gateway is up: the writes share
//! flushes (group commit) and the lease keeps up, so no create is refused, every number is
//! unique, every ticket reaches the gateway, and the store holds every acknowledged ticket after
//! it is reopened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hotline_adapter::replica::Replica;
use hotline_federation::model::{EntityKey, EntityKind};
use hotline_tests::sites::{OneSite, eventually};
use serde_json::json;

/// Concurrent API clients, and creates in all.
const CLIENTS: usize = 32;
const CREATES: usize = 3_000;

/// 32 clients create 3,000 tickets at once with the test's small lease (50 numbers, refilled
/// below 10): none is refused, the numbers are unique, the gateway gets all of them, and a
/// reopened store holds all of them (what a partner's CRM was told is really stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_creates_is_never_refused_while_the_gateway_is_up() -> anyhow::Result<()> {
    let one = OneSite::start().await?;
    let api = Arc::new(one.site.api.clone());
    let flushes_before = one.site.replica.group_flushes();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let api = api.clone();
        let share = CREATES / CLIENTS + usize::from(client < CREATES % CLIENTS);
        clients.push(tokio::spawn(async move {
            let mut made = Vec::new();
            let mut refused = BTreeMap::<String, usize>::new();
            for i in 0..share {
                let body = json!({
                    "customer_ref": format!("burst-{client}-{i}"),
                    "focus_team": "dealers-sales",
                    "category": "vpn",
                    "subject": "burst",
                });
                let (status, answer) = api.call("POST", "/v1/tickets", &body).await?;
                if status == 201 {
                    made.push(answer["number"].as_str().unwrap_or_default().to_owned());
                } else {
                    *refused.entry(format!("{status} {answer}")).or_default() += 1;
                }
            }
            anyhow::Ok((made, refused))
        }));
    }
    let mut numbers = Vec::new();
    let mut refused = BTreeMap::<String, usize>::new();
    for client in clients {
        let (made, refusals) = client.await??;
        numbers.extend(made);
        for (why, count) in refusals {
            *refused.entry(why).or_default() += count;
        }
    }
    assert!(refused.is_empty(), "refused creates: {refused:#?}");
    let unique: BTreeSet<&String> = numbers.iter().collect();
    assert_eq!(numbers.len(), CREATES);
    assert_eq!(
        unique.len(),
        CREATES,
        "a ticket number was handed out twice"
    );
    // 3,000 writes from 32 clients shared flushes: far fewer flushes than writes.
    let flushes = one.site.replica.group_flushes() - flushes_before;
    assert!(
        flushes < CREATES as u64,
        "{flushes} group flushes for {CREATES} creates: the writes did not share flushes"
    );

    let replica = one.site.replica.clone();
    eventually(120, "the outbox pushed", || async {
        Ok(replica.outbox_depth() == 0)
    })
    .await?;
    drop(replica);
    for number in &numbers {
        let key = EntityKey::new(EntityKind::Ticket, number.clone());
        assert!(
            !one.gateway.state.entity(&key)?.is_empty(),
            "ticket {number} was acknowledged but never reached the gateway"
        );
    }

    // Reopen the store: every acknowledged ticket is there.
    let OneSite {
        gateway,
        site,
        dirs,
        ..
    } = one;
    site.stop().await?;
    let reopened = Replica::open(dirs[1].path(), "dortmund", "twenty4help", 60_000)?;
    let stored: BTreeSet<String> = reopened
        .entities(EntityKind::Ticket)?
        .into_iter()
        .map(|state| state.key.id)
        .collect();
    for number in &numbers {
        assert!(
            stored.contains(number),
            "ticket {number} was acknowledged but is not in the reopened store"
        );
    }
    assert_eq!(reopened.outbox_depth(), 0);
    drop(reopened);
    gateway.stop().await
}
