//! The live path's shared encoding: one tenant's subscribers write the same bytes for an
//! entry, decided once, and never bytes decided under other rules or for another tenant.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use hotline_federation::model::{EntityKey, EntityKind, FieldValue, TicketField};
use hotline_federation::visibility::{Access, Directory, TeamAccess};
use hotline_federation::{Change, EntityState, FieldOp, Hlc};
use tokio::sync::mpsc;

use super::{Feed, encode_entry};
use crate::config::GatewayConfig;
use crate::log::{Committed, TeamChange};
use crate::state::GatewayState;
use crate::store::memory::MemoryStore;
use hotline_proto::v1::Revocation;
use hotline_proto::v1::sync_event::Body;

const NAME: &str = "Erika Mustermann";

async fn state() -> Arc<GatewayState> {
    let config = GatewayConfig {
        storage: "memory".into(),
        ..GatewayConfig::default()
    };
    GatewayState::open_with_store(config, Arc::new(MemoryStore::new()))
        .await
        .expect("gateway opens on a memory store")
}

/// finance-hr handled by in-house and twenty4help; its customer data granted to twenty4help
/// when `pii` is set.
fn rules(pii: bool) -> Arc<Directory> {
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    let team = TeamAccess {
        handlers: set(&["inhouse", "twenty4help"]),
        pii_grants: if pii { set(&["twenty4help"]) } else { set(&[]) },
    };
    Arc::new(Directory {
        teams: BTreeMap::from([("finance-hr".to_string(), team)]),
        teams_complete: true,
        sites_complete: true,
        ..Directory::default()
    })
}

fn set_rules(state: &GatewayState, directory: Arc<Directory>) {
    *state.shared.directory.write() = directory;
}

/// A ticket of finance-hr opened by in-house, with the customer's name, as entry 7.
fn entry() -> Committed {
    let set = |field| FieldOp::Set(FieldValue::Ticket(field));
    let change = Change {
        key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000007"),
        ops: vec![
            set(TicketField::OriginTenant("inhouse".into())),
            set(TicketField::FocusTeam("finance-hr".into())),
            set(TicketField::Subject("VPN drops".into())),
            set(TicketField::CustomerName(NAME.into())),
        ],
        origin_site: "munich".into(),
        origin_seq: 1,
        hlc: Hlc::new(1_790_000_000_000, 0),
    };
    let after: EntityState = EntityState::delta(&change);
    Committed {
        seq: 7,
        after: after.head(),
        change,
        after_empty: false,
        gained: Vec::new(),
        lost: Vec::new(),
        expired: false,
        erasures_before: 0,
        team: TeamChange::default(),
        readers: vec![
            ("inhouse".into(), Access::Full),
            ("twenty4help".into(), Access::Full),
        ],
        prepared: parking_lot::Mutex::new(Vec::new()),
    }
}

fn feed(state: &Arc<GatewayState>, tenant: &str) -> Feed {
    let (tx, _events) = mpsc::channel(16);
    Feed {
        state: state.clone(),
        tenant: tenant.into(),
        tx,
        sent: 6,
        stall: Duration::from_secs(1),
    }
}

fn carries_name(events: &[hotline_proto::prepared::PreparedSyncEvent]) -> bool {
    events.iter().any(|e| {
        e.encoded()
            .windows(NAME.len())
            .any(|w| w == NAME.as_bytes())
    })
}

/// Two subscribers of twenty4help get the very same bytes (encoded once, the name included:
/// granted), with the entry's cursor; a tenant that may not see the ticket gets nothing, kept
/// apart from twenty4help's.
#[tokio::test]
async fn one_tenants_subscribers_share_one_encoding() {
    let state = state().await;
    set_rules(&state, rules(true));
    let entry = entry();
    let first = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    let second = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "encoded twice");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].event().unwrap().cursor, 7);
    assert!(carries_name(&first), "the granted name is missing");
    let outsider = feed(&state, "helpbycom").live_prepared(&entry).unwrap();
    assert!(outsider.is_empty(), "helpbycom may not see the ticket");
    assert_eq!(entry.prepared.lock().len(), 2);
}

/// The grant is withdrawn after the first subscriber's turn and before the second's: the
/// second is decided again under the new rules and gets no customer data, and a third under
/// the new rules shares the second's bytes.
#[tokio::test]
async fn a_rule_change_between_two_turns_is_decided_again() {
    let state = state().await;
    set_rules(&state, rules(true));
    let entry = entry();
    let granted = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(carries_name(&granted));
    set_rules(&state, rules(false));
    let withdrawn = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(
        !carries_name(&withdrawn),
        "bytes decided before the grant was withdrawn were reused"
    );
    assert_eq!(withdrawn.len(), 1, "the ticket itself stays visible");
    let third = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(Arc::ptr_eq(&withdrawn, &third));
}

/// An entry that took the tenant's sight away is sent to each subscriber from the store as it
/// is then, never shared: the cache stays empty, the purge comes first and the entry's cursor
/// is on the last event. An entry that did not change the tenant's access has no such events.
#[tokio::test]
async fn an_entry_that_changes_a_tenants_access_is_never_shared() {
    let state = state().await;
    set_rules(&state, rules(true));
    let plain = entry();
    assert!(
        feed(&state, "twenty4help")
            .access_touches(&plain)
            .unwrap()
            .is_none()
    );
    let mut entry = entry();
    entry.lost = vec!["twenty4help".into()];
    let (tx, mut events) = mpsc::channel(16);
    let mut feed = Feed {
        tx,
        ..feed(&state, "twenty4help")
    };
    let touches = feed
        .access_touches(&entry)
        .unwrap()
        .expect("access changed");
    feed.send_touched(&touches, entry.seq).await.unwrap();
    drop(feed);
    let mut sent = Vec::new();
    while let Some(event) = events.recv().await {
        sent.push(event.unwrap().event().unwrap());
    }
    assert!(entry.prepared.lock().is_empty());
    assert!(
        matches!(sent[0].body, Some(Body::Revocation(_))),
        "the lost ticket is purged first: {sent:?}"
    );
    assert_eq!(sent.last().unwrap().cursor, 7);
    assert!(sent[..sent.len() - 1].iter().all(|e| e.cursor == 0));
}

/// Only an entry's last event carries its cursor.
#[test]
fn only_the_last_event_of_an_entry_carries_its_cursor() {
    let revocation = || {
        Body::Revocation(Revocation {
            key: None,
            reason: 0,
        })
    };
    let events = encode_entry(9, vec![revocation(), revocation(), revocation()]);
    let cursors: Vec<u64> = events.iter().map(|e| e.event().unwrap().cursor).collect();
    assert_eq!(cursors, [0, 0, 9]);
    assert!(encode_entry(9, Vec::new()).is_empty());
}

/// A group commit that changes no rule (here: an audit entry) keeps the rules' `Arc`, so the
/// subscribers that reach an entry after it still share what the first one decided.
#[tokio::test]
async fn a_commit_that_changes_no_rule_keeps_the_shared_decisions() {
    let state = state().await;
    let before = state.shared.directory();
    let record = hotline_federation::audit::Record {
        at_ms: 1,
        actor: "staff:admin:alice".into(),
        action: "test".into(),
        subject: "audit".into(),
        detail_json: "{}".into(),
    };
    state.writer.audit(vec![record]).await.unwrap();
    assert!(Arc::ptr_eq(&before, &state.shared.directory()));
}

async fn register(state: &GatewayState, registration: crate::writer::Registration) {
    state
        .writer
        .register_as("test".into(), registration)
        .await
        .unwrap();
}

/// Site dortmund of twenty4help, named `name`.
fn dortmund(name: &str) -> crate::writer::Registration {
    crate::writer::Registration::Site(hotline_proto::v1::Site {
        id: "dortmund".into(),
        tenant: "twenty4help".into(),
        display_name: name.into(),
    })
}

/// Registering a site publishes new rules and a new registry (a reader that holds the rules
/// from before keeps its own copy, as `Arc` guarantees, so no subscriber's decisions change
/// under it), and the published ones name the new site.
#[tokio::test]
async fn a_registration_publishes_new_rules_and_leaves_the_old_ones_alone() {
    let state = state().await;
    let tenant = hotline_proto::v1::Tenant {
        id: "twenty4help".into(),
        display_name: "Twenty4Help".into(),
    };
    register(&state, crate::writer::Registration::Tenant(tenant)).await;
    let rules = state.shared.directory();
    register(&state, dortmund("Dortmund")).await;
    let now = state.shared.directory();
    assert!(!Arc::ptr_eq(&rules, &now));
    assert_eq!(
        now.site_tenants.get("dortmund").map(String::as_str),
        Some("twenty4help")
    );
    assert!(state.shared.registry().sites.contains_key("dortmund"));

    // Renamed, same tenant: the registry changes, the rules keep their `Arc`.
    register(&state, dortmund("Dortmund Nord")).await;
    assert!(Arc::ptr_eq(&now, &state.shared.directory()));
    let registry = state.shared.registry();
    assert_eq!(registry.sites["dortmund"].display_name, "Dortmund Nord");
}

/// A live entry committed before its ticket was erased (a subscriber behind in the live tail):
/// before any erasure it carries the customer's name and is shared; once a later group erased
/// the ticket, the next subscriber of the same tenant gets it without the name, decided anew.
#[tokio::test]
async fn an_entry_committed_before_its_ticket_was_erased_is_sent_erased() {
    use std::sync::atomic::Ordering;
    let state = state().await;
    set_rules(&state, rules(true));
    let entry = entry();
    let before = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(carries_name(&before), "the granted name is missing");

    let mut erased = EntityState::delta(&entry.change);
    erased.apply(&Change {
        key: entry.change.key.clone(),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(9)))],
        origin_site: "gateway".into(),
        origin_seq: 1,
        hlc: Hlc::new(1_790_000_000_001, 0),
    });
    let mut batch = crate::store::Batch::default();
    crate::store::entities::write_whole(&mut batch, &erased);
    state.store.apply(batch).unwrap();
    state.shared.erasures.fetch_add(1, Ordering::SeqCst);

    let after = feed(&state, "twenty4help").live_prepared(&entry).unwrap();
    assert!(!carries_name(&after), "sent with the erased name");
    assert_eq!(after.len(), 1, "the rest of the change still goes");
    assert_eq!(after[0].event().unwrap().cursor, 7);
    let inhouse = feed(&state, "inhouse").live_prepared(&entry).unwrap();
    assert!(!carries_name(&inhouse));
}

/// A group that erased a ticket fails at its flush, but its batch is in the store ("may or may
/// not have reached the disk"). The idle writer reads the store again at once and publishes
/// what it holds, the erasure included, and counts it as a possible erasure: a subscriber
/// behind in the live tail then sends an entry committed before it without the erased
/// customer's name (before, only a successful group or another gateway's writes counted, and
/// the name was sent; found by an outside review).
#[tokio::test]
async fn an_erasure_read_back_after_a_failed_group_reaches_the_live_tail() {
    use std::sync::atomic::Ordering;
    let store = Arc::new(MemoryStore::new());
    let config = GatewayConfig {
        storage: "memory".into(),
        ..GatewayConfig::default()
    };
    let state = GatewayState::open_with_store(config, store.clone())
        .await
        .expect("gateway opens");
    let erasures_before = state.shared.erasures.load(Ordering::SeqCst);
    let fresh = || Committed {
        erasures_before,
        ..entry()
    };
    let before = feed(&state, "inhouse").live_prepared(&fresh()).unwrap();
    assert!(
        carries_name(&before),
        "the name is missing before the erasure"
    );

    // The failed erasure group's batch, as it reached the store before its flush failed.
    let entry = fresh();
    let mut erased = EntityState::delta(&entry.change);
    erased.apply(&Change {
        key: entry.change.key.clone(),
        ops: vec![FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(9)))],
        origin_site: "gateway".into(),
        origin_seq: 1,
        hlc: Hlc::new(1_790_000_000_001, 0),
    });
    let mut reloaded = state.shared.reloaded.subscribe();
    store.set_failing_flushes(true);
    let mut batch = crate::store::Batch::default();
    crate::store::entities::write_whole(&mut batch, &erased);
    crate::store::Store::apply(store.as_ref(), batch).unwrap();
    let record = hotline_federation::audit::Record {
        at_ms: 1,
        actor: "staff:admin:alice".into(),
        action: "erase".into(),
        subject: "customer".into(),
        detail_json: "{}".into(),
    };
    assert!(
        state.writer.audit(vec![record]).await.is_err(),
        "the flush failed"
    );
    store.set_failing_flushes(false);
    tokio::time::timeout(Duration::from_secs(5), reloaded.changed())
        .await
        .expect("the idle writer read the store again")
        .unwrap();
    let stored = crate::store::entities::read_head(state.store.as_ref(), &entry.change.key)
        .unwrap()
        .unwrap();
    assert!(
        hotline_federation::erasure::erased(&stored),
        "the store holds the erasure"
    );
    let after = feed(&state, "inhouse").live_prepared(&fresh()).unwrap();
    assert!(
        !carries_name(&after),
        "a live entry committed before the erasure is sent with the erased name after the \
         writer read the erasure back"
    );
}
