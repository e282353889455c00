//! The ticket life cycle as a site writes it: what a new ticket holds, which ops an edit
//! becomes, the times that go with reaching a status, and how a site names its comments.
//! [`crate::status`] holds which status moves are allowed; [`crate::authority`] who may write
//! what. The adapter's API parses and maps the partner's vocabulary, then calls these.

use crate::authority::{current_status, focus_team};
use crate::change::FieldOp;
use crate::model::{
    Channel, Comment, FieldValue, Language, Priority, StatusTransition, TicketField, TicketStatus,
    Visibility,
};
use crate::state::EntityState;

/// A new ticket, in the federation's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTicket {
    /// The customer's stable reference.
    pub customer_ref: String,
    /// The focus team it belongs to.
    pub focus_team: String,
    /// Category.
    pub category: String,
    /// Priority.
    pub priority: Priority,
    /// The status it starts in (`new`, `in_progress`, or `resolved` for a call solved at once).
    pub status: TicketStatus,
    /// The customer's language.
    pub language: Language,
    /// The channel it came in on.
    pub channel: Channel,
    /// Whether it was solved in the first contact; unset means "resolved at creation".
    pub first_contact: Option<bool>,
    /// Optional text fields; customer data among them is written without the grant to read it.
    pub text: TicketText,
    /// The stored form of the customer's access code ([`crate::access::mint`]), if one was
    /// minted.
    pub access_code: Option<String>,
}

/// The free-text fields a site may set on creation and on edit; `None` leaves one as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketText {
    /// Subject line.
    pub subject: Option<String>,
    /// The handling agent's alias.
    pub assignee_alias: Option<String>,
    /// Customer name (PII).
    pub customer_name: Option<String>,
    /// Customer email (PII).
    pub customer_email: Option<String>,
    /// Customer phone (PII).
    pub customer_phone: Option<String>,
}

/// An edit of a ticket; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketEdit {
    /// New status.
    pub status: Option<TicketStatus>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New category.
    pub category: Option<String>,
    /// New focus team (in-house only; the current team again is no change).
    pub focus_team: Option<String>,
    /// New handling site.
    pub handling_site: Option<String>,
    /// First-contact resolution, as the agent judges it.
    pub first_contact: Option<bool>,
    /// Free-text fields.
    pub text: TicketText,
}

fn set(field: TicketField) -> FieldOp {
    FieldOp::Set(FieldValue::Ticket(field))
}

/// The ops that create ticket `number` at `site` of `tenant` at `now_ms`: every field the
/// federation expects of a new ticket (its number, creating tenant, opening time, handling
/// site) besides what the caller gave.
pub fn create_ops(
    ticket: NewTicket,
    number: &str,
    tenant: &str,
    site: &str,
    now_ms: u64,
) -> Vec<FieldOp> {
    let status = ticket.status;
    let mut ops = vec![
        set(TicketField::PublicNumber(number.to_owned())),
        set(TicketField::OriginTenant(tenant.to_owned())),
        set(TicketField::FocusTeam(ticket.focus_team)),
        set(TicketField::CustomerRef(ticket.customer_ref)),
        set(TicketField::Category(ticket.category)),
        set(TicketField::Priority(ticket.priority)),
        set(TicketField::Status(StatusTransition {
            from: None,
            to: status,
        })),
        set(TicketField::Language(ticket.language)),
        set(TicketField::Channel(ticket.channel)),
        set(TicketField::OpenedAt(now_ms)),
        set(TicketField::HandlingSite(site.to_owned())),
        set(TicketField::FirstContact(
            ticket
                .first_contact
                .unwrap_or(status == TicketStatus::Resolved),
        )),
    ];
    times_of(status, false, now_ms, &mut ops);
    text_ops(ticket.text, &mut ops);
    ops.extend(
        ticket
            .access_code
            .map(|code| set(TicketField::AccessCode(code))),
    );
    ops
}

/// The ops of `edit` against the ticket as it is (`before`) at `now_ms`. Values equal to the
/// current ones (status, focus team) are no change; an empty list means nothing changes.
pub fn edit_ops(before: &EntityState, edit: TicketEdit, now_ms: u64) -> Vec<FieldOp> {
    let mut ops = Vec::new();
    if let Some(to) = edit.status {
        let from = current_status(before);
        if from != Some(to) {
            ops.push(set(TicketField::Status(StatusTransition { from, to })));
            status_times(before, to, now_ms, &mut ops);
        }
    }
    ops.extend(edit.priority.map(|p| set(TicketField::Priority(p))));
    ops.extend(edit.category.map(|c| set(TicketField::Category(c))));
    // The current team again is no change (and a partner may not write it at all).
    let team = edit
        .focus_team
        .filter(|team| focus_team(before) != Some(team.as_str()));
    ops.extend(team.map(|t| set(TicketField::FocusTeam(t))));
    ops.extend(
        edit.handling_site
            .map(|s| set(TicketField::HandlingSite(s))),
    );
    text_ops(edit.text, &mut ops);
    ops.extend(
        edit.first_contact
            .map(|f| set(TicketField::FirstContact(f))),
    );
    ops
}

/// Adds the ops that go with reaching status `to`: the first answer time (once, on the first
/// move to in progress or resolved) and the resolution time.
pub fn status_times(before: &EntityState, to: TicketStatus, now_ms: u64, ops: &mut Vec<FieldOp>) {
    let answered = before.registers.contains_key("first_answer_at_ms");
    times_of(to, answered, now_ms, ops);
}

fn times_of(to: TicketStatus, answered: bool, now_ms: u64, ops: &mut Vec<FieldOp>) {
    if matches!(to, TicketStatus::InProgress | TicketStatus::Resolved) && !answered {
        ops.push(set(TicketField::FirstAnswerAt(now_ms)));
    }
    if to == TicketStatus::Resolved {
        ops.push(set(TicketField::ResolvedAt(now_ms)));
    }
}

fn text_ops(text: TicketText, ops: &mut Vec<FieldOp>) {
    let fields = [
        (
            text.subject,
            TicketField::Subject as fn(String) -> TicketField,
        ),
        (text.assignee_alias, TicketField::AssigneeAlias),
        (text.customer_name, TicketField::CustomerName),
        (text.customer_email, TicketField::CustomerEmail),
        (text.customer_phone, TicketField::CustomerPhone),
    ];
    for (value, field) in fields {
        ops.extend(value.map(|v| set(field(v))));
    }
}

/// A comment written at `site` of `tenant` by its change number `seq`: its id is
/// `<site>-<seq>`, the form the authority requires of a site's comment ids.
pub fn new_comment(
    site: &str,
    tenant: &str,
    seq: u64,
    author_alias: String,
    visibility: Visibility,
    body: String,
    now_ms: u64,
) -> Comment {
    Comment {
        id: format!("{site}-{seq}"),
        author_alias,
        author_tenant: tenant.to_owned(),
        visibility,
        body,
        created_at_ms: now_ms,
        attachments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authority::id_of_site;
    use crate::change::Change;
    use crate::clock::Hlc;
    use crate::model::{EntityKey, EntityKind};

    fn new_ticket(status: TicketStatus) -> NewTicket {
        NewTicket {
            customer_ref: "H-1".into(),
            focus_team: "finance-hr".into(),
            category: "vpn".into(),
            priority: Priority::Normal,
            status,
            language: Language::De,
            channel: Channel::Phone,
            first_contact: None,
            text: TicketText {
                subject: Some("VPN drops".into()),
                ..TicketText::default()
            },
            access_code: None,
        }
    }

    fn applied(ops: Vec<FieldOp>, before: &EntityState, wall_ms: u64) -> EntityState {
        let change = Change {
            key: EntityKey::new(EntityKind::Ticket, "HD-2026-000001"),
            ops,
            origin_site: "dortmund".into(),
            origin_seq: wall_ms,
            hlc: Hlc {
                wall_ms,
                logical: 0,
            },
        };
        change
            .validate()
            .expect("the life cycle writes valid changes");
        let mut after = before.clone();
        after.apply(&change);
        after
    }

    fn empty() -> EntityState {
        EntityState::new(EntityKey::new(EntityKind::Ticket, "HD-2026-000001"))
    }

    fn has(state: &EntityState, register: &str) -> bool {
        state.registers.contains_key(register)
    }

    /// A new ticket carries what the federation expects; a call solved at once counts as a
    /// first-contact resolution with its answer and resolution times.
    #[test]
    fn a_new_ticket_is_complete() {
        let open = applied(
            create_ops(
                new_ticket(TicketStatus::New),
                "HD-2026-000001",
                "t4h",
                "dortmund",
                10,
            ),
            &empty(),
            10,
        );
        assert_eq!(current_status(&open), Some(TicketStatus::New));
        assert_eq!(focus_team(&open), Some("finance-hr"));
        for register in ["origin_tenant", "opened_at_ms", "handling_site", "subject"] {
            assert!(has(&open, register), "{register} missing");
        }
        assert!(!has(&open, "first_answer_at_ms"));
        assert_eq!(
            open.value("first_contact"),
            Some(&FieldValue::Ticket(TicketField::FirstContact(false)))
        );

        let solved = applied(
            create_ops(
                new_ticket(TicketStatus::Resolved),
                "HD-2026-000001",
                "t4h",
                "dortmund",
                10,
            ),
            &empty(),
            10,
        );
        assert!(has(&solved, "first_answer_at_ms") && has(&solved, "resolved_at_ms"));
        assert_eq!(
            solved.value("first_contact"),
            Some(&FieldValue::Ticket(TicketField::FirstContact(true)))
        );
    }

    /// The first answer time is set once; the current status or team again is no change.
    #[test]
    fn edits_write_only_what_changes() {
        let open = applied(
            create_ops(
                new_ticket(TicketStatus::New),
                "HD-2026-000001",
                "t4h",
                "dortmund",
                10,
            ),
            &empty(),
            10,
        );
        let same = TicketEdit {
            status: Some(TicketStatus::New),
            focus_team: Some("finance-hr".into()),
            ..TicketEdit::default()
        };
        assert!(edit_ops(&open, same, 20).is_empty());

        let start = TicketEdit {
            status: Some(TicketStatus::InProgress),
            ..TicketEdit::default()
        };
        let working = applied(edit_ops(&open, start, 20), &open, 20);
        assert_eq!(
            working.value("first_answer_at_ms"),
            Some(&FieldValue::Ticket(TicketField::FirstAnswerAt(20)))
        );
        let resolve = TicketEdit {
            status: Some(TicketStatus::Resolved),
            ..TicketEdit::default()
        };
        let ops = edit_ops(&working, resolve, 30);
        assert!(
            !ops.iter().any(|op| matches!(
                op,
                FieldOp::Set(FieldValue::Ticket(TicketField::FirstAnswerAt(_)))
            )),
            "the first answer time is written once: {ops:?}"
        );
        assert!(ops.contains(&set(TicketField::ResolvedAt(30))));
        let moved = TicketEdit {
            focus_team: Some("plants".into()),
            text: TicketText {
                customer_name: Some("Erika".into()),
                ..TicketText::default()
            },
            ..TicketEdit::default()
        };
        assert_eq!(
            edit_ops(&working, moved, 40),
            [
                set(TicketField::FocusTeam("plants".into())),
                set(TicketField::CustomerName("Erika".into())),
            ]
        );
    }

    /// A site's comment ids have the form the authority requires.
    #[test]
    fn comment_ids_carry_the_site() {
        let comment = new_comment(
            "berlin-mitte",
            "inhouse",
            7,
            "ak".into(),
            Visibility::Tenant,
            "note".into(),
            5,
        );
        assert_eq!(comment.id, "berlin-mitte-7");
        assert!(id_of_site(&comment.id, "berlin-mitte"));
    }
}
