//! Unit tests of the customer view: only public history, signed by the brand, and nothing that
//! tells which partner or site handled the ticket.

use super::*;
use crate::change::{Change, FieldOp};
use crate::clock::Hlc;
use crate::model::{Comment, EntityKey, StatusTransition};

const NUMBER: &str = "ASZ-2026-000017";

fn brand() -> Brand {
    Brand {
        display_name: "ASZ IT-Hotline".to_owned(),
        signature: "Ihr IT-Hotline-Team".to_owned(),
        ..Brand::default()
    }
}

fn change(site: &str, wall: u64, ops: Vec<FieldOp>) -> Change {
    Change {
        key: EntityKey::new(EntityKind::Ticket, NUMBER),
        ops,
        origin_site: site.to_owned(),
        origin_seq: wall,
        hlc: Hlc::new(wall, 0),
    }
}

fn set(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

fn comment(id: &str, alias: &str, tenant: &str, visibility: Visibility, at: u64) -> FieldOp {
    FieldOp::AddComment(Comment {
        id: id.to_owned(),
        author_alias: alias.to_owned(),
        author_tenant: tenant.to_owned(),
        visibility,
        body: format!("text of {id}"),
        created_at_ms: at,
        attachments: Vec::new(),
    })
}

/// A ticket opened in Dortmund by a partner, handled in Erfurt, with comments of every
/// visibility and a customer reply.
fn ticket() -> EntityState {
    let mut state = EntityState::new(EntityKey::new(EntityKind::Ticket, NUMBER));
    state.apply(&change(
        "dortmund",
        10,
        vec![
            set(TicketField::PublicNumber(NUMBER.to_owned())),
            set(TicketField::Status(StatusTransition {
                from: None,
                to: TicketStatus::New,
            })),
            set(TicketField::OpenedAt(1_000)),
            set(TicketField::Subject("VPN down at Twenty4Help".to_owned())),
            set(TicketField::HandlingSite("erfurt".to_owned())),
            set(TicketField::AssigneeAlias("t4h-017".to_owned())),
            set(TicketField::OriginTenant("twenty4help".to_owned())),
            set(TicketField::CustomerName("Erika Muster".to_owned())),
            comment("c3", "t4h-017", "twenty4help", Visibility::Public, 3_000),
            comment("c1", "t4h-017", "twenty4help", Visibility::Public, 2_000),
            comment(
                "c2",
                "t4h-017",
                "twenty4help",
                Visibility::Federation,
                2_500,
            ),
            comment("c4", "t4h-017", "twenty4help", Visibility::Tenant, 2_600),
        ],
    ));
    state.apply(&change(
        "erfurt",
        20,
        vec![comment(
            "c5",
            CUSTOMER_ALIAS,
            "inhouse",
            Visibility::Public,
            4_000,
        )],
    ));
    state
}

/// Only public comments appear, oldest first; agents' are signed by the brand and the
/// customer's own reply by "Sie".
#[test]
fn view_shows_public_history_signed_by_the_brand() {
    let view = customer_view(&ticket(), &brand(), Language::De).expect("live ticket");
    let bodies: Vec<&str> = view.messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["text of c1", "text of c3", "text of c5"]);
    let signed: Vec<&str> = view.messages.iter().map(|m| m.signed.as_str()).collect();
    assert_eq!(
        signed,
        ["Ihr IT-Hotline-Team", "Ihr IT-Hotline-Team", "Sie"]
    );
    assert_eq!(
        view.messages
            .iter()
            .map(|m| m.from_customer)
            .collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(view.public_number, NUMBER);
    assert_eq!(view.status, TicketStatus::New);
    assert_eq!(view.status_text, "Eingegangen");
    assert_eq!(view.opened_at_ms, 1_000);
    assert_eq!(view.language, Language::De);
}

/// Nothing of the handling partner reaches the view: no alias, tenant, site, subject or
/// customer name anywhere in it.
#[test]
fn view_names_no_partner_site_or_agent() {
    let view = customer_view(&ticket(), &brand(), Language::En).expect("live ticket");
    let shown = format!("{view:?}").to_lowercase();
    for hidden in [
        "t4h-017",
        "twenty4help",
        "erfurt",
        "dortmund",
        "vpn down",
        "erika",
    ] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
    assert_eq!(view.messages[2].signed, "You");
}

/// A blank signature signs with the display name, never with the agent.
#[test]
fn blank_signature_falls_back_to_display_name() {
    let brand = Brand {
        signature: String::new(),
        ..brand()
    };
    let view = customer_view(&ticket(), &brand, Language::De).expect("live ticket");
    assert_eq!(view.messages[0].signed, "ASZ IT-Hotline");
}

/// The resolution time shows while the ticket is resolved, and goes when it is reopened.
#[test]
fn resolved_time_shows_only_while_resolved() {
    let mut state = ticket();
    state.apply(&change(
        "erfurt",
        30,
        vec![
            set(TicketField::Status(StatusTransition {
                from: Some(TicketStatus::New),
                to: TicketStatus::Resolved,
            })),
            set(TicketField::ResolvedAt(9_000)),
        ],
    ));
    let view = customer_view(&state, &brand(), Language::En).expect("live");
    assert_eq!(
        (view.status_text.as_str(), view.resolved_at_ms),
        ("Resolved", Some(9_000))
    );
    state.apply(&change(
        "erfurt",
        40,
        vec![set(TicketField::Status(StatusTransition {
            from: Some(TicketStatus::Resolved),
            to: TicketStatus::InProgress,
        }))],
    ));
    let view = customer_view(&state, &brand(), Language::En).expect("live");
    assert_eq!(
        (view.status_text.as_str(), view.resolved_at_ms),
        ("Being worked on", None)
    );
}

/// A deleted ticket, an empty state and a non-ticket give no view: the status page answers as
/// for a missing ticket.
#[test]
fn deleted_empty_or_foreign_states_give_no_view() {
    let mut deleted = ticket();
    deleted.apply(&change(
        "munich",
        50,
        vec![FieldOp::Delete {
            reason: "duplicate".to_owned(),
        }],
    ));
    assert_eq!(customer_view(&deleted, &brand(), Language::De), None);
    let empty = EntityState::new(EntityKey::new(EntityKind::Ticket, NUMBER));
    assert_eq!(customer_view(&empty, &brand(), Language::De), None);
    let mut article = ticket();
    article.key = EntityKey::new(EntityKind::Article, "vpn");
    assert_eq!(customer_view(&article, &brand(), Language::De), None);
}

/// Every status has distinct customer words in both languages, so the page never shows a
/// status id like `waiting_on_customer`.
#[test]
fn status_texts_are_distinct_and_worded() {
    for language in Language::ALL {
        let texts: std::collections::BTreeSet<&str> = TicketStatus::ALL
            .iter()
            .map(|s| status_text(*s, *language))
            .collect();
        assert_eq!(texts.len(), TicketStatus::ALL.len(), "{language}");
        for status in TicketStatus::ALL {
            assert!(!texts.contains(status.as_str()), "{status}");
        }
    }
}

/// The view's own leak check finds a public comment that names a partner (written before the
/// guard knew the name), so the gateway can refuse to send it.
#[test]
fn view_check_finds_a_stored_leak() {
    let mut state = ticket();
    state.apply(&change(
        "erfurt",
        60,
        vec![FieldOp::AddComment(Comment {
            id: "c9".to_owned(),
            author_alias: "t4h-017".to_owned(),
            author_tenant: "twenty4help".to_owned(),
            visibility: Visibility::Public,
            body: "Grüße von Twenty 4 Help".to_owned(),
            created_at_ms: 5_000,
            attachments: Vec::new(),
        })],
    ));
    let view = customer_view(&state, &brand(), Language::De).expect("live");
    let guard = LeakGuard::new(["twenty4help".to_owned()], Vec::new()).expect("valid");
    let leak = view.check(&guard).expect_err("leak");
    assert_eq!(leak.field, "messages[3].body");
    let clean = customer_view(&ticket(), &brand(), Language::De).expect("live");
    assert_eq!(clean.check(&guard), Ok(()));
}
