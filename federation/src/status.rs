//! The ticket status state machine: which transitions a single change may make.
//!
//! A change carries the status its writer saw and the one it asks for, so each change is checked
//! on its own. Merge stays last-writer-wins: two sites that both move a ticket on from the same
//! status converge on the later write, and both writes stay in the register's history.

use crate::error::{Error, Result};
use crate::model::{StatusTransition, TicketStatus};

/// The statuses a ticket may move to from `from` (`None`: the ticket is being created).
pub fn allowed_after(from: Option<TicketStatus>) -> &'static [TicketStatus] {
    use TicketStatus::*;
    match from {
        // A call solved while the customer is still on the line is recorded as resolved.
        None => &[New, InProgress, Resolved],
        Some(New) => &[InProgress, Escalated, Resolved, Closed],
        Some(InProgress) => &[WaitingOnCustomer, Escalated, Resolved],
        Some(WaitingOnCustomer) => &[InProgress, Resolved, Closed],
        Some(Escalated) => &[InProgress, Resolved],
        Some(Resolved) => &[Closed, InProgress],
        Some(Closed) => &[],
    }
}

/// Checks one transition; the error names `field` and lists what is allowed.
pub fn check_transition(field: &str, transition: StatusTransition) -> Result<()> {
    let allowed = allowed_after(transition.from);
    if allowed.contains(&transition.to) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
    Err(Error::Transition {
        field: field.to_owned(),
        from: transition
            .from
            .map_or("none", TicketStatus::as_str)
            .to_owned(),
        to: transition.to.as_str().to_owned(),
        allowed: if names.is_empty() {
            "nothing (final)".to_owned()
        } else {
            names.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed ticket cannot be reopened; the message says the status is final.
    #[test]
    fn closed_is_final() {
        let err = check_transition(
            "status",
            StatusTransition {
                from: Some(TicketStatus::Closed),
                to: TicketStatus::InProgress,
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("nothing (final)"), "{err}");
    }

    /// Every status except closed can still be left, so no ticket gets stuck by accident.
    #[test]
    fn only_closed_is_terminal() {
        for status in TicketStatus::ALL {
            let terminal = allowed_after(Some(*status)).is_empty();
            assert_eq!(terminal, *status == TicketStatus::Closed, "{status}");
        }
    }

    /// A ticket is created as new, in progress or resolved, never straight to closed.
    #[test]
    fn creation_cannot_close() {
        let create = |to| check_transition("s", StatusTransition { from: None, to });
        assert!(create(TicketStatus::New).is_ok());
        assert!(create(TicketStatus::Resolved).is_ok());
        assert!(create(TicketStatus::Closed).is_err());
    }
}
