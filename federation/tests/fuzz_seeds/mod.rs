//! The seed corpus of the fuzz targets: valid encodings of every wire message that enters the
//! domain, edge cases, and fixed byte strings for the merge builder. `fuzz_inputs.rs` writes
//! them to `fuzz/corpus/<target>/seed-*` and checks that the committed files are current.

#![allow(unreachable_pub)]

use hotline_federation::model::{
    ArticleField, ArticleState, BrandField, CallEvent, CallOutcome, Channel, Comment, EntityKey,
    EntityKind, FieldValue, Language, PolicyField, Priority, ReviewCadence, StatusTransition,
    SuggestionField, SuggestionState, TicketField, TicketStatus, Visibility,
};
use hotline_federation::{Change, EntityState, FieldOp, Hlc, Replica};
use hotline_proto::v1 as pb;
use prost::Message;

pub const TICKET: &str = "ASZ-2026-004711";
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
        attachments: Vec::new(),
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
                Channel::Phone,
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
            talk_seconds: 0,
            wrap_seconds: 0,
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
                reason: 0,
            }),
        ),
        (
            "heartbeat",
            Body::Heartbeat(pb::Heartbeat {
                head: 42,
                now_ms: 1_795_000_000_000,
                max_skew_ms: 300_000,
                tenant_sites: vec!["dortmund".into()],
                guard_terms: vec!["twenty4help".into(), "Partner A".into()],
            }),
        ),
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

/// The seeds of one fuzz target, by file name (without the `seed-` prefix).
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "wire_decode" => wire_seeds(),
        _ => merge_seeds(),
    }
}
