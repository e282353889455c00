//! The fuzz targets' inputs on stable Rust: every committed corpus file (and any crash saved
//! under `fuzz/artifacts/`) replayed through `hotline_federation::fuzzing`, plus proptest
//! cases of random bytes and of mutated valid encodings (bit flips, truncations, splices).
//!
//! The seed corpus under `fuzz/corpus/<target>/seed-*` is generated here; after changing the
//! seeds, rewrite it with
//! `cargo test -p hotline-federation --test fuzz_inputs -- --ignored write_seed_corpus`.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use hotline_federation::fuzzing::{self, DecodeReport, MergeReport, path_problem};
use hotline_federation::model::{
    ArticleField, ArticleState, BrandField, CallEvent, CallOutcome, Channel, Comment, EntityKey,
    EntityKind, FieldValue, Language, PolicyField, Priority, ReviewCadence, StatusTransition,
    SuggestionField, SuggestionState, TicketField, TicketStatus, Visibility,
};
use hotline_federation::wire::WireEnum;
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use hotline_proto::v1 as pb;
use proptest::prelude::*;
use prost::Message;

const TARGETS: [&str; 2] = ["wire_decode", "merge"];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `target` on `data`; a panic becomes an error that says how to replay the input.
fn run(target: &str, data: &[u8]) -> Result<(DecodeReport, MergeReport), String> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match target {
        "wire_decode" => (fuzzing::wire_decode(data), MergeReport::default()),
        _ => (DecodeReport::default(), fuzzing::merge(data)),
    }));
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!(
            "{target} broke a guarantee: {message}\ninput ({} bytes, hex): {}\nreplay: \
             mkdir -p fuzz/artifacts/{target} && echo {} | xxd -r -p > \
             fuzz/artifacts/{target}/crash-proptest && cargo test -p hotline-federation \
             --test fuzz_inputs",
            data.len(),
            hex(data),
            hex(data),
        )
    })
}

/// The files of one directory, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

// ---- seeds -------------------------------------------------------------------------------

const TICKET: &str = "ASZ-2026-004711";
const T0: u64 = 1_780_000_000_000;

fn change(kind: EntityKind, id: &str, site: &str, seq: u64, hlc: Hlc, ops: Vec<FieldOp>) -> Change {
    Change {
        key: EntityKey::new(kind, id),
        ops,
        origin_site: site.to_owned(),
        origin_seq: seq,
        hlc,
    }
}

fn ticket(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

fn comment(id: &str, tenant: &str, visibility: Visibility, body: &str) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: id.to_owned(),
        author_alias: "advisor-3".to_owned(),
        author_tenant: tenant.to_owned(),
        visibility,
        body: body.to_owned(),
        created_at_ms: T0,
    })
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

/// One valid change of every entity kind, using every field at least once.
fn valid_changes() -> Vec<(&'static str, Change)> {
    use TicketField as T;
    let created = change(
        EntityKind::Ticket,
        TICKET,
        "dortmund",
        1,
        Hlc::new(T0, 0),
        vec![
            ticket(T::PublicNumber(TICKET.into())),
            ticket(T::Status(StatusTransition {
                from: None,
                to: TicketStatus::New,
            })),
            ticket(T::Priority(Priority::High)),
            ticket(T::Subject("VPN down".into())),
            ticket(T::FocusTeam("plants".into())),
            ticket(T::OriginTenant("twenty4help".into())),
            ticket(T::HandlingSite("dortmund".into())),
            ticket(T::CustomerRef("K-1234".into())),
            ticket(T::Category("network".into())),
            ticket(T::CustomerName("Erika Muster".into())),
            ticket(T::CustomerEmail("erika@example.com".into())),
            ticket(T::CustomerPhone("+49 231 0000".into())),
            ticket(T::Language(Language::De)),
            ticket(T::Channel(Channel::Phone)),
            ticket(T::OpenedAt(T0)),
            comment("dortmund-1", "twenty4help", Visibility::Tenant, "internal"),
        ],
    );
    let updated = change(
        EntityKind::Ticket,
        TICKET,
        "erfurt",
        7,
        Hlc::new(T0 + 5, 2),
        vec![
            ticket(T::Status(StatusTransition {
                from: Some(TicketStatus::New),
                to: TicketStatus::InProgress,
            })),
            ticket(T::AssigneeAlias("agent-7".into())),
            ticket(T::FirstAnswerAt(T0 + 5)),
            ticket(T::ResolvedAt(T0 + 9)),
            ticket(T::FirstContact(true)),
            comment("erfurt-1", "helpbycom", Visibility::Public, "called back"),
        ],
    );
    let deleted = change(
        EntityKind::Ticket,
        TICKET,
        "munich",
        3,
        Hlc::new(T0 + 9, 0),
        vec![FieldOp::Delete {
            reason: "duplicate".into(),
        }],
    );
    let article = change(
        EntityKind::Article,
        "vpn-setup",
        "munich",
        4,
        Hlc::new(T0, 1),
        vec![
            FieldOp::Set(FieldValue::Article(ArticleField::Title("VPN setup".into()))),
            FieldOp::Set(FieldValue::Article(ArticleField::Body("1. Open".into()))),
            FieldOp::Set(FieldValue::Article(ArticleField::Tags(strings(&["vpn"])))),
            FieldOp::Set(FieldValue::Article(ArticleField::State(
                ArticleState::Published,
            ))),
            FieldOp::Set(FieldValue::Article(ArticleField::Version(2))),
            FieldOp::Set(FieldValue::Article(ArticleField::Language(Language::En))),
        ],
    );
    let brand = change(
        EntityKind::Brand,
        "brand",
        "munich",
        5,
        Hlc::new(T0, 2),
        vec![
            FieldOp::Set(FieldValue::Brand(BrandField::Version(3))),
            FieldOp::Set(FieldValue::Brand(BrandField::DisplayName("ASZ".into()))),
            FieldOp::Set(FieldValue::Brand(BrandField::HotlineNumber("0800".into()))),
            FieldOp::Set(FieldValue::Brand(BrandField::Greeting(
                Language::De,
                "Hallo".into(),
            ))),
            FieldOp::Set(FieldValue::Brand(BrandField::Template(
                "ticket-opened".into(),
                Language::En,
                "Ticket {number} opened".into(),
            ))),
            FieldOp::Set(FieldValue::Brand(BrandField::Signature("Your team".into()))),
            FieldOp::Set(FieldValue::Brand(BrandField::ForbiddenTerms(strings(&[
                "twenty4help",
            ])))),
        ],
    );
    let policy = change(
        EntityKind::Policy,
        "plants",
        "munich",
        6,
        Hlc::new(T0, 3),
        vec![
            FieldOp::Set(FieldValue::Policy(PolicyField::DisplayName(
                "Plants".into(),
            ))),
            FieldOp::Set(FieldValue::Policy(PolicyField::Handlers(strings(&[
                "twenty4help",
                "helpbycom",
            ])))),
            FieldOp::Set(FieldValue::Policy(PolicyField::PiiGrants(strings(&[
                "twenty4help",
            ])))),
            FieldOp::Set(FieldValue::Policy(PolicyField::SlaAnswerSeconds(20))),
            FieldOp::Set(FieldValue::Policy(PolicyField::SlaTargetPercent(80))),
            FieldOp::Set(FieldValue::Policy(PolicyField::FcrTargetPercent(70))),
            FieldOp::Set(FieldValue::Policy(PolicyField::ReviewCadence(
                ReviewCadence::Weekly,
            ))),
        ],
    );
    let suggestion = change(
        EntityKind::Suggestion,
        "vpn-setup-helpbycom-1",
        "erfurt",
        8,
        Hlc::new(T0, 4),
        vec![
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ArticleId(
                "vpn-setup".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::BaseVersion(2))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedTitle(
                "VPN".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedBody(
                "2. Connect".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::ProposedTags(
                strings(&["vpn", "remote"]),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::Rationale(
                "clearer".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::AuthorTenant(
                "helpbycom".into(),
            ))),
            FieldOp::Set(FieldValue::Suggestion(SuggestionField::State(
                SuggestionState::Open,
            ))),
        ],
    );
    let call_event = |id: &str, outcome, team: Option<&str>, number: Option<&str>| {
        FieldOp::AddCallEvent(CallEvent {
            id: id.to_owned(),
            site: "munich".to_owned(),
            outcome,
            wait_seconds: 12,
            at_ms: T0,
            focus_team: team.map(str::to_owned),
            ticket_number: number.map(str::to_owned),
        })
    };
    let calls = change(
        EntityKind::CallLog,
        "munich.2026-11-26",
        "munich",
        9,
        Hlc::new(T0, 5),
        vec![
            call_event("e1", CallOutcome::Answered, Some("plants"), Some(TICKET)),
            call_event("e2", CallOutcome::Abandoned, None, None),
        ],
    );
    vec![
        ("ticket-created", created),
        ("ticket-updated", updated),
        ("ticket-deleted", deleted),
        ("article", article),
        ("brand", brand),
        ("policy", policy),
        ("suggestion", suggestion),
        ("call-log", calls),
    ]
}

/// A ticket whose subject was written more often than the register keeps.
fn busy_ticket() -> EntityState {
    let mut state = EntityState::new(EntityKey::new(EntityKind::Ticket, TICKET));
    for i in 0..12u64 {
        let site = ["munich", "dortmund", "erfurt"][(i % 3) as usize];
        state.apply(&change(
            EntityKind::Ticket,
            TICKET,
            site,
            i + 1,
            Hlc::new(T0 + i / 2, 0),
            vec![ticket(TicketField::Subject(format!("subject {i}")))],
        ));
    }
    state
}

fn wire_seeds() -> Vec<(String, Vec<u8>)> {
    let changes = valid_changes();
    let mut seeds = Vec::new();
    for (name, change) in &changes {
        let wire = pb::Change::from(change.clone());
        seeds.push((format!("change-{name}"), wire.encode_to_vec()));
    }
    // Every change twice, the second time from another site a millisecond later, so every
    // register of every state seed has a superseded write.
    let mut replica = Replica::default();
    for (_, change) in &changes {
        replica.apply(change);
        let mut echo = change.clone();
        echo.origin_site = "helsinki".into();
        echo.hlc.wall_ms += 1;
        replica.apply(&echo);
    }
    for state in replica.entities.values() {
        let wire = pb::EntityState::from(state.clone());
        seeds.push((format!("state-{}", state.key.kind), wire.encode_to_vec()));
    }
    let busy = pb::EntityState::from(busy_ticket());
    seeds.push(("state-busy-register".into(), busy.encode_to_vec()));
    let ticket_state = replica.entities.values().next().expect("ticket").clone();
    let event = |body| pb::SyncEvent {
        cursor: 42,
        body: Some(body),
    };
    use pb::sync_event::Body;
    let events = [
        ("entity", Body::Entity(ticket_state.into())),
        ("change", Body::Change(changes[1].1.clone().into())),
        (
            "revocation",
            Body::Revocation(pb::Revocation {
                key: Some(EntityKey::new(EntityKind::Ticket, TICKET).into()),
            }),
        ),
        ("heartbeat", Body::Heartbeat(pb::Heartbeat { head: 42 })),
    ];
    for (name, body) in events {
        seeds.push((format!("sync-{name}"), event(body).encode_to_vec()));
    }
    let push = pb::PushRequest {
        changes: changes[..3].iter().map(|(_, c)| c.clone().into()).collect(),
    };
    seeds.push(("push".into(), push.encode_to_vec()));
    let key = pb::EntityKey::from(EntityKey::new(EntityKind::CallLog, "munich.2026-11-26"));
    seeds.push(("key-call-log".into(), key.encode_to_vec()));

    // Edge cases: nothing, garbage, cut short, too many ops, unknown enum numbers, extremes.
    seeds.push(("empty".into(), Vec::new()));
    seeds.push(("ff".into(), vec![0xff; 8]));
    let whole = pb::Change::from(changes[0].1.clone()).encode_to_vec();
    seeds.push(("truncated".into(), whole[..whole.len() / 2].to_vec()));
    let mut many = pb::Change::from(changes[2].1.clone());
    many.ops = vec![many.ops[0].clone(); 65];
    seeds.push(("too-many-ops".into(), many.encode_to_vec()));
    let mut unknown = pb::Change::from(changes[0].1.clone());
    unknown.key.as_mut().expect("key").kind = 99;
    seeds.push(("unknown-kind".into(), unknown.encode_to_vec()));
    let mut extreme = pb::Change::from(changes[2].1.clone());
    extreme.hlc = Some(pb::Hlc {
        wall_ms: u64::MAX,
        logical: u32::MAX,
    });
    extreme.origin_seq = u64::MAX;
    seeds.push(("extreme-clock".into(), extreme.encode_to_vec()));
    // Sub-messages nested deeper than prost's recursion limit.
    let mut deep = Vec::new();
    for _ in 0..120 {
        let mut outer = vec![0x12];
        prost::encoding::encode_varint(deep.len() as u64, &mut outer);
        outer.extend_from_slice(&deep);
        deep = outer;
    }
    seeds.push(("deep-nesting".into(), deep));
    seeds
}

fn merge_seeds() -> Vec<(String, Vec<u8>)> {
    let mut seeds = vec![
        ("zeros".to_owned(), vec![0u8; 16]),
        ("ascending".to_owned(), (0..=255).collect()),
    ];
    // A small linear congruential generator: fixed, reproducible noise.
    let mut x: u32 = 0x1234_5678;
    for (name, len) in [("noise-short", 64), ("noise-long", 400)] {
        let bytes = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        seeds.push((name.to_owned(), bytes));
    }
    // Sixteen writes of one ticket's subject from two sites at four clock readings: more
    // writes than the register keeps, and equal stamps with different values.
    let mut conflicts = vec![3, 9, 0xff, 0x05];
    for i in 0..16u8 {
        // ticket, first ticket, one op, subject, value, site, seq, wall, logical
        conflicts.extend_from_slice(&[0, 0, 0, 3, i % 3, i % 2, i, i / 4, 0]);
    }
    seeds.push(("subject-conflicts".into(), conflicts));
    // Comments on one ticket, including a reused id with other content.
    let mut comments = vec![2, 7, 0x07, 0x02];
    for i in 0..12u8 {
        comments.extend_from_slice(&[1, 0, 1, 10, i % 6, 11, (i + 1) % 6, i % 3, i, i % 2, 1]);
    }
    seeds.push(("comments".into(), comments));
    seeds
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "wire_decode" => wire_seeds(),
        _ => merge_seeds(),
    }
}

// ---- tests -------------------------------------------------------------------------------

/// Rewrites the committed seed corpus from the generators above (run by hand, see the docs).
#[test]
#[ignore = "writes fuzz/corpus; run by hand after changing the seeds"]
fn write_seed_corpus() {
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for old in files(&dir) {
            if old
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
            {
                std::fs::remove_file(old).expect("remove old seed");
            }
        }
        for (name, bytes) in seeds(target) {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        }
    }
}

/// The committed seeds are exactly what the generators make, so the corpus cannot rot silently.
#[test]
fn committed_seeds_are_current() {
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        let mut expected: Vec<String> = Vec::new();
        for (name, bytes) in seeds(target) {
            let path = dir.join(format!("seed-{name}"));
            let committed = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("{}: {e}; run write_seed_corpus", path.display()));
            assert_eq!(
                committed,
                bytes,
                "{} is stale; run write_seed_corpus",
                path.display()
            );
            expected.push(format!("seed-{name}"));
        }
        for file in files(&dir) {
            let name = file
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            assert!(
                !name.starts_with("seed-") || expected.contains(&name),
                "{} is no longer generated; run write_seed_corpus",
                file.display()
            );
        }
    }
}

/// Every corpus file and saved crash passes both targets' checks, and the corpus reaches both
/// the accepting and the refusing paths (so the replay is not vacuous).
#[test]
fn corpus_and_artifacts_pass() {
    for target in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(corpus.len() >= 5, "{target}: corpus missing or tiny");
        let artifacts = files(&fuzz_dir().join("artifacts").join(target));
        let mut decoded = DecodeReport::default();
        let mut merged = Vec::new();
        for file in corpus.iter().chain(&artifacts) {
            let data = std::fs::read(file).expect("read corpus file");
            let (d, m) = run(target, &data).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            decoded.accepted += d.accepted;
            decoded.refused += d.refused;
            merged.push(m);
        }
        if target == "wire_decode" {
            assert!(decoded.accepted >= 20, "{decoded:?}");
            assert!(decoded.refused >= 5, "{decoded:?}");
        } else {
            assert!(merged.iter().any(|m| m.changes >= 12), "{merged:?}");
            assert!(merged.iter().any(|m| m.redaction_checked), "{merged:?}");
            assert!(merged.iter().any(|m| !m.redaction_checked), "{merged:?}");
        }
    }
}

/// Paths the domain really reports are found in the contract; wrong ones are refused.
#[test]
fn path_checker_knows_the_contract() {
    let change = |p| path_problem("hotline.v1.Change", "change", p);
    let state = |p| path_problem("hotline.v1.EntityState", "state", p);
    for good in [
        "change.key.id",
        "change.ops",
        "change.ops[3].op",
        "change.ops[0].set.kind",
        "change.ops[0].set.ticket.status.to",
        "change.ops[1].add_comment.body",
        "change.ops[2].set.policy.handlers[1]",
    ] {
        assert_eq!(change(good), None, "{good}");
    }
    assert_eq!(state("state.comments[0].comment.visibility"), None);
    for bad in [
        "",
        "change",
        "key.id",
        "change.key[0]",
        "change.ops[x]",
        "change.ops[0].set.ticket.status.to.more",
        "change.ops[0].set.kinds",
        "change.ops[0].op.set",
    ] {
        assert!(change(bad).is_some(), "{bad} passed");
    }
    assert!(state("state.comments[0].visibility").is_some());
}

/// A join that breaks equal stamps by arrival order instead of by value is caught by the merge
/// target on the committed corpus: the laws are strong enough to fail.
#[test]
fn merge_target_catches_a_join_that_breaks_ties_by_arrival() {
    let broken = |mine: &mut EntityState, other: &EntityState| {
        let mut other = other.clone();
        other.registers.retain(|name, register| {
            mine.registers
                .get(name)
                .is_none_or(|r| r.winner.stamp != register.winner.stamp)
        });
        mine.join(&other);
    };
    assert!(
        caught_on_corpus(&broken),
        "tie-break by arrival went unnoticed"
    );
}

/// A join that drops the other side's comments is caught too.
#[test]
fn merge_target_catches_a_join_that_loses_comments() {
    let broken = |mine: &mut EntityState, other: &EntityState| {
        let mut other = other.clone();
        if !mine.comments.is_empty() {
            other.comments.clear();
        }
        mine.join(&other);
    };
    assert!(caught_on_corpus(&broken), "lost comments went unnoticed");
}

fn caught_on_corpus(join: fuzzing::Join<'_>) -> bool {
    files(&fuzz_dir().join("corpus/merge")).iter().any(|file| {
        let data = std::fs::read(file).expect("read corpus file");
        catch_unwind(AssertUnwindSafe(|| fuzzing::merge_with(&data, join))).is_err()
    })
}

/// One way to damage an encoded message.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Overwrite(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    /// The front of this message joined to the back of another.
    Splice(prop::sample::Index, Vec<u8>, prop::sample::Index),
}

impl Mutation {
    fn apply(&self, mut data: Vec<u8>) -> Vec<u8> {
        if data.is_empty() {
            return data;
        }
        match self {
            Mutation::FlipBit(i, bit) => {
                let at = i.index(data.len());
                data[at] ^= 1 << (bit % 8);
            }
            Mutation::Truncate(i) => data.truncate(i.index(data.len())),
            Mutation::Overwrite(i, b) => {
                let at = i.index(data.len());
                data[at] = *b;
            }
            Mutation::Insert(i, b) => data.insert(i.index(data.len() + 1), *b),
            Mutation::Splice(i, other, j) => {
                data.truncate(i.index(data.len() + 1));
                if !other.is_empty() {
                    data.extend_from_slice(&other[j.index(other.len())..]);
                }
            }
        }
        data
    }
}

/// Encodings of valid changes, merged states and sync events built from generated histories.
fn valid_encoding() -> impl Strategy<Value = Vec<u8>> {
    (common::history(), 0..3u8).prop_map(|(history, shape)| {
        let mut replica = Replica::default();
        for change in &history {
            replica.apply(change);
        }
        let state = replica
            .entities
            .into_values()
            .next()
            .expect("history is not empty");
        match shape {
            0 => pb::Change::from(history[0].clone()).encode_to_vec(),
            1 => pb::EntityState::from(state).encode_to_vec(),
            _ => pb::SyncEvent {
                cursor: 1,
                body: Some(pb::sync_event::Body::Change(history[0].clone().into())),
            }
            .encode_to_vec(),
        }
    })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use prop::sample::Index;
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), valid_encoding(), any::<Index>())
            .prop_map(|(i, other, j)| Mutation::Splice(i, other, j)),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Random bytes never break the decoder's guarantees (no panic, paths name real fields).
    #[test]
    fn random_bytes_keep_decoding_guarantees(data in prop::collection::vec(any::<u8>(), 0..512)) {
        run("wire_decode", &data).map_err(TestCaseError::fail)?;
    }

    /// Valid encodings damaged by up to three mutations keep the decoder's guarantees; the
    /// undamaged encoding is always accepted.
    #[test]
    fn mutated_valid_messages_keep_decoding_guarantees(
        data in valid_encoding(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let (clean, _) = run("wire_decode", &data).map_err(TestCaseError::fail)?;
        prop_assert!(clean.accepted >= 1, "a valid encoding was refused: {}", hex(&data));
        let damaged = mutations.iter().fold(data, |d, m| m.apply(d));
        run("wire_decode", &damaged).map_err(TestCaseError::fail)?;
    }

    /// Random bytes build histories whose merge obeys every join law.
    #[test]
    fn random_bytes_keep_merge_laws(data in prop::collection::vec(any::<u8>(), 0..256)) {
        run("merge", &data).map_err(TestCaseError::fail)?;
    }
}

// ---- regressions found by the fuzz checks (their inputs are corpus/wire_decode/regression-*) --

fn stamp(wall_ms: u64) -> Option<pb::Stamp> {
    Some(pb::Stamp {
        hlc: Some(pb::Hlc {
            wall_ms,
            logical: 0,
        }),
        site: "munich".into(),
    })
}

fn refusal(wire: pb::EntityState) -> String {
    let err = EntityState::try_from(wire).expect_err("the state must be refused");
    err.field().expect("a field path").to_owned()
}

/// A bad comment or call event inside a state is reported at its real wire path
/// (`...comments[0].comment.visibility`), not at a path the contract does not have.
#[test]
fn state_element_errors_name_the_element_field() {
    let mut ticket =
        pb::EntityState::from(EntityState::new(EntityKey::new(EntityKind::Ticket, TICKET)));
    ticket.comments.push(pb::StampedComment {
        stamp: stamp(5),
        comment: Some(pb::Comment {
            id: "c1".into(),
            visibility: 0,
            ..pb::Comment::default()
        }),
    });
    assert_eq!(refusal(ticket), "state.comments[0].comment.visibility");
    let mut log = pb::EntityState::from(EntityState::new(EntityKey::new(
        EntityKind::CallLog,
        "munich.2026-11-26",
    )));
    log.call_events.push(pb::StampedCallEvent {
        stamp: stamp(5),
        event: Some(pb::CallEvent {
            id: "e1".into(),
            outcome: 0,
            ..pb::CallEvent::default()
        }),
    });
    assert_eq!(refusal(log), "state.call_events[0].event.outcome");
}

/// A brand field hidden in the history of an article's `version` register (same register
/// name) is refused; with a newer stamp it would otherwise have become the article's version.
#[test]
fn state_refuses_a_foreign_kind_in_register_history() {
    use pb::{article_field, brand_field, field_value};
    for superseded_at in [3, 7] {
        let wire = pb::EntityState {
            key: Some(EntityKey::new(EntityKind::Article, "vpn-setup").into()),
            registers: vec![pb::Register {
                stamp: stamp(5),
                value: Some(pb::FieldValue {
                    kind: Some(field_value::Kind::Article(pb::ArticleField {
                        value: Some(article_field::Value::Version(2)),
                    })),
                }),
                superseded: vec![pb::StampedValue {
                    stamp: stamp(superseded_at),
                    value: Some(pb::FieldValue {
                        kind: Some(field_value::Kind::Brand(pb::BrandField {
                            value: Some(brand_field::Value::Version(1)),
                        })),
                    }),
                }],
            }],
            comments: vec![],
            call_events: vec![],
            deleted: None,
        };
        assert_eq!(refusal(wire), "state.registers[0].superseded[0].value");
    }
}

/// Comments belong to tickets and call events to call logs, in states as in changes.
#[test]
fn state_refuses_elements_on_the_wrong_kind() {
    let comment = pb::StampedComment {
        stamp: stamp(5),
        comment: Some(pb::Comment {
            id: "c1".into(),
            author_alias: "advisor".into(),
            author_tenant: "inhouse".into(),
            visibility: Visibility::Public.to_wire(),
            body: "hello".into(),
            created_at_ms: 1,
        }),
    };
    let mut article = pb::EntityState::from(EntityState::new(EntityKey::new(
        EntityKind::Article,
        "vpn-setup",
    )));
    article.comments.push(comment);
    assert_eq!(refusal(article), "state.comments");
    let mut ticket =
        pb::EntityState::from(EntityState::new(EntityKey::new(EntityKind::Ticket, TICKET)));
    ticket.call_events.push(pb::StampedCallEvent {
        stamp: stamp(5),
        event: Some(pb::CallEvent {
            id: "e1".into(),
            site: "munich".into(),
            outcome: CallOutcome::Answered.to_wire(),
            ..pb::CallEvent::default()
        }),
    });
    assert_eq!(refusal(ticket), "state.call_events");
}
