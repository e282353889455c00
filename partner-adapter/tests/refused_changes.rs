//! What a refused push does to a site's store, on real sled stores in temp dirs: the refused
//! write is taken back out of the local copy (replaced by the gateway's, with the site's
//! unpushed changes on top), and a `CLOCK_SKEW` refusal turns the site's clock back so the
//! site can write again once its clock is right, never below a write the gateway accepted.

use crate::common;

use std::path::Path;

use common::{SITE, TENANT, events, subject, write_at};
use hotline_adapter::integrity;
use hotline_adapter::replica::{Fetched, RemoteEntry, Replica};
use hotline_adapter::sync::now_ms;
use hotline_federation::lifecycle::{self, NewTicket, TicketText};
use hotline_federation::model::{
    Channel, EntityKey, EntityKind, FieldValue, Language, Priority, TicketField, TicketStatus,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, clock::DEFAULT_MAX_SKEW_MS};
use hotline_proto::v1::RejectReason;

const HOUR_MS: u64 = 3_600_000;

fn open(dir: &Path) -> Replica {
    Replica::open(dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS).expect("open the store")
}

fn ticket(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, id)
}

fn refusal(change: &Change, reason: RejectReason) -> (Change, hotline_proto::v1::Rejected) {
    let rejected = hotline_proto::v1::Rejected {
        reason: reason as i32,
        message: format!("refused: {reason:?}"),
        rule: String::new(),
    };
    (change.clone(), rejected)
}

/// The gateway refuses `changes`, each for its reason, in one push answered at `at_ms`.
fn refuse(replica: &Replica, changes: &[(&Change, RejectReason)], at_ms: u64) {
    let refused: Vec<_> = changes
        .iter()
        .map(|(change, reason)| refusal(change, *reason))
        .collect();
    replica.settle(&[], &refused, at_ms).expect("settle");
}

/// After a CLOCK_SKEW refusal the next write is stamped by the physical clock again (not an
/// hour ahead), but never below a write the gateway accepted, even one that led by less than
/// the allowed skew; the turned-back clock survives a restart.
#[test]
fn clock_skew_refusal_turns_the_clock_back_to_the_last_accepted_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = ticket("ASZ-2026-000001");
    let t = now_ms();
    {
        let replica = open(dir.path());
        let slightly_ahead = write_at(&replica, &key, "four minutes ahead", t + 240_000);
        replica
            .settle(&[(slightly_ahead.clone(), false)], &[], t)
            .expect("settle");
        let far_ahead = write_at(&replica, &key, "an hour ahead", t + HOUR_MS);
        assert_eq!(far_ahead.hlc, Hlc::new(t + HOUR_MS, 0));
        refuse(&replica, &[(&far_ahead, RejectReason::ClockSkew)], t);

        let next = write_at(&replica, &key, "clock fixed", t + 1);
        assert!(
            next.hlc > slightly_ahead.hlc,
            "a later write must still win over the accepted one: {:?} <= {:?}",
            next.hlc,
            slightly_ahead.hlc
        );
        assert_eq!(
            next.hlc.wall_ms, slightly_ahead.hlc.wall_ms,
            "{:?}",
            next.hlc
        );
    }
    // sled lets go of its lock once its background thread has stopped, a moment after drop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let replica = loop {
        match Replica::open(dir.path(), SITE, TENANT, DEFAULT_MAX_SKEW_MS) {
            Ok(replica) => break replica,
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("lock") => {
                std::thread::yield_now();
            }
            Err(e) => panic!("reopen the store: {e}"),
        }
    };
    let later = write_at(&replica, &key, "after a restart", t + 250_000);
    assert_eq!(
        later.hlc,
        Hlc::new(t + 250_000, 0),
        "the restarted site must not resume from the reading an hour ahead"
    );
}

/// A refusal for another reason leaves the clock alone: readings only grow.
#[test]
fn other_refusals_do_not_turn_the_clock_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000002");
    let t = now_ms();
    let forbidden = write_at(&replica, &key, "not allowed", t + 1000);
    refuse(&replica, &[(&forbidden, RejectReason::Forbidden)], t);
    let next = write_at(&replica, &key, "next", t);
    assert!(
        next.hlc > forbidden.hlc,
        "{:?} <= {:?}",
        next.hlc,
        forbidden.hlc
    );
}

/// A refused write stays in the local copy only until the gateway's copy arrives: then the
/// entity is the gateway's state with the site's unpushed changes joined again, and its
/// marker is gone. A refused creation disappears. An answer older than a log entry the replica
/// has applied to an entity leaves that entity and its marker alone, so it is asked again.
#[test]
fn refresh_replaces_the_refused_write_with_the_gateways_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let (known, created) = (ticket("ASZ-2026-000003"), ticket("ASZ-2026-000004"));
    let t = now_ms();

    let refused = write_at(&replica, &known, "refused", t);
    let unpushed = write_at(&replica, &known, "unpushed", t + 1);
    let creation = write_at(&replica, &created, "refused creation", t + 2);
    refuse(
        &replica,
        &[
            (&refused, RejectReason::Transition),
            (&creation, RejectReason::Forbidden),
        ],
        t + 3,
    );
    let mut stale = replica.stale_entities(10).expect("stale");
    stale.sort();
    let mut expected = vec![known.clone(), created.clone()];
    expected.sort();
    assert_eq!(stale, expected);
    assert_eq!(
        replica.entity(&created).expect("read").value("subject"),
        Some(&FieldValue::Ticket(TicketField::Subject(
            "refused creation".into()
        ))),
        "until the gateway answers, the optimistic copy stands"
    );

    let gateway_copy = EntityState::delta(&Change {
        key: known.clone(),
        ops: vec![subject("the gateway's")],
        origin_site: "munich".into(),
        origin_seq: 7,
        hlc: Hlc::new(t - 1000, 0),
    });
    let answer = Fetched {
        as_of: 5,
        states: vec![gateway_copy.clone()],
        absent: vec![created.clone()],
    };

    // Meanwhile the subscriber applied entry 9, which touched the known ticket: an answer as of
    // 5 may miss it, so that ticket waits; the untouched one is refreshed.
    let entry_9 = EntityState::delta(&Change {
        key: known.clone(),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Category(
            "network".into(),
        )))],
        origin_site: "munich".into(),
        origin_seq: 8,
        hlc: Hlc::new(t - 500, 0),
    });
    replica
        .apply_remote(
            &RemoteEntry {
                states: vec![entry_9.clone()],
                cursor: Some(9),
                ..RemoteEntry::default()
            },
            &events(),
            t,
        )
        .expect("apply");
    let before = replica.entity(&known).expect("read");
    let deferred = replica.refresh(&answer, &events(), t).expect("refresh");
    assert_eq!(deferred, vec![known.clone()]);
    assert_eq!(replica.entity(&known).expect("read"), before);
    assert_eq!(
        replica.stale_entities(10).expect("stale"),
        vec![known.clone()]
    );

    let mut gateway_copy = gateway_copy;
    gateway_copy.join(&entry_9);
    let current = Fetched {
        as_of: 9,
        states: vec![gateway_copy.clone()],
        absent: vec![],
    };
    assert!(
        replica
            .refresh(&current, &events(), t)
            .expect("refresh")
            .is_empty()
    );
    let mut expected = gateway_copy;
    expected.apply(&unpushed);
    // A partner site keeps each register's winning write only, as the gateway sends it.
    for register in expected.registers.values_mut() {
        register.superseded.clear();
    }
    assert_eq!(
        replica.entity(&known).expect("read"),
        expected,
        "the gateway's copy with the unpushed change, and no trace of the refused one"
    );
    assert!(replica.entity(&created).expect("read").is_empty());
    assert!(replica.stale_entities(10).expect("stale").is_empty());
    assert_eq!(
        replica.outbox(10).expect("outbox"),
        vec![unpushed],
        "the unpushed change still waits to be pushed"
    );
}

/// A duplicate acknowledgement (the gateway had stored a change under that number before, e.g.
/// the version before a replay gave it a new reading) marks the entity for the gateway's copy;
/// a plain acknowledgement does not.
#[test]
fn duplicate_acknowledgement_asks_for_the_gateways_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let (fresh, seen) = (ticket("ASZ-2026-000005"), ticket("ASZ-2026-000006"));
    let t = now_ms();
    let first = write_at(&replica, &fresh, "first", t);
    let again = write_at(&replica, &seen, "again", t + 1);
    replica
        .settle(&[(first, false), (again, true)], &[], t + 2)
        .expect("settle");
    assert_eq!(replica.stale_entities(10).expect("stale"), vec![seen]);
    assert!(replica.outbox(10).expect("outbox").is_empty());
}

/// Unpushed changes stamped by the clock that ran ahead are parked with the refused one (they
/// could otherwise be accepted late, above every write made after the clock goes back); an
/// unpushed change within the bound stays in the outbox and the clock stays above it.
#[test]
fn skew_refusal_parks_the_other_changes_from_the_clock_that_ran_ahead() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let (a, b) = (ticket("ASZ-2026-000007"), ticket("ASZ-2026-000008"));
    let t = now_ms();
    let fine = write_at(&replica, &a, "fine", t);
    let refused = write_at(&replica, &a, "refused", t + HOUR_MS);
    let also_ahead = write_at(&replica, &b, "also ahead", t + HOUR_MS + 1);
    refuse(&replica, &[(&refused, RejectReason::ClockSkew)], t + 2);
    assert_eq!(replica.outbox(10).expect("outbox"), vec![fine.clone()]);
    let parked: Vec<u64> = replica
        .parked()
        .expect("parked")
        .iter()
        .filter_map(|p| p.change.as_ref().map(|c| c.origin_seq))
        .collect();
    assert_eq!(parked, vec![refused.origin_seq, also_ahead.origin_seq]);
    let letters = replica.parked().expect("parked");
    assert!(
        letters[1].message.contains("ms ahead of this site's clock"),
        "{}",
        letters[1].message
    );
    assert_eq!(
        letters[1].rule, "clock_skew",
        "a letter parked here names its rule"
    );
    assert_eq!(replica.stale_entities(10).expect("stale").len(), 2);
    let next = write_at(&replica, &a, "next", t + 3);
    assert_eq!(next.hlc, Hlc::new(t + 3, 0), "back to the physical clock");
}

/// A duplicate acknowledgement in the same batch as a skew refusal still counts as a write
/// that stands: the clock does not go back below it.
#[test]
fn skew_refusal_keeps_the_clock_above_a_duplicate_in_the_same_batch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000009");
    let t = now_ms();
    let stood = write_at(&replica, &key, "four minutes ahead", t + 240_000);
    let refused = write_at(&replica, &key, "an hour ahead", t + HOUR_MS);
    replica
        .settle(
            &[(stood.clone(), true)],
            &[refusal(&refused, RejectReason::ClockSkew)],
            t,
        )
        .expect("settle");
    let next = write_at(&replica, &key, "next", t + 1);
    assert!(next.hlc > stood.hlc, "{:?} <= {:?}", next.hlc, stood.hlc);
}

/// A store written before the accepted readings were kept (no `confirmed` counter) turns its
/// clock back no further than the allowed skew, since it cannot know what was accepted.
#[test]
fn store_without_confirmed_readings_goes_back_only_to_the_bound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000010");
    let t = now_ms();
    let accepted = write_at(&replica, &key, "accepted", t + 200_000);
    replica
        .settle(&[(accepted, false)], &[], t)
        .expect("settle");
    drop(replica);
    let db = integrity::open_db(dir.path()).expect("open the sled files");
    db.remove(b"mconfirmed")
        .expect("forget the accepted readings");
    db.flush().expect("flush");
    drop(db);
    let replica = open(dir.path());
    let refused = write_at(&replica, &key, "an hour ahead", t + HOUR_MS);
    refuse(&replica, &[(&refused, RejectReason::ClockSkew)], t);
    let next = write_at(&replica, &key, "next", t + 1);
    assert_eq!(
        next.hlc.wall_ms,
        t + DEFAULT_MAX_SKEW_MS,
        "at most the bound ahead: {:?}",
        next.hlc
    );
}

/// A replay keeps the change's reading unless the reading was the cause: a change refused for
/// another reason wins over no write made after it, one refused for its clock gets a new one.
#[test]
fn replay_keeps_the_reading_unless_it_was_refused_for_its_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000011");
    let t = now_ms();
    let forbidden = write_at(&replica, &key, "forbidden", t);
    let skewed = write_at(&replica, &key, "skewed", t + HOUR_MS);
    refuse(
        &replica,
        &[
            (&forbidden, RejectReason::Forbidden),
            (&skewed, RejectReason::ClockSkew),
        ],
        t + 1,
    );
    let again = replica
        .replay(forbidden.origin_seq, t + 2, &events())
        .expect("replay");
    assert_eq!(again, forbidden);
    let restamped = replica
        .replay(skewed.origin_seq, t + 3, &events())
        .expect("replay");
    assert_eq!(restamped.origin_seq, skewed.origin_seq);
    assert_eq!(restamped.ops, skewed.ops);
    assert!(
        restamped.hlc.wall_ms < t + DEFAULT_MAX_SKEW_MS,
        "a new reading of the corrected clock: {:?}",
        restamped.hlc
    );
    assert!(replica.parked().expect("parked").is_empty());
    let mut outbox = replica.outbox(10).expect("outbox");
    outbox.sort_by_key(|c| c.origin_seq);
    assert_eq!(outbox, vec![forbidden, restamped]);
}

/// While a snapshot is being applied (chunks in, end not yet), a fetch answer is not used:
/// the snapshot may already have replaced the entity with a newer state.
#[test]
fn refresh_waits_while_a_snapshot_is_being_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000012");
    let t = now_ms();
    let refused = write_at(&replica, &key, "refused", t);
    refuse(&replica, &[(&refused, RejectReason::Forbidden)], t);
    let chunk = EntityState::delta(&Change {
        key: key.clone(),
        ops: vec![subject("from the snapshot")],
        origin_site: "munich".into(),
        origin_seq: 3,
        hlc: Hlc::new(t + 5, 0),
    });
    replica
        .apply_remote(
            &RemoteEntry {
                states: vec![chunk.clone()],
                replace: true,
                ..RemoteEntry::default()
            },
            &events(),
            t,
        )
        .expect("apply chunk");
    let old_answer = Fetched {
        as_of: 10,
        states: vec![],
        absent: vec![key.clone()],
    };
    assert_eq!(
        replica.refresh(&old_answer, &events(), t).expect("refresh"),
        vec![key.clone()]
    );
    assert_eq!(replica.entity(&key).expect("read"), chunk);
    replica
        .apply_remote(
            &RemoteEntry {
                cursor: Some(20),
                replace: true,
                ..RemoteEntry::default()
            },
            &events(),
            t,
        )
        .expect("end of snapshot");
    assert_eq!(
        replica.refresh(&old_answer, &events(), t).expect("refresh"),
        vec![key.clone()],
        "an answer older than the snapshot is not used after it either"
    );
    let current = Fetched {
        as_of: 20,
        states: vec![chunk.clone()],
        absent: vec![],
    };
    assert!(
        replica
            .refresh(&current, &events(), t)
            .expect("refresh")
            .is_empty()
    );
    assert_eq!(replica.entity(&key).expect("read"), chunk);
}

/// A partner site names as handling site only its tenant's sites: before the gateway has named
/// them only itself (so nothing the gateway would refuse is stored), afterwards its sister
/// sites too; a foreign or unknown site is refused `site_of_own_tenant` either way.
#[test]
fn a_partner_names_only_its_tenants_sites_as_handling_site() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let key = ticket("ASZ-2026-000011");
    let created = NewTicket {
        customer_ref: "H-11".into(),
        focus_team: "finance-hr".into(),
        category: "vpn".into(),
        priority: Priority::Normal,
        status: TicketStatus::New,
        language: Language::De,
        channel: Channel::Phone,
        first_contact: None,
        text: TicketText::default(),
        access_code: None,
    };
    replica
        .local_change(&key, now_ms(), &events(), |seq, hlc, _, _| {
            Ok(Change {
                key: key.clone(),
                ops: lifecycle::create_ops(created, &key.id, TENANT, SITE, now_ms()),
                origin_site: SITE.into(),
                origin_seq: seq,
                hlc,
            })
        })
        .expect("create");
    let hand_to = |site: &str| {
        replica.checked_change(&key, now_ms(), &events(), |seq, hlc, _, _| {
            Ok(Change {
                key: key.clone(),
                ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::HandlingSite(
                    site.into(),
                )))],
                origin_site: SITE.into(),
                origin_seq: seq,
                hlc,
            })
        })
    };
    let rule = |result: hotline_adapter::error::Result<(Change, EntityState)>| match result {
        Err(hotline_adapter::error::Error::Refused(refusal)) => Some(refusal.rule.name()),
        Ok(_) => None,
        Err(other) => panic!("not a refusal: {other}"),
    };
    assert_eq!(replica.tenant_sites().expect("read"), None);
    assert_eq!(rule(hand_to("goerlitz")), Some("site_of_own_tenant"));
    assert_eq!(rule(hand_to("erfurt")), Some("site_of_own_tenant"));
    assert_eq!(rule(hand_to(SITE)), None);
    replica
        .learn_tenant_sites(vec!["goerlitz".into(), SITE.into()])
        .expect("learn");
    assert_eq!(rule(hand_to("goerlitz")), None);
    assert_eq!(rule(hand_to("erfurt")), Some("site_of_own_tenant"));
    assert_eq!(rule(hand_to("atlantis")), Some("site_of_own_tenant"));
}
