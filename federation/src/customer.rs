//! What the customer sees of a ticket: the content of the status page (DESIGN.md section 6),
//! pure. The view holds the public number, the status in the customer's words, when the ticket
//! was opened and resolved, and the public history signed by the brand. Nothing else of the
//! ticket reaches it: no subject, category, focus team, handling site, author tenant, agent
//! alias or customer data.

use crate::brand::Brand;
use crate::leak::{Leak, LeakGuard};
use crate::model::{EntityKind, FieldValue, Language, TicketField, TicketStatus, Visibility};
use crate::state::EntityState;

/// The `author_alias` of a comment the customer wrote (a reply on the status page).
pub const CUSTOMER_ALIAS: &str = "customer";

/// A ticket as the customer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerView {
    /// The public ticket number.
    pub public_number: String,
    /// Where the ticket stands.
    pub status: TicketStatus,
    /// The status in the customer's words ([`status_text`]).
    pub status_text: String,
    /// When the ticket was opened (ms; 0 when not recorded).
    pub opened_at_ms: u64,
    /// When it was resolved, while it is resolved or closed.
    pub resolved_at_ms: Option<u64>,
    /// The language of the texts.
    pub language: Language,
    /// The public history, oldest first.
    pub messages: Vec<CustomerMessage>,
}

/// One public message of a ticket's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerMessage {
    /// True for the customer's own replies.
    pub from_customer: bool,
    /// Who it is signed by: the brand's signer, or "Sie"/"You" for the customer's replies.
    pub signed: String,
    /// The text.
    pub body: String,
    /// When it was written (ms).
    pub at_ms: u64,
    /// The files the message carries (the status page links them by digest, never by the
    /// comment's id, which names a site).
    pub files: Vec<crate::attachment::AttachmentRef>,
}

impl CustomerView {
    /// Runs the leak guard over every text of the view (fields `status_text`,
    /// `messages[i].signed`, `messages[i].body` and the files' names): the gateway's last
    /// check before the view
    /// leaves.
    pub fn check(&self, guard: &LeakGuard) -> Result<(), Leak> {
        guard.check("public_number", &self.public_number)?;
        guard.check("status_text", &self.status_text)?;
        for (i, message) in self.messages.iter().enumerate() {
            guard.check(&format!("messages[{i}].signed"), &message.signed)?;
            guard.check(&format!("messages[{i}].body"), &message.body)?;
            for (j, file) in message.files.iter().enumerate() {
                guard.check(
                    &format!("messages[{i}].files[{j}].filename"),
                    &file.filename,
                )?;
            }
        }
        Ok(())
    }
}

/// The status in the customer's words.
pub fn status_text(status: TicketStatus, language: Language) -> &'static str {
    use TicketStatus::*;
    match (language, status) {
        (Language::De, New) => "Eingegangen",
        (Language::De, InProgress) => "In Bearbeitung",
        (Language::De, WaitingOnCustomer) => "Wartet auf Ihre Antwort",
        (Language::De, Escalated) => "Bei unseren Spezialisten in Bearbeitung",
        (Language::De, Resolved) => "Gelöst",
        (Language::De, Closed) => "Abgeschlossen",
        (Language::En, New) => "Received",
        (Language::En, InProgress) => "Being worked on",
        (Language::En, WaitingOnCustomer) => "Waiting for your reply",
        (Language::En, Escalated) => "Being worked on by our specialists",
        (Language::En, Resolved) => "Resolved",
        (Language::En, Closed) => "Closed",
    }
}

/// How the customer's own replies are signed.
fn you(language: Language) -> &'static str {
    match language {
        Language::De => "Sie",
        Language::En => "You",
    }
}

/// The customer's view of a ticket in `language`; `None` for anything but a live ticket (a
/// deleted, empty or non-ticket state). A ticket whose status has not arrived yet shows as new.
pub fn customer_view(
    ticket: &EntityState,
    brand: &Brand,
    language: Language,
) -> Option<CustomerView> {
    if ticket.key.kind != EntityKind::Ticket || ticket.deleted.is_some() || ticket.is_empty() {
        return None;
    }
    let field = |register: &str| match ticket.value(register) {
        Some(FieldValue::Ticket(field)) => Some(field),
        _ => None,
    };
    let public_number = match field("public_number") {
        Some(TicketField::PublicNumber(number)) => number.clone(),
        _ => ticket.key.id.clone(),
    };
    let status = match field("status") {
        Some(TicketField::Status(transition)) => transition.to,
        _ => TicketStatus::New,
    };
    let opened_at_ms = match field("opened_at_ms") {
        Some(TicketField::OpenedAt(at)) => *at,
        _ => 0,
    };
    let resolved_at_ms = match (status, field("resolved_at_ms")) {
        (TicketStatus::Resolved | TicketStatus::Closed, Some(TicketField::ResolvedAt(at))) => {
            Some(*at)
        }
        _ => None,
    };
    let mut public: Vec<_> = ticket
        .comments
        .values()
        .filter(|c| c.value.visibility == Visibility::Public)
        .collect();
    public.sort_by(|a, b| {
        (a.value.created_at_ms, &a.stamp, &a.value.id).cmp(&(
            b.value.created_at_ms,
            &b.stamp,
            &b.value.id,
        ))
    });
    let messages = public
        .into_iter()
        .map(|stamped| {
            let comment = &stamped.value;
            let from_customer = comment.author_alias == CUSTOMER_ALIAS;
            let signed = if from_customer {
                you(language)
            } else {
                brand.signer()
            };
            CustomerMessage {
                from_customer,
                signed: signed.to_owned(),
                body: comment.body.clone(),
                at_ms: comment.created_at_ms,
                files: comment.attachments.clone(),
            }
        })
        .collect();
    Some(CustomerView {
        public_number,
        status,
        status_text: status_text(status, language).to_owned(),
        opened_at_ms,
        resolved_at_ms,
        language,
        messages,
    })
}

#[cfg(test)]
mod tests;
