//! Stores written by the previous release (storage layout 1) open and migrate in this one.
//!
//! `tests/fixtures/layout1-demo.tar.gz` holds the gateway's and the four sites' stores as the
//! release before layout 2 (`bc61c4e`) left them after `hotline demo --data-dir`: every entity
//! one whole record, an audit trail, outboxes, receipts and webhook queues. The certificates
//! of that run are not in it (no keys in the repository); the test makes a new demo PKI.
//! Each store is read raw first (every layout-1 entity record decoded as that release wrote
//! it), then opened as a start opens it, and every entity must come back equal.

use std::collections::BTreeMap;
use std::path::Path;

use hotline_federation::EntityState;
use hotline_federation::model::EntityKey;
use hotline_gateway::audit;
use hotline_gateway::state::GatewayState;
use hotline_gateway::store::sled_store::SledStore;
use hotline_gateway::store::{entities, layout};
use hotline_proto::v1 as pb;
use prost::Message;

/// The demo's sites: (site, tenant).
const SITES: [(&str, &str); 4] = [
    ("munich", "inhouse"),
    ("dortmund", "twenty4help"),
    ("goerlitz", "twenty4help"),
    ("erfurt", "helpbycom"),
];

/// The first byte of an entity record's key, at the gateway and at the adapters.
const ENTITY: u8 = b'e';

/// Unpacks the fixture into a new temporary directory.
fn unpack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/layout1-demo.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(
        status.success(),
        "tar could not unpack {}",
        fixture.display()
    );
    dir
}

/// Every entity record of a layout-1 sled store, decoded as whole states.
fn layout_1_entities(db: &sled::Db) -> BTreeMap<EntityKey, EntityState> {
    let mut out = BTreeMap::new();
    for item in db.scan_prefix([ENTITY]) {
        let (_, value) = item.expect("read a record");
        let wire = pb::EntityState::decode(value.as_ref()).expect("a layout-1 entity record");
        let state = EntityState::try_from(wire).expect("a valid entity state");
        out.insert(state.key.clone(), state);
    }
    out
}

/// The gateway's store: every entity equal after the migration, the layout counter at 2, and
/// the gateway starts on it and serves every entity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_store_of_the_previous_release_migrates() {
    let dir = unpack();
    let data = dir.path().join("gateway");
    let before = {
        let db = sled::open(&data).expect("open the fixture's gateway store");
        layout_1_entities(&db)
    };
    let tickets = before
        .keys()
        .filter(|k| k.kind == hotline_federation::model::EntityKind::Ticket)
        .count();
    let comments: usize = before.values().map(|s| s.comments.len()).sum();
    assert!(
        tickets >= 50 && comments >= 20,
        "the fixture should hold tickets with comments: {tickets} tickets, {comments} comments"
    );
    {
        let store = SledStore::open(&data).expect("open");
        assert_eq!(layout::stored_layout(&store).expect("layout"), 1);
    }

    hotline::demo::federation::make_pki(dir.path()).expect("a new demo PKI");
    let config = hotline::demo::federation::gateway_config(dir.path());
    let state = GatewayState::open(config)
        .await
        .expect("the gateway starts");
    for (key, old) in &before {
        let now = state.entity(key).expect("read");
        assert_eq!(&now, old, "{key} changed in the migration");
    }
    state.close().await;
    drop(state);

    let store = SledStore::open(&data).expect("reopen");
    assert_eq!(layout::stored_layout(&store).expect("layout"), 2);
    let after = entities::scan_all(&store).expect("scan");
    assert_eq!(after.len(), before.len(), "entities after the migration");
    // The trail the previous release wrote still chains (its checkpoint's signing key is not
    // in the fixture, so only the chain is checked).
    let entries = audit::read_entries(&store, 0, usize::MAX).expect("audit entries");
    assert!(entries.len() >= 100, "{} audit entries", entries.len());
    let verdict = audit::verify_entries(&entries, None, None, &[0; 32]);
    assert!(verdict.broken.is_none(), "{verdict:?}");
    assert_eq!(verdict.checked, entries.len() as u64);
}

/// Each site's store: every entity equal after the migration, and the outbox and webhook
/// queue that were waiting are still there.
#[test]
fn the_site_stores_of_the_previous_release_migrate() {
    let dir = unpack();
    for (site, tenant) in SITES {
        let data = dir.path().join(format!("site-{site}"));
        let (before, outbox) = {
            let db = sled::open(&data).expect("open the fixture's site store");
            let outbox = db.scan_prefix([b'o']).count();
            (layout_1_entities(&db), outbox)
        };
        assert!(!before.is_empty(), "{site}: the fixture holds entities");
        let replica = hotline_adapter::replica::Replica::open(
            &data,
            site,
            tenant,
            hotline_federation::clock::DEFAULT_MAX_SKEW_MS,
        )
        .unwrap_or_else(|e| panic!("{site}: the store opens: {e}"));
        for (key, old) in &before {
            let now = replica.entity(key).expect("read");
            assert_eq!(&now, old, "{site}: {key} changed in the migration");
        }
        assert_eq!(
            replica.entity_keys().expect("keys").len(),
            before.len(),
            "{site}: entities after the migration"
        );
        assert_eq!(replica.outbox_depth(), outbox, "{site}: the outbox");
    }
}
