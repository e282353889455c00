//! Properties of the wire conversions: valid changes survive the round trip, and every kind of
//! invalid message is refused with an error naming exactly the offending field.

mod common;

use hotline_federation::model::{EntityKind, Visibility};
use hotline_federation::wire::WireEnum;
use hotline_federation::{Change, EntityState, Error, Replica};
use hotline_proto::v1 as pb;
use pb::{field_op, field_value, ticket_field};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn ticket_op(value: ticket_field::Value) -> pb::FieldOp {
    pb::FieldOp {
        op: Some(field_op::Op::Set(pb::FieldValue {
            kind: Some(field_value::Kind::Ticket(pb::TicketField {
                value: Some(value),
            })),
        })),
    }
}

fn comment_op(visibility: i32, body: String) -> pb::FieldOp {
    pb::FieldOp {
        op: Some(field_op::Op::AddComment(pb::Comment {
            id: "bad-1".into(),
            author_alias: "advisor".into(),
            author_tenant: "helpbycom".into(),
            visibility,
            body,
            created_at_ms: 1,
            attachments: Vec::new(),
        })),
    }
}

/// One way to break a valid change, and the field path its error must name (`{i}` is the
/// index of the op it replaces).
#[derive(Clone, Copy, Debug)]
enum Corruption {
    NoKey,
    UnspecifiedKind,
    UnknownKind,
    PathInId,
    NoHlc,
    ZeroSeq,
    BadSite,
    NoOps,
    TooManyOps,
    EmptyOp,
    EmptyFieldValue,
    EmptyTicketValue,
    UnknownPriority,
    UnspecifiedVisibility,
    HugeCommentBody,
    ClosedReopened,
    ArticleFieldOnTicket,
    NumberMismatch,
    BadFocusTeam,
    DuplicateField,
    NulInSubject,
    NewlineInCustomerRef,
    DelInCommentBody,
    C1InDeleteReason,
}

impl Corruption {
    const ALL: [Corruption; 24] = [
        Corruption::NoKey,
        Corruption::UnspecifiedKind,
        Corruption::UnknownKind,
        Corruption::PathInId,
        Corruption::NoHlc,
        Corruption::ZeroSeq,
        Corruption::BadSite,
        Corruption::NoOps,
        Corruption::TooManyOps,
        Corruption::EmptyOp,
        Corruption::EmptyFieldValue,
        Corruption::EmptyTicketValue,
        Corruption::UnknownPriority,
        Corruption::UnspecifiedVisibility,
        Corruption::HugeCommentBody,
        Corruption::ClosedReopened,
        Corruption::ArticleFieldOnTicket,
        Corruption::NumberMismatch,
        Corruption::BadFocusTeam,
        Corruption::DuplicateField,
        Corruption::NulInSubject,
        Corruption::NewlineInCustomerRef,
        Corruption::DelInCommentBody,
        Corruption::C1InDeleteReason,
    ];

    /// Breaks `change` and returns the field path the error must name.
    fn apply(self, change: &mut pb::Change, i: usize) -> String {
        let op_path = format!("change.ops[{i}]");
        let mut replace = |op: pb::FieldOp| change.ops[i] = op;
        match self {
            Corruption::NoKey => {
                change.key = None;
                "change.key".into()
            }
            Corruption::UnspecifiedKind => {
                change.key.as_mut().unwrap().kind = 0;
                "change.key.kind".into()
            }
            Corruption::UnknownKind => {
                change.key.as_mut().unwrap().kind = 99;
                "change.key.kind".into()
            }
            Corruption::PathInId => {
                change.key.as_mut().unwrap().id = "../../etc/passwd".into();
                "change.key.id".into()
            }
            Corruption::NoHlc => {
                change.hlc = None;
                "change.hlc".into()
            }
            Corruption::ZeroSeq => {
                change.origin_seq = 0;
                "change.origin_seq".into()
            }
            Corruption::BadSite => {
                change.origin_site = "Dortmund Site".into();
                "change.origin_site".into()
            }
            Corruption::NoOps => {
                change.ops.clear();
                "change.ops".into()
            }
            Corruption::TooManyOps => {
                let op = change.ops[0].clone();
                change.ops = vec![op; 65];
                "change.ops".into()
            }
            Corruption::EmptyOp => {
                replace(pb::FieldOp { op: None });
                format!("{op_path}.op")
            }
            Corruption::EmptyFieldValue => {
                replace(pb::FieldOp {
                    op: Some(field_op::Op::Set(pb::FieldValue { kind: None })),
                });
                format!("{op_path}.set.kind")
            }
            Corruption::EmptyTicketValue => {
                replace(pb::FieldOp {
                    op: Some(field_op::Op::Set(pb::FieldValue {
                        kind: Some(field_value::Kind::Ticket(pb::TicketField { value: None })),
                    })),
                });
                format!("{op_path}.set.ticket.value")
            }
            Corruption::UnknownPriority => {
                replace(ticket_op(ticket_field::Value::Priority(42)));
                format!("{op_path}.set.ticket.priority")
            }
            Corruption::UnspecifiedVisibility => {
                replace(comment_op(0, "hello".into()));
                format!("{op_path}.add_comment.visibility")
            }
            Corruption::HugeCommentBody => {
                replace(comment_op(
                    Visibility::Federation.to_wire(),
                    "x".repeat(17 * 1024),
                ));
                format!("{op_path}.add_comment.body")
            }
            Corruption::ClosedReopened => {
                replace(ticket_op(ticket_field::Value::Status(
                    pb::StatusTransition {
                        from: pb::TicketStatus::Closed as i32,
                        to: pb::TicketStatus::InProgress as i32,
                    },
                )));
                format!("{op_path}.set.ticket.status")
            }
            Corruption::ArticleFieldOnTicket => {
                replace(pb::FieldOp {
                    op: Some(field_op::Op::Set(pb::FieldValue {
                        kind: Some(field_value::Kind::Article(pb::ArticleField {
                            value: Some(pb::article_field::Value::Title("VPN".into())),
                        })),
                    })),
                });
                format!("{op_path}.set")
            }
            Corruption::NumberMismatch => {
                replace(ticket_op(ticket_field::Value::PublicNumber(
                    "ASZ-2026-999999".into(),
                )));
                format!("{op_path}.set.ticket.public_number")
            }
            Corruption::BadFocusTeam => {
                replace(ticket_op(ticket_field::Value::FocusTeam(
                    "Finance & HR".into(),
                )));
                format!("{op_path}.set.ticket.focus_team")
            }
            Corruption::DuplicateField => {
                let op = change.ops[i].clone();
                change.ops.push(op);
                format!("change.ops[{}]", change.ops.len() - 1)
            }
            Corruption::NulInSubject => {
                replace(ticket_op(ticket_field::Value::Subject("VPN\0down".into())));
                format!("{op_path}.set.ticket.subject")
            }
            Corruption::NewlineInCustomerRef => {
                replace(ticket_op(ticket_field::Value::CustomerRef(
                    "E-1\nE-2".into(),
                )));
                format!("{op_path}.set.ticket.customer_ref")
            }
            Corruption::DelInCommentBody => {
                replace(comment_op(
                    Visibility::Federation.to_wire(),
                    "multi\nline\tis fine, \u{7f} is not".into(),
                ));
                format!("{op_path}.add_comment.body")
            }
            Corruption::C1InDeleteReason => {
                replace(pb::FieldOp {
                    op: Some(field_op::Op::Delete(pb::DeleteEntity {
                        reason: "duplicate\u{9b}2J".into(),
                    })),
                });
                format!("{op_path}.delete.reason")
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// A valid change survives domain -> wire -> domain unchanged.
    #[test]
    fn valid_changes_round_trip(change in common::change()) {
        let wire = pb::Change::from(change.clone());
        prop_assert_eq!(Change::try_from(wire), Ok(change));
    }

    /// Every corruption of a valid change is refused with an error naming its field.
    #[test]
    fn invalid_changes_name_their_field(
        change in common::change(),
        corruption in prop::sample::select(Corruption::ALL.to_vec()),
        index in any::<prop::sample::Index>(),
    ) {
        let mut wire = pb::Change::from(change);
        let i = index.index(wire.ops.len());
        let expected = corruption.apply(&mut wire, i);
        let err = Change::try_from(wire).expect_err("a corrupted change must be refused");
        prop_assert_eq!(err.field(), Some(expected.as_str()), "{}", err);
        prop_assert!(!err.to_string().is_empty());
    }

    /// A control character anywhere in a subject is refused at its byte position, whatever
    /// printable text surrounds it; the same text without it passes.
    #[test]
    fn control_characters_anywhere_are_refused(
        change in common::change(),
        text in "[^\\p{Cc}]{0,40}",
        control in prop::sample::select(
            (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32).collect::<Vec<_>>()
        ),
        cut in any::<prop::sample::Index>(),
        index in any::<prop::sample::Index>(),
    ) {
        let mut wire = pb::Change::from(change);
        let i = index.index(wire.ops.len());
        let at = text
            .char_indices()
            .map(|(at, _)| at)
            .chain(std::iter::once(text.len()))
            .nth(cut.index(text.chars().count() + 1))
            .unwrap_or(text.len());
        let mut bad = text.clone();
        bad.insert(at, control);
        wire.ops[i] = ticket_op(ticket_field::Value::Subject(bad));
        let err = Change::try_from(wire.clone()).expect_err("a control character must be refused");
        let is_character = matches!(&err, Error::Character { at: found, .. } if *found == at);
        prop_assert!(is_character, "{}", err);
        let expected = format!("change.ops[{i}].set.ticket.subject");
        prop_assert_eq!(err.field(), Some(expected.as_str()));
        wire.ops[i] = ticket_op(ticket_field::Value::Subject(text));
        let fine = Change::try_from(wire);
        let refused_for_characters = matches!(fine, Err(Error::Character { .. }));
        prop_assert!(!refused_for_characters, "{:?}", fine);
    }

    /// Merged states (snapshot items) survive domain -> wire -> domain unchanged.
    #[test]
    fn states_round_trip(history in common::history()) {
        let mut replica = Replica::default();
        for change in &history {
            replica.apply(change);
        }
        for state in replica.entities.into_values() {
            let wire = pb::EntityState::from(state.clone());
            prop_assert_eq!(EntityState::try_from(wire), Ok(state));
        }
    }
}

/// A state message that smuggles an article field into a ticket's state is refused by path.
#[test]
fn state_with_foreign_field_is_refused() {
    let wire = pb::EntityState {
        key: Some(pb::EntityKey {
            kind: EntityKind::Ticket.to_wire(),
            id: "ASZ-2026-000001".into(),
        }),
        registers: vec![pb::Register {
            stamp: Some(pb::Stamp {
                hlc: Some(pb::Hlc {
                    wall_ms: 1,
                    logical: 0,
                }),
                site: "munich".into(),
            }),
            value: Some(pb::FieldValue {
                kind: Some(field_value::Kind::Article(pb::ArticleField {
                    value: Some(pb::article_field::Value::Version(3)),
                })),
            }),
            superseded: vec![],
        }],
        comments: vec![],
        call_events: vec![],
        deleted: None,
    };
    let err = EntityState::try_from(wire).unwrap_err();
    assert_eq!(err.field(), Some("state.registers[0].value"), "{err}");
}

/// The error text says what is allowed, so an integrator can fix the call without the docs.
#[test]
fn enum_errors_list_the_allowed_values() {
    let mut wire = pb::Change::from(Change {
        key: hotline_federation::EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
        ops: vec![hotline_federation::FieldOp::Delete { reason: "x".into() }],
        origin_site: "dortmund".into(),
        origin_seq: 1,
        hlc: hotline_federation::Hlc::new(1, 0),
    });
    wire.ops[0] = ticket_op(ticket_field::Value::Priority(42));
    let err = Change::try_from(wire).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }));
    assert!(
        err.to_string()
            .contains("allowed: low, normal, high, critical"),
        "{err}"
    );
}

/// A 1 MiB id is refused with a message under 300 bytes that still names the field, so a
/// default client can read the answer instead of getting a 1 MiB echo.
#[test]
fn huge_ids_get_short_errors_naming_the_field() {
    let mut wire = pb::Change::from(Change {
        key: hotline_federation::EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
        ops: vec![hotline_federation::FieldOp::Delete { reason: "x".into() }],
        origin_site: "dortmund".into(),
        origin_seq: 1,
        hlc: hotline_federation::Hlc::new(1, 0),
    });
    let huge = "\0".repeat(1024 * 1024);
    wire.key.as_mut().unwrap().id = huge.clone();
    let err = Change::try_from(wire.clone()).unwrap_err();
    assert_eq!(err.field(), Some("change.key.id"), "{err}");
    assert!(
        err.to_string().len() < 300,
        "{} bytes",
        err.to_string().len()
    );

    wire.key.as_mut().unwrap().id = "ASZ-2026-000001".into();
    wire.origin_site = huge.clone();
    let err = Change::try_from(wire.clone()).unwrap_err();
    assert_eq!(err.field(), Some("change.origin_site"), "{err}");
    assert!(
        err.to_string().len() < 300,
        "{} bytes",
        err.to_string().len()
    );

    wire.origin_site = "dortmund".into();
    wire.ops[0] = ticket_op(ticket_field::Value::Priority(42));
    wire.ops.push(pb::FieldOp {
        op: Some(field_op::Op::AddComment(pb::Comment {
            id: huge,
            author_alias: "a".into(),
            author_tenant: "helpbycom".into(),
            visibility: Visibility::Public.to_wire(),
            body: "b".into(),
            created_at_ms: 1,
            attachments: Vec::new(),
        })),
    });
    wire.ops.remove(0);
    let err = Change::try_from(wire).unwrap_err();
    assert_eq!(err.field(), Some("change.ops[0].add_comment.id"), "{err}");
    assert!(
        err.to_string().len() < 300,
        "{} bytes",
        err.to_string().len()
    );
}
