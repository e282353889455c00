//! Tests of `authoring`.

use super::*;
use crate::change::Change;
use crate::clock::Hlc;
use crate::model::{EntityKey, EntityKind};

fn applied(key: &EntityKey, ops: Vec<FieldOp>, at: u64, before: &EntityState) -> EntityState {
    let mut state = before.clone();
    let change = Change {
        key: key.clone(),
        ops,
        origin_site: "munich".into(),
        origin_seq: at,
        hlc: Hlc::new(at, 0),
    };
    change.validate().expect("valid change");
    state.apply(&change);
    state
}

fn content(title: &str) -> ArticleContent {
    ArticleContent {
        language: Some(Language::En),
        title: title.into(),
        body: "Restart the client.".into(),
        tags: vec!["VPN".into()],
        focus_teams: Vec::new(),
    }
}

/// A draft published becomes version 1 with an empty draft, and publishing again without
/// a new draft is refused: the working copy is what gets published, once.
#[test]
fn publishing_takes_the_draft_once() {
    let key = EntityKey::new(EntityKind::Article, "vpn-en");
    let empty = EntityState::new(key.clone());
    let created = applied(&key, create_ops(content("VPN")), 1, &empty);
    assert_eq!(read_article(&created).state, Some(ArticleState::Draft));
    let published = applied(&key, publish_ops(&created).unwrap(), 2, &created);
    let read = read_article(&published);
    assert_eq!((read.version, read.published.title.as_str()), (1, "VPN"));
    assert_eq!(read.draft, None);
    assert_eq!(
        publish_ops(&published),
        Err(AuthoringConflict::NoDraft("vpn-en".into()))
    );
}

/// An accepted suggestion whose base is older than the current version is still taken,
/// flagged stale, and a decided suggestion cannot be decided again.
#[test]
fn acceptance_over_a_newer_version_is_flagged() {
    let key = EntityKey::new(EntityKind::Article, "vpn-en");
    let empty = EntityState::new(key.clone());
    let v1 = applied(&key, import_ops(&empty, content("VPN"), true), 1, &empty);
    let v2 = applied(&key, import_ops(&v1, content("VPN 2"), true), 2, &v1);
    let skey = EntityKey::new(EntityKind::Suggestion, "dortmund-1");
    let proposal = Proposal {
        article_id: "vpn-en".into(),
        base_version: 1,
        body: Some("Reboot first.".into()),
        author_tenant: "twenty4help".into(),
        ..Proposal::default()
    };
    let open = applied(
        &skey,
        propose_ops(proposal),
        3,
        &EntityState::new(skey.clone()),
    );
    let acceptance = accept(&v2, &open).unwrap();
    assert!(acceptance.stale_base);
    assert_eq!(acceptance.version, 3);
    let v3 = applied(&key, acceptance.article_ops, 4, &v2);
    let read = read_article(&v3);
    assert_eq!(read.published.title, "VPN 2");
    assert_eq!(read.published.body, "Reboot first.");
    let decided = applied(&skey, acceptance.suggestion_ops, 5, &open);
    assert!(matches!(
        reject_ops(&decided, "no".into()),
        Err(AuthoringConflict::Decided { .. })
    ));
}

/// A partner's proposal under the id of an article that is only an in-house draft takes
/// nothing from that draft when accepted: a proposal without a body is incomplete, and one
/// with its own content publishes only that (never the draft's tags or text).
#[test]
fn acceptance_never_publishes_the_draft() {
    let key = EntityKey::new(EntityKind::Article, "secret-en");
    let empty = EntityState::new(key.clone());
    let mut secret = content("Secret rollout");
    secret.tags = vec!["internal-codename".into()];
    secret.body = "Draft body nobody outside in-house has seen.".into();
    let drafted = applied(&key, create_ops(secret), 1, &empty);
    let skey = EntityKey::new(EntityKind::Suggestion, "erfurt-7");
    let propose = |proposal: Proposal, at| {
        applied(
            &skey,
            propose_ops(proposal),
            at,
            &EntityState::new(skey.clone()),
        )
    };
    let bare = propose(
        Proposal {
            article_id: "secret-en".into(),
            title: Some("Guess".into()),
            language: Some(Language::En),
            author_tenant: "helpbycom".into(),
            ..Proposal::default()
        },
        2,
    );
    assert!(matches!(
        accept(&drafted, &bare),
        Err(AuthoringConflict::Incomplete {
            missing: "body",
            ..
        })
    ));
    let whole = propose(
        Proposal {
            article_id: "secret-en".into(),
            title: Some("Printer tips".into()),
            body: Some("Check the paper.".into()),
            language: Some(Language::En),
            author_tenant: "helpbycom".into(),
            ..Proposal::default()
        },
        3,
    );
    let acceptance = accept(&drafted, &whole).expect("complete proposal");
    let after = applied(&key, acceptance.article_ops, 4, &drafted);
    let read = read_article(&after);
    assert_eq!(read.published.body, "Check the paper.");
    assert!(read.published.tags.is_empty(), "{:?}", read.published.tags);
    assert_eq!(
        read.draft.map(|d| d.body),
        Some("Draft body nobody outside in-house has seen.".into())
    );
}

/// Three publications leave three versions in the history an in-house site keeps, newest
/// first, each with the content published with it.
#[test]
fn published_versions_come_from_the_registers_histories() {
    let key = EntityKey::new(EntityKind::Article, "vpn-en");
    let mut state = EntityState::new(key.clone());
    for (at, title) in [(1, "VPN"), (2, "VPN 2"), (3, "VPN 3")] {
        state = applied(&key, import_ops(&state, content(title), true), at, &state);
    }
    let versions = published_versions(&state);
    let seen: Vec<(u32, &str)> = versions
        .iter()
        .map(|v| (v.version, v.content.title.as_str()))
        .collect();
    assert_eq!(seen, [(3, "VPN 3"), (2, "VPN 2"), (1, "VPN")]);
    assert!(
        versions
            .iter()
            .all(|v| v.content.body == "Restart the client.")
    );
    assert_eq!(versions[0].published_at_ms, 3);
}
