//! Tests of `change`.

use super::*;
use crate::model::Visibility;

fn ticket_change(ops: Vec<FieldOp>) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, "ASZ-2026-000001"),
        ops,
        origin_site: "dortmund".into(),
        origin_seq: 1,
        hlc: Hlc::new(1, 0),
    }
}

fn comment(body: &str) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: "c1".into(),
        author_alias: "Advisor 7".into(),
        author_tenant: "twenty4help".into(),
        visibility: Visibility::Public,
        body: body.into(),
        created_at_ms: 1,
        attachments: Vec::new(),
    })
}

/// A NUL in a subject is refused naming the field, the character, its position and what
/// is allowed, so it is never stored and copied to every site.
#[test]
fn nul_in_a_subject_is_refused_naming_the_field() {
    let change = ticket_change(vec![FieldOp::Set(FieldValue::Ticket(
        TicketField::Subject("VPN\0down".into()),
    ))]);
    let err = change.validate().expect_err("a NUL must be refused");
    assert_eq!(
        err.field(),
        Some("change.ops[0].set.ticket.subject"),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("U+0000 (a control character) at byte 3"),
        "{message}"
    );
    assert!(
        message.contains("allowed: printable text on one line"),
        "{message}"
    );
}

/// A comment body may span lines; its author alias may not.
#[test]
fn comment_body_spans_lines_but_alias_does_not() {
    ticket_change(vec![comment("first\r\nsecond\tthird")])
        .validate()
        .expect("a multi-line body is fine");
    let mut op = comment("fine");
    if let FieldOp::AddComment(c) = &mut op {
        c.author_alias = "Advisor\n7".into();
    }
    let err = ticket_change(vec![op]).validate().unwrap_err();
    assert_eq!(
        err.field(),
        Some("change.ops[0].add_comment.author_alias"),
        "{err}"
    );
}

/// List entries (tags, forbidden terms) are one-line text and are checked by index.
#[test]
fn list_entries_are_checked_by_index() {
    let err = check_list("tags", &["vpn".into(), "bad\u{7f}".into()]).unwrap_err();
    assert_eq!(err.field(), Some("tags[1]"), "{err}");
}
