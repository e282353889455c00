//! The merge fuzz entry point: a byte-driven builder of valid changes and the laws the join
//! must obey on them.
//!
//! The builder draws from small pools (two tickets, an article, a policy, a call log; three
//! sites; clock readings 1 to 4), so histories are full of conflicting writes, equal stamps
//! from "misbehaving" sites, reused comment ids and registers with more superseded writes than
//! are kept. Running out of bytes reads as zeros, so every input builds something.

use std::collections::{BTreeMap, BTreeSet};

use crate::change::{Change, FieldOp};
use crate::clock::Hlc;
use crate::model::{
    ArticleField, ArticleState, CallEvent, CallOutcome, Comment, EntityKey, EntityKind, FieldValue,
    PolicyField, Priority, StatusTransition, TicketField, TicketStatus, Visibility,
};
use crate::state::{EntityState, Replica};
use crate::status::allowed_after;
use crate::visibility::{Directory, TeamAccess, pii_granted, redact_change, strip};

/// Most changes one input builds.
const MAX_CHANGES: usize = 16;
const SITES: &[&str] = &["munich", "dortmund", "erfurt"];
const TENANTS: &[&str] = &["inhouse", "twenty4help", "helpbycom"];
const TEAMS: &[&str] = &["plants", "finance-hr"];
const TICKETS: &[&str] = &["ASZ-2026-000001", "ASZ-2026-000002"];
const CALL_LOG: &str = "munich.2026-11-26";
/// Comments as (id, author tenant, visibility, body); the last two reuse ids of earlier ones
/// with other content, which the gateway refuses but the join must still handle.
const COMMENTS: &[(&str, &str, Visibility, &str)] = &[
    ("c1", "inhouse", Visibility::Tenant, "internal note"),
    ("c2", "twenty4help", Visibility::Federation, "called back"),
    ("c3", "helpbycom", Visibility::Tenant, "partner note"),
    ("c4", "helpbycom", Visibility::Public, "reset done"),
    ("c2", "helpbycom", Visibility::Tenant, "called back"),
    ("c4", "helpbycom", Visibility::Public, "reset done again"),
];

/// Reads the input one byte at a time; past the end every byte is zero.
struct Source<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Source<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    fn exhausted(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn text(&mut self, items: &[&str]) -> String {
        self.pick(items).to_owned()
    }

    /// A subset of `items` chosen by the bits of one byte.
    fn subset(&mut self, items: &[&str]) -> Vec<String> {
        let bits = self.byte();
        let chosen = items
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0);
        chosen.map(|(_, item)| (*item).to_owned()).collect()
    }
}

fn status(source: &mut Source<'_>) -> StatusTransition {
    let froms: Vec<Option<TicketStatus>> = std::iter::once(None)
        .chain(TicketStatus::ALL.iter().copied().map(Some))
        .filter(|from| !allowed_after(*from).is_empty())
        .collect();
    let from = source.pick(&froms);
    let to = source.pick(allowed_after(from));
    StatusTransition { from, to }
}

fn ticket_op(source: &mut Source<'_>, id: &str) -> FieldOp {
    use TicketField as T;
    let field = match source.below(13) {
        0 => T::PublicNumber(id.to_owned()),
        1 => T::Priority(source.pick(Priority::ALL)),
        2 => T::Status(status(source)),
        3 => T::Subject(source.text(&["VPN down", "printer", "password"])),
        4 => T::FocusTeam(source.text(TEAMS)),
        5 => T::OriginTenant(source.text(TENANTS)),
        6 => T::CustomerName(source.text(&["Erika Muster", "Max Muster"])),
        7 => T::CustomerEmail(source.text(&["erika@example.com", "max@example.com"])),
        8 => T::AssigneeAlias(source.text(&["agent-7", "agent-9"])),
        9 => T::FirstContact(source.byte() & 1 == 1),
        10 | 11 => {
            let (id, tenant, visibility, body) = source.pick(COMMENTS);
            return FieldOp::AddComment(Comment {
                id: id.to_owned(),
                author_alias: "advisor".to_owned(),
                author_tenant: tenant.to_owned(),
                visibility,
                body: body.to_owned(),
                created_at_ms: 1,
                attachments: Vec::new(),
            });
        }
        _ => return delete(source),
    };
    FieldOp::Set(FieldValue::Ticket(field))
}

fn delete(source: &mut Source<'_>) -> FieldOp {
    FieldOp::Delete {
        reason: source.text(&["duplicate", "gdpr request"]),
    }
}

fn article_op(source: &mut Source<'_>) -> FieldOp {
    use ArticleField as A;
    let field = match source.below(5) {
        0 => A::Title(source.text(&["VPN setup", "VPN einrichten"])),
        1 => A::Tags(source.subset(&["vpn", "network", "remote"])),
        2 => A::State(source.pick(ArticleState::ALL)),
        3 => A::Version(u32::from(source.byte() % 4)),
        _ => return delete(source),
    };
    FieldOp::Set(FieldValue::Article(field))
}

fn policy_op(source: &mut Source<'_>) -> FieldOp {
    use PolicyField as P;
    let field = match source.below(5) {
        0 => P::Handlers(source.subset(TENANTS)),
        1 => P::PiiGrants(source.subset(TENANTS)),
        2 => P::SlaAnswerSeconds(1 + u32::from(source.byte()) * 14),
        3 => P::DisplayName(source.text(&["Plants", "Werke"])),
        _ => return delete(source),
    };
    FieldOp::Set(FieldValue::Policy(field))
}

fn call_log_op(source: &mut Source<'_>) -> FieldOp {
    if source.below(6) == 0 {
        return delete(source);
    }
    FieldOp::AddCallEvent(CallEvent {
        id: source.text(&["e1", "e2", "e3"]),
        site: "munich".to_owned(),
        outcome: source.pick(CallOutcome::ALL),
        wait_seconds: u32::from(source.byte()),
        at_ms: 1,
        focus_team: (source.byte() & 1 == 1).then(|| "plants".to_owned()),
        ticket_number: None,
        talk_seconds: 0,
        wrap_seconds: 0,
    })
}

/// What one op writes to: its register, element or the tombstone. A change writes each once.
fn slot(op: &FieldOp) -> String {
    match op {
        FieldOp::Set(value) => format!("register {}", value.register()),
        FieldOp::AddComment(c) => format!("comment {}", c.id),
        FieldOp::AddCallEvent(e) => format!("call event {}", e.id),
        FieldOp::Delete { .. } => "delete".to_owned(),
    }
}

fn change(source: &mut Source<'_>) -> Change {
    let key = match source.below(6) {
        0 | 1 => EntityKey::new(EntityKind::Ticket, source.pick(TICKETS)),
        2 => EntityKey::new(EntityKind::Article, "vpn-setup"),
        3 => EntityKey::new(EntityKind::Policy, "plants"),
        _ => EntityKey::new(EntityKind::CallLog, CALL_LOG),
    };
    let mut ops = Vec::new();
    let mut slots = BTreeSet::new();
    for _ in 0..=source.below(4) {
        let op = match key.kind {
            EntityKind::Ticket => ticket_op(source, &key.id),
            EntityKind::Article => article_op(source),
            EntityKind::Policy => policy_op(source),
            _ => call_log_op(source),
        };
        if slots.insert(slot(&op)) {
            ops.push(op);
        }
    }
    let origin_site = source.text(SITES);
    let origin_seq = 1 + u64::from(source.byte());
    let hlc = Hlc::new(
        1 + u64::from(source.byte() % 4),
        u32::from(source.byte() % 3),
    );
    Change {
        key,
        ops,
        origin_site,
        origin_seq,
        hlc,
    }
}

/// A join of entity states: the real one is [`EntityState::join`]; tests hand in broken ones
/// to prove the laws below catch them.
pub type Join<'a> = &'a dyn Fn(&mut EntityState, &EntityState);

type Entities = BTreeMap<EntityKey, EntityState>;

fn join_into(into: &mut Entities, state: &EntityState, join: Join<'_>) {
    match into.get_mut(&state.key) {
        Some(mine) => join(mine, state),
        None => {
            into.insert(state.key.clone(), state.clone());
        }
    }
}

fn replay<'c>(changes: impl IntoIterator<Item = &'c Change>, join: Join<'_>) -> Entities {
    let mut out = Entities::new();
    for change in changes {
        join_into(&mut out, &EntityState::delta(change), join);
    }
    out
}

fn joined(a: &Entities, b: &Entities, join: Join<'_>) -> Entities {
    let mut out = a.clone();
    for state in b.values() {
        join_into(&mut out, state, join);
    }
    out
}

/// Panics with `law` and the first entity where the two sides differ.
fn same(law: &str, left: &Entities, right: &Entities) {
    if left == right {
        return;
    }
    let keys: BTreeSet<&EntityKey> = left.keys().chain(right.keys()).collect();
    for key in keys {
        let (l, r) = (left.get(key), right.get(key));
        if l != r {
            panic!("merge law broken: {law}\nentity {key}\nleft:  {l:?}\nright: {r:?}");
        }
    }
}

/// What [`merge`] built and checked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Changes built from the input.
    pub changes: usize,
    /// Entities they touched.
    pub entities: usize,
    /// Whether redaction was checked (only when one comment id names one comment, the
    /// precondition the gateway enforces).
    pub redaction_checked: bool,
}

/// Builds valid changes from `data` and checks that merging them is a join: the same state
/// whatever the order, grouping or repetition, and redaction commutes with it. Panics only
/// when a law is broken.
pub fn merge(data: &[u8]) -> MergeReport {
    merge_with(data, &|mine, other| mine.join(other))
}

/// [`merge`] with the join handed in, so tests can prove that a broken join is caught.
pub fn merge_with(data: &[u8], join: Join<'_>) -> MergeReport {
    let mut source = Source { data, pos: 0 };
    let cuts = (source.byte(), source.byte());
    let handlers = source.subset(TENANTS);
    let grants = source.subset(TENANTS);
    let mut changes = Vec::new();
    while changes.len() < MAX_CHANGES && (changes.is_empty() || !source.exhausted()) {
        let change = change(&mut source);
        if let Err(error) = change.validate() {
            panic!("the fuzz builder made an invalid change ({error}): {change:?}");
        }
        changes.push(change);
    }

    let forward = replay(&changes, join);
    same(
        "reverse order",
        &forward,
        &replay(changes.iter().rev(), join),
    );
    let evens_then_odds = changes
        .iter()
        .step_by(2)
        .chain(changes.iter().skip(1).step_by(2));
    same("evens then odds", &forward, &replay(evens_then_odds, join));
    same(
        "every change twice",
        &forward,
        &replay(changes.iter().chain(&changes), join),
    );
    let mut real = Replica::default();
    for change in &changes {
        real.apply(change);
    }
    same("Replica::apply", &forward, &real.entities);

    let n = changes.len();
    let (c1, c2) = (usize::from(cuts.0) % (n + 1), usize::from(cuts.1) % (n + 1));
    let (c1, c2) = (c1.min(c2), c1.max(c2));
    let a = replay(&changes[..c1], join);
    let b = replay(&changes[c1..c2], join);
    let c = replay(&changes[c2..], join);
    let ab = joined(&a, &b, join);
    same("a + b = b + a", &ab, &joined(&b, &a, join));
    same(
        "(a + b) + c = a + (b + c)",
        &joined(&ab, &c, join),
        &joined(&a, &joined(&b, &c, join), join),
    );
    same("a + a = a", &joined(&a, &a, join), &a);
    same(
        "groups joined = all replayed",
        &joined(&ab, &c, join),
        &forward,
    );

    let redaction_checked = one_id_one_comment(&changes);
    if redaction_checked {
        check_redaction(&a, &b, join);
        let directory = directory(handlers, grants);
        check_redacted_changes(&changes, &forward, &directory);
    }
    MergeReport {
        changes: n,
        entities: forward.len(),
        redaction_checked,
    }
}

/// True when no comment id names two different comments on the same ticket.
fn one_id_one_comment(changes: &[Change]) -> bool {
    let mut seen: BTreeMap<(&EntityKey, &str), &Comment> = BTreeMap::new();
    for change in changes {
        for op in &change.ops {
            if let FieldOp::AddComment(c) = op {
                if seen
                    .insert((&change.key, c.id.as_str()), c)
                    .is_some_and(|old| old != c)
                {
                    return false;
                }
            }
        }
    }
    true
}

/// Redacting a join equals joining the redactions, for every tenant, with and without PII.
fn check_redaction(a: &Entities, b: &Entities, join: Join<'_>) {
    let ab = joined(a, b, join);
    for tenant in TENANTS {
        for granted in [false, true] {
            for (key, merged) in &ab {
                let empty = EntityState::new(key.clone());
                let side = |x: &Entities| strip(tenant, x.get(key).unwrap_or(&empty), granted);
                let mut pieces = side(a);
                join(&mut pieces, &side(b));
                // A partner's replica drops superseded writes after each join, as `strip` does.
                let pieces = strip(tenant, &pieces, granted);
                let whole = strip(tenant, merged, granted);
                assert!(
                    whole == pieces,
                    "redaction does not commute with merge for tenant {tenant} \
                     (pii granted: {granted}) on {key}\nredacted join: {whole:?}\n\
                     joined redactions: {pieces:?}"
                );
            }
        }
    }
}

fn directory(handlers: Vec<String>, grants: Vec<String>) -> Directory {
    let access = TeamAccess {
        handlers: handlers.into_iter().collect(),
        pii_grants: grants.into_iter().collect(),
    };
    let mut directory = Directory::default();
    directory.teams.insert(TEAMS[0].to_owned(), access);
    for (site, tenant) in SITES.iter().zip(TENANTS) {
        directory
            .site_tenants
            .insert((*site).to_owned(), (*tenant).to_owned());
    }
    directory
}

/// A redacted change carries exactly what the redacted state gains from the change: of its
/// register writes, only those that are the merged state's winners (a partner never receives a
/// superseded write, see [`crate::visibility::strip_change`]).
fn check_redacted_changes(changes: &[Change], merged: &Entities, directory: &Directory) {
    for change in changes {
        let Some(after) = merged.get(&change.key) else {
            panic!(
                "{} was changed but is missing from the merged state",
                change.key
            );
        };
        for tenant in TENANTS {
            let Some(redacted) = redact_change(tenant, change, after, directory) else {
                continue;
            };
            let granted = pii_granted(tenant, after, directory);
            let from_change = strip(tenant, &EntityState::delta(&redacted), granted);
            let mut from_state = strip(tenant, &EntityState::delta(change), granted);
            if *tenant != crate::ids::INHOUSE {
                from_state.registers.retain(|name, register| {
                    after
                        .registers
                        .get(name)
                        .is_some_and(|won| won.winner == register.winner)
                });
            }
            assert!(
                from_change == from_state,
                "the change redacted for {tenant} differs from its redacted delta\n\
                 change: {change:?}\nredacted: {redacted:?}"
            );
        }
    }
}
