//! Erasure of a customer's personal data (DESIGN.md section 8a).
//!
//! In-house staff erase a customer; the gateway then writes the in-house-written register
//! `erased_at_ms` on each of the customer's tickets. A ticket state holding that register is
//! *erased*: it keeps no customer name, email or phone (neither the winning nor a superseded
//! value), no rating remark, and every comment body reads [`ERASED_BODY`]. The merge keeps this
//! true ([`crate::state::EntityState::join`] erases after joining), so a change that arrives
//! late with personal data (from a site that was offline) never brings it back, and every
//! replica that holds the register converges on the same erased state. The marker is not
//! personal data; every site that sees the ticket receives it and erases its own copies
//! (replica, outbox, dead letters, webhook queue) when it does. An erased comment carries no
//! file either (`crate::attachment`): each store deletes the bytes no other comment needs.

use crate::change::{Change, FieldOp};
use crate::model::{EntityKind, FieldValue, TicketField};
use crate::state::EntityState;

/// The register that marks an erased ticket.
pub const ERASED_REGISTER: &str = "erased_at_ms";

/// What an erased comment's body reads.
pub const ERASED_BODY: &str = "[erased]";

/// True when the ticket's customer data was erased.
pub fn erased(state: &EntityState) -> bool {
    state.key.kind == EntityKind::Ticket && state.registers.contains_key(ERASED_REGISTER)
}

/// Removes the customer's personal data from an erased ticket (nothing otherwise): the
/// contact registers with their history, the rating's remark, every comment's body.
pub fn erase_personal_data(state: &mut EntityState) {
    if !erased(state) {
        return;
    }
    state
        .registers
        .retain(|_, register| !register.winner.value.is_pii());
    if let Some(rating) = state.registers.get_mut("rating") {
        for value in std::iter::once(&mut rating.winner).chain(rating.superseded.iter_mut()) {
            if let FieldValue::Ticket(TicketField::Rating(r)) = &mut value.value {
                r.remark.clear();
            }
        }
        // Equal values after clearing are one.
        let winner = rating.winner.clone();
        rating.superseded.retain(|s| *s != winner);
        rating.superseded.dedup();
    }
    for comment in state.comments.values_mut() {
        if comment.value.body != ERASED_BODY {
            comment.value.body = ERASED_BODY.to_owned();
        }
        // The files go with the text: their names and digests are the customer's too.
        comment.value.attachments.clear();
    }
}

/// `change` as an erased ticket keeps it: contact values, comment bodies and the rating's
/// remark replaced by [`ERASED_BODY`] (or emptied), every operation kept, so the copy is still
/// a valid change (one that only set contact data would otherwise be empty). For the copies of
/// changes kept after the erasure (the log, outboxes, dead letters); merged into an erased
/// ticket, the replaced contact values are dropped like any. A change of another entity comes
/// back unchanged.
pub fn erase_change(change: &Change) -> Change {
    if change.key.kind != EntityKind::Ticket {
        return change.clone();
    }
    let mut out = change.clone();
    for op in &mut out.ops {
        match op {
            FieldOp::AddComment(comment) => {
                comment.body = ERASED_BODY.to_owned();
                comment.attachments.clear();
            }
            FieldOp::Set(FieldValue::Ticket(
                TicketField::CustomerName(v)
                | TicketField::CustomerEmail(v)
                | TicketField::CustomerPhone(v),
            )) => ERASED_BODY.clone_into(v),
            FieldOp::Set(FieldValue::Ticket(TicketField::Rating(rating))) => {
                rating.remark.clear();
            }
            FieldOp::Set(_) | FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => {}
        }
    }
    out
}

/// True when `change` is the erased copy of a change that held personal data: it holds an
/// erased comment body or contact value and nothing [`erase_change`] would still change.
pub fn is_erased_copy(change: &Change) -> bool {
    let marked = change.ops.iter().any(|op| match op {
        FieldOp::AddComment(comment) => comment.body == ERASED_BODY,
        FieldOp::Set(FieldValue::Ticket(
            TicketField::CustomerName(v)
            | TicketField::CustomerEmail(v)
            | TicketField::CustomerPhone(v),
        )) => v == ERASED_BODY,
        FieldOp::Set(_) | FieldOp::AddCallEvent(_) | FieldOp::Delete { .. } => false,
    });
    change.key.kind == EntityKind::Ticket && marked && erase_change(change) == *change
}

/// True when `change` erases its ticket (sets the marker).
pub fn erases(change: &Change) -> bool {
    change.ops.iter().any(|op| {
        matches!(
            op,
            FieldOp::Set(FieldValue::Ticket(TicketField::ErasedAt(_)))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Hlc;
    use crate::model::{Comment, CustomerRating, EntityKey, Visibility};

    fn key() -> EntityKey {
        EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001")
    }

    fn change(site: &str, seq: u64, at: u64, ops: Vec<FieldOp>) -> Change {
        Change {
            key: key(),
            ops,
            origin_site: site.into(),
            origin_seq: seq,
            hlc: Hlc::new(at, 0),
        }
    }

    fn set(field: TicketField) -> FieldOp {
        FieldOp::Set(FieldValue::Ticket(field))
    }

    fn comment(id: &str, body: &str) -> FieldOp {
        FieldOp::AddComment(Comment {
            id: id.into(),
            author_alias: "A7".into(),
            author_tenant: "t1".into(),
            visibility: Visibility::Public,
            body: body.into(),
            created_at_ms: 5,
            attachments: Vec::new(),
        })
    }

    /// A comment's files go with the erasure in either order, and the erased copy of a change
    /// that carried files is still a valid change.
    #[test]
    fn erased_comments_carry_no_files() {
        let file = crate::attachment::AttachmentRef {
            sha256: "ab".repeat(32),
            size: 10,
            content_type: "text/plain".into(),
            filename: "erika-vpn.log".into(),
        };
        let FieldOp::AddComment(mut with_file) = comment("a-1", "") else {
            unreachable!("comment() builds a comment")
        };
        with_file.attachments = vec![file];
        let carrying = change("a", 1, 10, vec![FieldOp::AddComment(with_file)]);
        assert!(
            carrying.validate().is_ok(),
            "a comment with a file may have no text"
        );
        let erasing = change("gateway", 1, 30, vec![set(TicketField::ErasedAt(30))]);
        for order in [[&carrying, &erasing], [&erasing, &carrying]] {
            let mut state = EntityState::new(key());
            for c in order {
                state.apply(c);
            }
            assert!(
                state
                    .comments
                    .values()
                    .all(|c| c.value.attachments.is_empty()),
                "{state:?}"
            );
        }
        let kept = erase_change(&carrying);
        assert!(kept.validate().is_ok(), "{kept:?}");
        assert!(is_erased_copy(&kept));
        assert!(!format!("{kept:?}").contains("erika-vpn.log"));
    }

    /// A history with the customer's data written before and after the erasure (a site that
    /// was offline): every order and grouping gives one state, which holds none of it.
    #[test]
    fn every_order_converges_on_a_state_without_the_personal_data() {
        let history = [
            change(
                "a",
                1,
                10,
                vec![
                    set(TicketField::Subject("VPN".into())),
                    set(TicketField::CustomerName("Erika Mustermann".into())),
                    set(TicketField::CustomerEmail("erika@example.com".into())),
                    comment("a-1", "Erika calls from +49 30 1234"),
                ],
            ),
            change("gateway", 1, 30, vec![set(TicketField::ErasedAt(30))]),
            change(
                "b",
                1,
                20,
                vec![
                    set(TicketField::CustomerName("Erika M.".into())),
                    comment("b-1", "late note about Erika"),
                ],
            ),
            change(
                "gateway",
                2,
                40,
                vec![set(TicketField::Rating(CustomerRating {
                    score: 2,
                    remark: "Erika was unhappy".into(),
                    at_ms: 40,
                }))],
            ),
        ];
        let mut states = Vec::new();
        for order in [
            [0, 1, 2, 3],
            [2, 3, 1, 0],
            [1, 0, 3, 2],
            [3, 2, 0, 1],
            [0, 2, 3, 1],
        ] {
            let mut state = EntityState::new(key());
            for i in order {
                state.apply(&history[i]);
            }
            states.push(state);
        }
        // Joined as whole states, erased one before the other, too.
        let mut early = EntityState::new(key());
        early.apply(&history[1]);
        let mut late = EntityState::new(key());
        for c in [&history[0], &history[2], &history[3]] {
            late.apply(c);
        }
        early.join(&late);
        states.push(early);
        for state in &states {
            assert_eq!(state, &states[0]);
        }
        let bytes = String::from_utf8_lossy(&states[0].canonical_bytes()).into_owned();
        assert!(!bytes.contains("Erika"), "{bytes}");
        assert!(erased(&states[0]));
        assert_eq!(states[0].comments.len(), 2);
        assert!(
            states[0]
                .comments
                .values()
                .all(|c| c.value.body == ERASED_BODY)
        );
        assert_eq!(
            states[0].value("subject"),
            Some(&FieldValue::Ticket(TicketField::Subject("VPN".into())))
        );
    }

    /// An erased ticket refuses contact data and comments from every site, in-house too,
    /// naming the rule; other fields still change; nobody but the gateway writes the marker.
    #[test]
    fn an_erased_ticket_takes_no_personal_data_from_any_site() {
        use crate::authority::{Caller, Rule, authorize};
        use crate::visibility::Directory;
        let mut state = EntityState::new(key());
        state.apply(&change(
            "a",
            1,
            10,
            vec![set(TicketField::OriginTenant("t1".into()))],
        ));
        state.apply(&change(
            "gateway",
            1,
            20,
            vec![set(TicketField::ErasedAt(20))],
        ));
        let directory = Directory::default();
        for tenant in ["t1", crate::ids::INHOUSE] {
            let caller = Caller::Site {
                tenant: tenant.into(),
                site: "a".into(),
            };
            let check = |ops| {
                authorize(
                    &caller,
                    &change("a", 9, 30, ops),
                    &state,
                    &directory,
                    "ASZ",
                    |_| false,
                )
            };
            for ops in [
                vec![set(TicketField::CustomerEmail("x@example.com".into()))],
                vec![comment("a-9", "hello")],
                vec![set(TicketField::ErasedAt(31))],
            ] {
                let refused = check(ops).unwrap_err();
                assert_eq!(
                    refused.rule,
                    Rule::ErasureByStaff,
                    "{tenant}: {}",
                    refused.message
                );
            }
            assert!(check(vec![set(TicketField::Subject("still open".into()))]).is_ok());
        }
    }

    /// A state without the marker is left alone, however much personal data it holds.
    #[test]
    fn a_ticket_not_erased_keeps_its_data() {
        let mut state = EntityState::new(key());
        state.apply(&change(
            "a",
            1,
            10,
            vec![
                set(TicketField::CustomerName("Erika".into())),
                comment("a-1", "hello"),
            ],
        ));
        let before = state.clone();
        erase_personal_data(&mut state);
        assert_eq!(state, before);
        assert!(!erased(&state));
    }

    /// The kept copy of a change loses the contact values, comment bodies and the rating's
    /// remark, and keeps every operation (still a valid change, also one of contact data
    /// alone); a change of another kind is kept as it is.
    #[test]
    fn erased_changes_keep_only_what_is_not_personal() {
        let original = change(
            "a",
            1,
            10,
            vec![
                set(TicketField::Subject("VPN".into())),
                set(TicketField::CustomerPhone("+49 30 1234".into())),
                comment("a-1", "Erika calls"),
            ],
        );
        let kept = erase_change(&original);
        assert_eq!(
            kept.ops,
            vec![
                set(TicketField::Subject("VPN".into())),
                set(TicketField::CustomerPhone(ERASED_BODY.into())),
                comment("a-1", ERASED_BODY)
            ]
        );
        assert!(kept.validate().is_ok());
        // A change of contact data alone stays a valid change.
        let only_contact = change(
            "a",
            2,
            11,
            vec![set(TicketField::CustomerEmail("e@x.de".into()))],
        );
        let kept_contact = erase_change(&only_contact);
        assert!(kept_contact.validate().is_ok(), "{kept_contact:?}");
        assert!(!format!("{kept_contact:?}").contains("e@x.de"));
        assert_eq!(
            (kept.origin_site.as_str(), kept.origin_seq, kept.hlc),
            ("a", 1, original.hlc)
        );
        assert!(!erases(&original));
        assert!(is_erased_copy(&kept) && is_erased_copy(&kept_contact));
        assert!(!is_erased_copy(&original), "it still holds personal data");
        let plain = change("a", 3, 12, vec![set(TicketField::Subject("x".into()))]);
        assert!(!is_erased_copy(&plain), "nothing in it was erased");
        assert!(erases(&change(
            "gateway",
            1,
            3,
            vec![set(TicketField::ErasedAt(3))]
        )));
        let article = Change {
            key: EntityKey::new(EntityKind::Article, "vpn"),
            ..original.clone()
        };
        assert_eq!(erase_change(&article), article);
    }
}
