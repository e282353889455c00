//! Properties of visibility and redaction (DESIGN.md section 5): no `tenant` comment of another
//! tenant, no ungranted PII field and no foreign ticket ever reaches a tenant.

mod common;

use std::collections::BTreeSet;

use hotline_federation::ids::INHOUSE;
use hotline_federation::model::{EntityKind, FieldValue, TicketField, Visibility};
use hotline_federation::visibility::{
    Directory, TeamAccess, pii_granted, redact, redact_change, sees, strip,
};
use hotline_federation::{Change, EntityState, Replica};
use proptest::prelude::*;
use proptest::sample::subsequence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn team_access() -> impl Strategy<Value = TeamAccess> {
    let tenants = || subsequence(common::TENANTS.to_vec(), 0..=common::TENANTS.len());
    (tenants(), tenants()).prop_map(|(handlers, grants)| TeamAccess {
        handlers: handlers.into_iter().map(str::to_owned).collect(),
        pii_grants: grants.into_iter().map(str::to_owned).collect(),
    })
}

fn directory() -> impl Strategy<Value = Directory> {
    (team_access(), team_access()).prop_map(|(a, b)| {
        let mut directory = Directory::default();
        directory.teams.insert(common::TEAMS[0].to_owned(), a);
        directory.teams.insert(common::TEAMS[1].to_owned(), b);
        directory
    })
}

fn tenant() -> impl Strategy<Value = &'static str> {
    prop::sample::select(common::TENANTS.to_vec())
}

fn ticket_state(history: &[Change]) -> EntityState {
    let mut replica = Replica::default();
    for change in history {
        replica.apply(change);
    }
    replica
        .entities
        .into_values()
        .next()
        .expect("history is not empty")
}

fn text(state: &EntityState, register: &str) -> Option<String> {
    match state.value(register) {
        Some(FieldValue::Ticket(TicketField::OriginTenant(t) | TicketField::FocusTeam(t))) => {
            Some(t.clone())
        }
        _ => None,
    }
}

const ONE_TICKET: &[&str] = &["ASZ-2026-000001"];

fn one_ticket_history() -> impl Strategy<Value = Vec<Change>> {
    prop::collection::vec(common::change_for(ONE_TICKET, true), 1..16)
}

proptest! {
    #![proptest_config(config())]

    /// Whatever the policy, a tenant sees only live tickets it created or handles, never another
    /// tenant's `tenant` comments, never PII its focus team does not grant it, and never a
    /// superseded write (some were written while the ticket was hidden from it).
    #[test]
    fn redaction_never_leaks(
        history in one_ticket_history(),
        directory in directory(),
        tenant in tenant(),
    ) {
        let state = ticket_state(&history);
        let team = text(&state, "focus_team");
        let access = team.as_ref().and_then(|t| directory.teams.get(t));
        let handles = access.is_some_and(|a| a.handlers.contains(tenant));
        let created = text(&state, "origin_tenant").as_deref() == Some(tenant);
        let granted = access.is_some_and(|a| a.pii_grants.contains(tenant));
        let deleted = state.deleted.is_some();
        match redact(tenant, &state, &directory) {
            None => prop_assert!(tenant != "inhouse" && (deleted || (!handles && !created))),
            Some(view) => {
                prop_assert!(tenant == "inhouse" || ((handles || created) && !deleted));
                if tenant != "inhouse" {
                    prop_assert!(view.registers.values().all(|r| r.superseded.is_empty()));
                    for comment in view.comments.values() {
                        prop_assert!(
                            comment.value.visibility != Visibility::Tenant
                                || comment.value.author_tenant == tenant
                        );
                    }
                    if !granted {
                        for register in view.registers.values() {
                            prop_assert!(!register.winner.value.is_pii());
                        }
                    }
                }
                // Nothing the tenant may read is dropped.
                let kept: BTreeSet<&String> = view.comments.keys().collect();
                for (id, comment) in &state.comments {
                    let readable = tenant == "inhouse"
                        || comment.value.visibility != Visibility::Tenant
                        || comment.value.author_tenant == tenant;
                    prop_assert_eq!(readable, kept.contains(id));
                }
            }
        }
    }

    /// Redacting merged state equals merging redacted pieces (and redacting the join again, as
    /// a partner's replica does after each join to drop superseded writes), so a site's replica
    /// built from redacted log entries equals the gateway's redacted view (the convergence check).
    #[test]
    fn redaction_commutes_with_merge(
        a in one_ticket_history(),
        b in one_ticket_history(),
        tenant in tenant(),
        granted in any::<bool>(),
    ) {
        let (a, b) = (ticket_state(&a), ticket_state(&b));
        let mut joined = a.clone();
        joined.join(&b);
        let mut pieces = strip(tenant, &a, granted);
        pieces.join(&strip(tenant, &b, granted));
        prop_assert_eq!(strip(tenant, &joined, granted), strip(tenant, &pieces, granted));
    }

    /// A redacted log entry carries exactly what the redacted state would gain from it: for a
    /// partner, of its register writes only those that won the merge (a write that lost at its
    /// entry, such as a late one made while the ticket was hidden, never reaches a partner).
    #[test]
    fn redacted_change_matches_redacted_delta(
        history in one_ticket_history(),
        change in common::change_for(ONE_TICKET, true),
        directory in directory(),
        tenant in tenant(),
    ) {
        let mut after = ticket_state(&history);
        after.apply(&change);
        let granted = pii_granted(tenant, &after, &directory);
        match redact_change(tenant, &change, &after, &directory) {
            None => prop_assert!(!sees(tenant, &after, &directory)),
            Some(redacted) => {
                let mut gained = strip(tenant, &EntityState::delta(&change), granted);
                if tenant != INHOUSE {
                    gained.registers.retain(|name, register| {
                        after.registers.get(name).is_some_and(|won| won.winner == register.winner)
                    });
                }
                prop_assert_eq!(strip(tenant, &EntityState::delta(&redacted), granted), gained);
            }
        }
    }
}

/// A ticket of a focus team the partner does not handle answers exactly like a missing one.
#[test]
fn foreign_ticket_is_indistinguishable_from_missing() {
    let mut directory = Directory::default();
    directory
        .teams
        .insert("plants".into(), TeamAccess::default());
    let mut state = EntityState::new(hotline_federation::EntityKey::new(
        EntityKind::Ticket,
        "ASZ-2026-000001",
    ));
    state.apply(&Change {
        key: state.key.clone(),
        ops: vec![
            hotline_federation::FieldOp::Set(FieldValue::Ticket(TicketField::OriginTenant(
                "inhouse".into(),
            ))),
            hotline_federation::FieldOp::Set(FieldValue::Ticket(TicketField::FocusTeam(
                "plants".into(),
            ))),
        ],
        origin_site: "munich".into(),
        origin_seq: 1,
        hlc: hotline_federation::Hlc::new(1, 0),
    });
    let missing = EntityState::new(state.key.clone());
    assert_eq!(redact("helpbycom", &state, &directory), None);
    assert_eq!(redact("helpbycom", &missing, &directory), None);
    assert!(redact("inhouse", &state, &directory).is_some());
}
