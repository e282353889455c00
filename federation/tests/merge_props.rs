//! Properties of the merge (DESIGN.md section 4): the same set of changes gives the same state
//! whatever the order, grouping or repetition, compared by canonical encoding.

mod common;

use hotline_federation::model::{
    CallEvent, CallOutcome, EntityKey, EntityKind, FieldValue, TicketField,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        ..ProptestConfig::default()
    }
}

fn replay(changes: &[Change]) -> Replica {
    let mut replica = Replica::default();
    for change in changes {
        replica.apply(change);
    }
    replica
}

proptest! {
    #![proptest_config(config())]

    /// Sites receive changes in different orders; all must end in the same state.
    #[test]
    fn any_order_gives_the_same_state(
        (history, shuffled) in common::history()
            .prop_flat_map(|h| (Just(h.clone()), Just(h).prop_shuffle()))
    ) {
        let a = replay(&history);
        let b = replay(&shuffled);
        prop_assert_eq!(a.canonical_hash(), b.canonical_hash());
        prop_assert_eq!(a, b);
    }

    /// Batches are merged separately and then joined (a snapshot meets a tail): same state.
    #[test]
    fn any_grouping_gives_the_same_state(
        history in common::history(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        reverse in any::<bool>(),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(history.len() + 1)).collect();
        cuts.push(0);
        cuts.push(history.len());
        cuts.sort_unstable();
        let mut groups: Vec<Replica> =
            cuts.windows(2).map(|w| replay(&history[w[0]..w[1]])).collect();
        if reverse {
            groups.reverse();
        }
        let mut joined = Replica::default();
        for group in &groups {
            joined.join(group);
        }
        prop_assert_eq!(joined.canonical_hash(), replay(&history).canonical_hash());
    }

    /// Retried pushes and redelivered events repeat changes; repetition changes nothing.
    #[test]
    fn repetition_changes_nothing(
        (history, repeated) in common::history().prop_flat_map(|h| {
            let doubled: Vec<Change> = h.iter().chain(h.iter()).cloned().collect();
            (Just(h), Just(doubled).prop_shuffle())
        })
    ) {
        prop_assert_eq!(replay(&repeated).canonical_hash(), replay(&history).canonical_hash());
    }

    /// The join itself is commutative, associative and idempotent on whole entity states.
    #[test]
    fn join_is_a_semilattice(
        a in common::history(),
        b in common::history(),
        c in common::history(),
    ) {
        let (a, b, c) = (replay(&a), replay(&b), replay(&c));
        let join = |x: &Replica, y: &Replica| { let mut z = x.clone(); z.join(y); z };
        prop_assert_eq!(join(&a, &b), join(&b, &a));
        prop_assert_eq!(join(&join(&a, &b), &c), join(&a, &join(&b, &c)));
        prop_assert_eq!(join(&a, &a), a);
    }
    /// Joining a state taken whole (`join_owned`, as the gateway's writer joins a change's
    /// delta) gives what joining it by reference gives: for whole states of any history, and
    /// for each change's delta against the state before it.
    #[test]
    fn a_join_taking_the_other_state_whole_is_the_same_join(
        mine in wide_history(),
        theirs in wide_history(),
    ) {
        let (mine, joined) = (replay(&mine), replay(&theirs));
        for (key, other) in &joined.entities {
            let mut by_reference = mine
                .entities
                .get(key)
                .cloned()
                .unwrap_or_else(|| EntityState::new(key.clone()));
            let mut owned = by_reference.clone();
            by_reference.join(other);
            owned.join_owned(other.clone());
            prop_assert_eq!(owned, by_reference);
        }
        // `apply` joins each change's delta whole; joined by reference it gives the same.
        let mut applied = mine.clone();
        let mut by_reference = mine;
        for change in &theirs {
            applied.apply(change);
            by_reference
                .entities
                .entry(change.key.clone())
                .or_insert_with(|| EntityState::new(change.key.clone()))
                .join(&EntityState::delta(change));
            prop_assert_eq!(&by_reference, &applied);
        }
    }
}

fn set_subject(site: &str, wall_ms: u64, subject: &str) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::Subject(
            subject.to_owned(),
        )))],
        origin_site: site.to_owned(),
        origin_seq: wall_ms,
        hlc: Hlc::new(wall_ms, 0),
    }
}

/// Histories of ticket changes, erasures of those tickets (the join then clears their personal
/// data) and call log changes (call events join like comments).
fn wide_history() -> impl Strategy<Value = Vec<Change>> {
    let stamped = |key: EntityKey, op: FieldOp| {
        (
            prop::sample::select(common::SITES.to_vec()),
            1u64..1000,
            common::hlc(),
        )
            .prop_map(move |(site, seq, hlc)| Change {
                key: key.clone(),
                ops: vec![op.clone()],
                origin_site: site.to_owned(),
                origin_seq: seq,
                hlc,
            })
    };
    let erasure = prop::sample::select(common::TICKETS.to_vec()).prop_flat_map(move |id| {
        let op = FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(1_790_000_000_000)));
        stamped(EntityKey::new(EntityKind::Ticket, id), op)
    });
    let call = (
        prop::sample::select(vec!["e1", "e2"]),
        prop::sample::select(CallOutcome::ALL.to_vec()),
        0u32..600,
    )
        .prop_flat_map(move |(id, outcome, wait_seconds)| {
            let event = CallEvent {
                id: id.to_owned(),
                site: "erfurt".to_owned(),
                outcome,
                wait_seconds,
                at_ms: 1,
                focus_team: None,
                ticket_number: None,
                talk_seconds: 0,
                wrap_seconds: 0,
            };
            let key = EntityKey::new(EntityKind::CallLog, "erfurt-2026-07-14");
            stamped(key, FieldOp::AddCallEvent(event))
        });
    prop::collection::vec(
        prop_oneof![4 => common::change(), 1 => erasure, 1 => call],
        1..24,
    )
}

fn subject_of(state: &EntityState) -> &FieldValue {
    state.value("subject").expect("subject written")
}

/// The later write wins a conflict whichever arrives first, and the loser is kept for audit.
#[test]
fn later_clock_wins_and_loser_is_kept() {
    let early = set_subject("erfurt", 10, "printer");
    let late = set_subject("dortmund", 20, "VPN down");
    for order in [[&early, &late], [&late, &early]] {
        let mut state = EntityState::new(early.key.clone());
        for change in order {
            state.apply(change);
        }
        assert_eq!(
            subject_of(&state),
            &FieldValue::Ticket(TicketField::Subject("VPN down".into()))
        );
        let register = &state.registers["subject"];
        assert_eq!(register.superseded.len(), 1);
        assert_eq!(register.superseded[0].stamp.site, "erfurt");
    }
}

/// With equal clocks the site id breaks the tie, the same way at every site.
#[test]
fn equal_clock_is_broken_by_site() {
    let a = set_subject("dortmund", 10, "from dortmund");
    let b = set_subject("erfurt", 10, "from erfurt");
    let mut one = EntityState::new(a.key.clone());
    one.apply(&a);
    one.apply(&b);
    let mut two = EntityState::new(a.key.clone());
    two.apply(&b);
    two.apply(&a);
    let expected = FieldValue::Ticket(TicketField::Subject("from erfurt".into()));
    assert_eq!(subject_of(&one), &expected);
    assert_eq!(one, two);
}
