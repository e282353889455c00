//! What a refused push does to a site's store, on real sled stores in temp dirs: the refused
//! write is taken back out of the local copy (replaced by the gateway's, with the site's
//! unpushed changes on top), and a `CLOCK_SKEW` refusal turns the site's clock back so the
//! site can write again once its clock is right, never below a write the gateway accepted.

mod common;

use std::path::Path;

use common::{SITE, TENANT, events, subject, write_at};
use hotline_adapter::replica::{Fetched, RemoteEntry, Replica};
use hotline_adapter::sync::now_ms;
use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::{Change, EntityState, Hlc, clock::DEFAULT_MAX_SKEW_MS};
use hotline_proto::v1::RejectReason;

const HOUR_MS: u64 = 3_600_000;

fn open(dir: &Path) -> Replica {
    Replica::open(dir, SITE, TENANT, DEFAULT_MAX_SKEW_MS).expect("open the store")
}

fn ticket(id: &str) -> EntityKey {
    EntityKey::new(EntityKind::Ticket, id)
}

fn refusal(change: &Change, reason: RejectReason) -> (Change, i32, String) {
    (
        change.clone(),
        reason as i32,
        format!("refused: {reason:?}"),
    )
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
        replica
            .settle(&[], &[refusal(&far_ahead, RejectReason::ClockSkew)], t)
            .expect("settle");

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
    let replica = open(dir.path());
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
    replica
        .settle(&[], &[refusal(&forbidden, RejectReason::Forbidden)], t)
        .expect("settle");
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
/// marker is gone. A refused creation disappears. An answer older than the log entries the
/// replica has already applied changes nothing and keeps the marker, so it is asked again.
#[test]
fn refresh_replaces_the_refused_write_with_the_gateways_copy() {
    let dir = tempfile::tempdir().expect("temp dir");
    let replica = open(dir.path());
    let (known, created) = (ticket("ASZ-2026-000003"), ticket("ASZ-2026-000004"));
    let t = now_ms();

    let refused = write_at(&replica, &known, "refused", t);
    let unpushed = write_at(&replica, &known, "unpushed", t + 1);
    let creation = write_at(&replica, &created, "refused creation", t + 2);
    replica
        .settle(
            &[],
            &[
                refusal(&refused, RejectReason::Transition),
                refusal(&creation, RejectReason::Forbidden),
            ],
            t + 3,
        )
        .expect("settle");
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

    // The subscriber has applied entries up to 9 meanwhile: this answer may miss them.
    replica
        .apply_remote(
            &RemoteEntry {
                cursor: Some(9),
                ..RemoteEntry::default()
            },
            &events(),
            t,
        )
        .expect("apply");
    let before = replica.entity(&known).expect("read");
    assert!(!replica.refresh(&answer, &events(), t).expect("refresh"));
    assert_eq!(replica.entity(&known).expect("read"), before);
    assert_eq!(replica.stale_entities(10).expect("stale").len(), 2);

    let current = Fetched { as_of: 9, ..answer };
    assert!(replica.refresh(&current, &events(), t).expect("refresh"));
    let mut expected = gateway_copy;
    expected.apply(&unpushed);
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
