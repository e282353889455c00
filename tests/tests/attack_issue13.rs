//! Attacks on issue 13's promise: "the adapter checks every local write with the same function
//! before storing, so a write the gateway would refuse is answered at the API at once (422,
//! naming the rule) and never becomes a dead letter". Each test asserts the correct behaviour,
//! so a failing test shows a hole; real gateways and adapters over mTLS on loopback.

use std::net::SocketAddr;
use std::path::Path;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, PolicyField, TicketField};
use hotline_federation::{Change, FieldOp, Hlc};
use hotline_proto::v1 as pb;
use hotline_tests::changes::now_ms;
use hotline_tests::harness::{Pki, RunningGateway, federation_config};
use hotline_tests::sites::{RunningAdapter, eventually};
use serde_json::{Value, json};

/// A gateway of the test federation, with the heartbeat every `heartbeat_ms`.
async fn gateway(pki: &Pki, dir: &Path, heartbeat_ms: u64) -> anyhow::Result<RunningGateway> {
    let mut config = federation_config(pki, dir);
    config.limits.heartbeat_interval_ms = heartbeat_ms;
    RunningGateway::start(config).await
}

/// A gateway of the test federation (heartbeat every `heartbeat_ms`) and one site of it,
/// holding ticket numbers and its first snapshot's policies.
struct World {
    pki: Pki,
    gateway: RunningGateway,
    site: RunningAdapter,
    dirs: [tempfile::TempDir; 2],
}

impl World {
    async fn start(tenant: &str, site: &str, heartbeat_ms: u64) -> anyhow::Result<World> {
        let pki = Pki::new()?;
        let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
        let gateway = gateway(&pki, dirs[0].path(), heartbeat_ms).await?;
        let site =
            RunningAdapter::for_site(&pki, tenant, site, gateway.addr, dirs[1].path()).await?;
        site.wait_for_numbers().await?;
        Ok(World {
            pki,
            gateway,
            site,
            dirs,
        })
    }
}

/// Waits until the site has pushed everything and applied the gateway's log, then answers its
/// dead letters as its API lists them.
async fn dead_letters_when_quiet(
    site: &RunningAdapter,
    gateway: &RunningGateway,
) -> anyhow::Result<Vec<Value>> {
    eventually(20, "the site is quiet", || async {
        Ok(site.replica.outbox_depth() == 0 && site.replica.cursor()? >= gateway.head())
    })
    .await?;
    let list = site
        .api
        .expect("GET", "/v1/dead-letters", &Value::Null, 200)
        .await?;
    Ok(list["dead_letters"].as_array().cloned().unwrap_or_default())
}

/// Creates a ticket through the site's API and answers its path.
async fn new_ticket(site: &RunningAdapter, team: &str) -> anyhow::Result<String> {
    let body = json!({ "customer_ref": "A13-1", "focus_team": team, "category": "vpn" });
    let ticket = site.api.expect("POST", "/v1/tickets", &body, 201).await?;
    let number = ticket["number"].as_str().unwrap_or_default().to_owned();
    Ok(format!("/v1/tickets/{number}"))
}

/// Asserts the promise for one write the API was given: either it was refused at once (4xx,
/// 422 with a rule for an authority refusal), or it was accepted and the gateway took it too.
async fn assert_no_dead_letter(
    what: &str,
    answer: (u16, Value),
    site: &RunningAdapter,
    gateway: &RunningGateway,
) -> anyhow::Result<()> {
    let (status, body) = answer;
    if (200..300).contains(&status) {
        let letters = dead_letters_when_quiet(site, gateway).await?;
        assert!(
            letters.is_empty(),
            "{what}: the API answered {status} but the gateway refused it, a dead letter: \
             {letters:?}"
        );
    } else {
        assert!(
            (400..500).contains(&status),
            "{what}: answered {status}: {body}"
        );
    }
    Ok(())
}

/// Attack 1a: a call event naming a focus team nobody configured. A partner does not hold
/// every policy, so its check leaves the team to the gateway, which refuses it
/// (`team_configured`); the API's answer must not be a 201 that turns into a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_event_of_an_unconfigured_team_never_becomes_a_dead_letter() -> anyhow::Result<()> {
    let World {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 200).await?;
    let event = json!({ "outcome": "answered", "wait_seconds": 18, "focus_team": "no-such-team" });
    let answer = site.api.call("POST", "/v1/call-events", &event).await?;
    assert_no_dead_letter("call event of team no-such-team", answer, &site, &gateway).await?;
    site.stop().await?;
    gateway.stop().await
}

/// Attack 1b: with the gateway's heartbeat ten minutes apart, the site hands a ticket to
/// another tenant's site (erfurt of helpbycom) whether or not it has heard its tenant's sites
/// yet (the heartbeat now opens every live tail; before it, a partner names only itself): the
/// gateway refuses it `site_of_own_tenant`, so the API must too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_site_of_another_tenant_before_the_first_heartbeat() -> anyhow::Result<()> {
    // After the first, the next heartbeat comes in ten minutes, longer than this test.
    let World {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 600_000).await?;
    let path = new_ticket(&site, "finance-hr").await?;
    let answer = site
        .api
        .call("PATCH", &path, &json!({ "handling_site": "erfurt" }))
        .await?;
    assert_no_dead_letter("handling_site erfurt", answer, &site, &gateway).await?;
    site.stop().await?;
    gateway.stop().await
}

/// Attack 1c: in-house (munich) hands a ticket to a site nobody registered. In-house's check
/// leaves unknown sites to the gateway, which refuses them `site_registered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhouse_handling_site_that_is_not_registered_never_becomes_a_dead_letter()
-> anyhow::Result<()> {
    let World {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("inhouse", "munich", 200).await?;
    eventually(20, "munich knows its tenant's sites", || async {
        Ok(site.replica.tenant_sites()?.is_some())
    })
    .await?;
    let path = new_ticket(&site, "bank").await?;
    let answer = site
        .api
        .call("PATCH", &path, &json!({ "handling_site": "atlantis" }))
        .await?;
    assert_no_dead_letter("handling_site atlantis", answer, &site, &gateway).await?;
    site.stop().await?;
    gateway.stop().await
}

/// A closed port on loopback: an address where no gateway answers.
fn nowhere() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Attack 2a: in-house takes its policies as every configured team (`teams_complete`), but
/// before its first snapshot it holds none: a call event for `plants`, a team the gateway
/// has configured, must not be refused `team_configured` at munich's API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhouse_call_event_before_the_first_snapshot_is_not_falsely_refused() -> anyhow::Result<()>
{
    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    let site = RunningAdapter::for_site(&pki, "inhouse", "munich", nowhere()?, dir.path()).await?;
    let event = json!({ "outcome": "answered", "wait_seconds": 7, "focus_team": "plants" });
    let (status, body) = site.api.call("POST", "/v1/call-events", &event).await?;
    assert_eq!(
        status, 201,
        "plants is a configured team the gateway accepts from in-house; munich answered {body}"
    );
    site.stop().await
}

/// The first refusal of a raw push.
fn rejected(response: &pb::PushResponse) -> anyhow::Result<pb::Rejected> {
    match response.results.first().and_then(|r| r.outcome.clone()) {
        Some(pb::change_result::Outcome::Rejected(r)) => Ok(r),
        other => anyhow::bail!("not refused: {other:?}"),
    }
}

/// Attack 3: what a partner learns from refusals. A partner holds only the policies of the
/// teams it handles and knows only its own tenant's sites (`Directory`), and the site's own
/// `site_of_own_tenant` refusal lists only its own sites. Pushing straight to the gateway with
/// its own certificate (a partner runs its adapter and holds its key), dortmund must learn
/// neither the teams it does not handle (`bank`, `plants`) nor other tenants' sites (`munich`,
/// `erfurt`), nor tell a registered foreign site from an unregistered name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_do_not_show_a_partner_other_tenants_teams_or_sites() -> anyhow::Result<()> {
    let World {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 200).await?;
    let path = new_ticket(&site, "finance-hr").await?;
    let number = path.trim_start_matches("/v1/tickets/").to_owned();
    assert!(dead_letters_when_quiet(&site, &gateway).await?.is_empty());
    let mut client = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut seq = 1_000_000;
    let mut refusal = |field: TicketField| {
        seq += 1;
        let change = Change {
            key: EntityKey::new(EntityKind::Ticket, number.clone()),
            ops: vec![FieldOp::Set(FieldValue::Ticket(field))],
            origin_site: "dortmund".into(),
            origin_seq: seq,
            hlc: Hlc::new(now_ms(), 0),
        };
        hotline_tests::changes::push(&[change])
    };
    let team = refusal(TicketField::FocusTeam("no-such-team".into()));
    let unregistered = refusal(TicketField::HandlingSite("atlantis".into()));
    let foreign = refusal(TicketField::HandlingSite("erfurt".into()));
    let team = rejected(&client.push(team).await?.into_inner())?;
    let unregistered = rejected(&client.push(unregistered).await?.into_inner())?;
    let foreign = rejected(&client.push(foreign).await?.into_inner())?;
    let mut leaks = Vec::new();
    for (what, refusal) in [("focus_team", &team), ("handling_site", &unregistered)] {
        for secret in ["bank", "plants", "munich", "erfurt"] {
            if refusal.message.contains(secret) {
                leaks.push(format!(
                    "{what} refusal ({}) names {secret}: {}",
                    refusal.rule, refusal.message
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert_eq!(
        unregistered.rule, foreign.rule,
        "dortmund tells a registered foreign site (erfurt: {}) from an unregistered name \
         (atlantis: {})",
        foreign.message, unregistered.message
    );
    site.stop().await?;
    gateway.stop().await
}

/// Attack 1d: in-house takes `dealers-sales` from twenty4help. Dortmund then refuses at its
/// API a new ticket in that team (422 `team_handled`), still edits and comments its own ticket
/// of that team (its creator keeps sight of it), and nothing becomes a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_the_tenant_lost_is_refused_at_the_api() -> anyhow::Result<()> {
    let World {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 200).await?;
    let path = new_ticket(&site, "dealers-sales").await?;
    assert!(dead_letters_when_quiet(&site, &gateway).await?.is_empty());
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let change = Change {
        key: EntityKey::new(EntityKind::Policy, "dealers-sales"),
        ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(
            vec!["inhouse".into(), "helpbycom".into()],
        )))],
        origin_site: "munich".into(),
        origin_seq: 1,
        hlc: Hlc::new(now_ms(), 0),
    };
    let pushed = munich
        .push(hotline_tests::changes::push(&[change]))
        .await?
        .into_inner();
    hotline_tests::changes::accepted(&pushed)?;
    eventually(20, "dortmund no longer lists dealers-sales", || async {
        let teams = site
            .api
            .expect("GET", "/v1/focus-teams", &Value::Null, 200)
            .await?;
        Ok(!teams.to_string().contains("dealers-sales"))
    })
    .await?;
    let body = json!({ "customer_ref": "A13-2", "focus_team": "dealers-sales", "category": "vpn" });
    let (status, answer) = site.api.call("POST", "/v1/tickets", &body).await?;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["rule"], "team_handled", "{answer}");
    // Its own ticket of that team stays visible to it (a tenant sees what it created), so the
    // gateway takes its edits and comments: the API must not refuse them either.
    let edit = json!({ "subject": "still mine", "priority": "high" });
    site.api.expect("PATCH", &path, &edit, 200).await?;
    let comment = json!({ "author_alias": "ak", "visibility": "federation", "body": "hello" });
    site.api
        .expect("POST", &format!("{path}/comments"), &comment, 201)
        .await?;
    assert!(dead_letters_when_quiet(&site, &gateway).await?.is_empty());
    site.stop().await?;
    gateway.stop().await
}

/// Attack 1e: the heartbeat that names the tenant's sites is sent only on a quiet stream
/// (every log entry resets its timer, also one the subscriber receives nothing of). While
/// another site writes more often than the heartbeat interval, dortmund never learns its
/// tenant's sites, so the check of attack 1b never applies. Here munich renames the `bank`
/// team (a policy dortmund does not even see) every 100 ms for 4 s, with the heartbeat every
/// 400 ms: dortmund should have heard a heartbeat within those 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_federation_does_not_starve_the_heartbeat_that_names_tenant_sites()
-> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let gateway = gateway(&pki, dirs[0].path(), 400).await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let site = RunningAdapter::for_site(
        &pki,
        "twenty4help",
        "dortmund",
        gateway.addr,
        dirs[1].path(),
    )
    .await?;
    let started = tokio::time::Instant::now();
    let mut seq = 0;
    let mut learned = false;
    // Writes keep coming until the site has heard its tenant's sites (or 20 s pass: a loaded
    // machine may take seconds just to connect and take the first snapshot).
    while !learned && started.elapsed() < std::time::Duration::from_secs(20) {
        seq += 1;
        let change = Change {
            key: EntityKey::new(EntityKind::Policy, "bank"),
            ops: vec![FieldOp::Set(FieldValue::Policy(PolicyField::DisplayName(
                format!("Bank {seq}"),
            )))],
            origin_site: "munich".into(),
            origin_seq: seq,
            hlc: Hlc::new(now_ms(), 0),
        };
        let pushed = munich
            .push(hotline_tests::changes::push(&[change]))
            .await?
            .into_inner();
        hotline_tests::changes::accepted(&pushed)?;
        learned |= site.replica.tenant_sites()?.is_some();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        learned,
        "after 20 s ({seq} in-house writes, heartbeat every 400 ms) dortmund has not heard its \
         tenant's sites: tenant_sites = {:?}, cursor {} of head {}",
        site.replica.tenant_sites()?,
        site.replica.cursor()?,
        gateway.head()
    );
    site.stop().await?;
    gateway.stop().await
}

/// Attack 3b: `site_of_own_tenant` is checked after visibility, so a partner cannot use a
/// handling site write to probe which tickets exist: erfurt's ticket and a number nobody used
/// answer dortmund with the same rule and the same message but for the id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handling_site_writes_do_not_probe_foreign_tickets() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let dir = tempfile::tempdir()?;
    let gateway = gateway(&pki, dir.path(), 200).await?;
    let mut erfurt = gateway.site_client(&pki, "helpbycom", "erfurt").await?;
    let block = hotline_tests::harness::lease(&mut erfurt, 10).await?;
    let theirs = hotline_tests::changes::number(&block, 0);
    let open = hotline_tests::changes::open_ticket(&theirs, "helpbycom", "erfurt", "plants", 1);
    let pushed = erfurt
        .push(hotline_tests::changes::push(&[open]))
        .await?
        .into_inner();
    hotline_tests::changes::accepted(&pushed)?;
    let missing = hotline_tests::changes::number(&block, 9);
    let mut dortmund = gateway.site_client(&pki, "twenty4help", "dortmund").await?;
    let mut answers = Vec::new();
    for (seq, id) in [(1, &theirs), (2, &missing)] {
        let change = Change {
            key: EntityKey::new(EntityKind::Ticket, id.clone()),
            ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::HandlingSite(
                "erfurt".into(),
            )))],
            origin_site: "dortmund".into(),
            origin_seq: seq,
            hlc: Hlc::new(now_ms(), 0),
        };
        let pushed = dortmund
            .push(hotline_tests::changes::push(&[change]))
            .await?
            .into_inner();
        let refusal = rejected(&pushed)?;
        answers.push((refusal.rule, refusal.message.replace(id.as_str(), "<id>")));
    }
    assert_eq!(answers[0], answers[1], "erfurt's ticket vs a missing one");
    assert_eq!(answers[0].0, "ticket_visible_or_leased", "{answers:?}");
    gateway.stop().await
}

/// Attack 1f (held): a ticket in-house moves away from dortmund's team (finance-hr to
/// plants) is gone at dortmund: edits and comments are 404, not a 2xx that the gateway then
/// refuses; a call event naming it is the site's own fact and is taken. A closed ticket of
/// dortmund's own stays closed: reopening it is refused at the API and never reaches the
/// gateway. Nothing becomes a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_away_and_closed_tickets_are_answered_at_the_api() -> anyhow::Result<()> {
    let World {
        pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 200).await?;
    let mut munich = gateway.site_client(&pki, "inhouse", "munich").await?;
    let block = hotline_tests::harness::lease(&mut munich, 10).await?;
    let id = hotline_tests::changes::number(&block, 0);
    let open = hotline_tests::changes::open_ticket(&id, "inhouse", "munich", "finance-hr", 1);
    let pushed = munich
        .push(hotline_tests::changes::push(&[open]))
        .await?
        .into_inner();
    hotline_tests::changes::accepted(&pushed)?;
    let path = format!("/v1/tickets/{id}");
    eventually(20, "dortmund sees in-house's finance-hr ticket", || async {
        Ok(site.api.call("GET", &path, &Value::Null).await?.0 == 200)
    })
    .await?;
    let moved = Change {
        key: EntityKey::new(EntityKind::Ticket, id.clone()),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam(
            "plants".into(),
        )))],
        origin_site: "munich".into(),
        origin_seq: 2,
        hlc: Hlc::new(now_ms() + 1, 0),
    };
    let pushed = munich
        .push(hotline_tests::changes::push(&[moved]))
        .await?
        .into_inner();
    hotline_tests::changes::accepted(&pushed)?;
    eventually(20, "the moved ticket is gone at dortmund", || async {
        Ok(site.api.call("GET", &path, &Value::Null).await?.0 == 404)
    })
    .await?;
    let edit = site
        .api
        .call("PATCH", &path, &json!({ "status": "in_progress" }))
        .await?;
    assert_eq!(edit.0, 404, "{}", edit.1);
    let comment = json!({ "author_alias": "ak", "visibility": "public", "body": "hello" });
    let commented = site
        .api
        .call("POST", &format!("{path}/comments"), &comment)
        .await?;
    assert_eq!(commented.0, 404, "{}", commented.1);
    let event = json!({ "outcome": "answered", "wait_seconds": 3, "ticket_number": id });
    site.api
        .expect("POST", "/v1/call-events", &event, 201)
        .await?;

    let own = new_ticket(&site, "finance-hr").await?;
    site.api
        .expect("PATCH", &own, &json!({ "status": "closed" }), 200)
        .await?;
    for status in ["new", "in_progress", "resolved"] {
        let (code, body) = site
            .api
            .call("PATCH", &own, &json!({ "status": status }))
            .await?;
        assert_eq!(code, 422, "reopening as {status}: {body}");
    }
    let letters = dead_letters_when_quiet(&site, &gateway).await?;
    assert!(letters.is_empty(), "{letters:?}");
    site.stop().await?;
    gateway.stop().await
}

/// Attack 4 (held): a dead letter keeps its rule and reason class on the wire and in the list,
/// and a replay at the site of a change the rule still refuses comes back as a dead letter
/// with the same rule (the replay is the gateway's to decide), not as a letter without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_keep_their_rule_across_a_replay() -> anyhow::Result<()> {
    let World {
        pki: _pki,
        gateway,
        site,
        dirs: _dirs,
    } = World::start("twenty4help", "dortmund", 200).await?;
    let path = new_ticket(&site, "finance-hr").await?;
    let number = path.trim_start_matches("/v1/tickets/").to_owned();
    assert!(dead_letters_when_quiet(&site, &gateway).await?.is_empty());
    let key = EntityKey::new(EntityKind::Ticket, number);
    let erfurt = FieldValue::Ticket(TicketField::HandlingSite("erfurt".into()));
    let change = site.write_directly(&key, now_ms(), vec![FieldOp::Set(erfurt)])?;
    let letters = dead_letters_when_quiet(&site, &gateway).await?;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["origin_seq"], change.origin_seq, "{letters:?}");
    assert_eq!(letters[0]["rule"], "site_of_own_tenant", "{letters:?}");
    assert_eq!(
        letters[0]["reason"], "REJECT_REASON_FORBIDDEN",
        "{letters:?}"
    );
    let replay = format!("/v1/dead-letters/{}/replay", change.origin_seq);
    let (status, body) = site.api.call("POST", &replay, &Value::Null).await?;
    // Not checked again at the site: queued (202), pushed, refused and parked again.
    assert_eq!(status, 202, "{body}");
    let again = dead_letters_when_quiet(&site, &gateway).await?;
    assert_eq!(again.len(), 1, "{again:?}");
    for field in ["origin_seq", "rule", "reason", "entity"] {
        assert_eq!(again[0][field], letters[0][field], "{field}: {again:?}");
    }
    // The refusal parks the change at once; the site then fetches the gateway's copy of the
    // ticket (the outbox is empty and the cursor current before that fetch has answered).
    eventually(20, "the site holds the gateway's ticket again", || async {
        let ticket = site.api.expect("GET", &path, &Value::Null, 200).await?;
        Ok(ticket["handling_site"] == "dortmund")
    })
    .await?;
    site.stop().await?;
    gateway.stop().await
}
