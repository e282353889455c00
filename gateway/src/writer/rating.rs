//! A customer's rating from the status page: written by the gateway itself into the ticket's
//! in-house-only `rating` register, once per ticket and only once the ticket is resolved.

use hotline_federation::FieldOp;
use hotline_federation::authority::{Refusal, Rule, current_status};
use hotline_federation::model::{
    CustomerRating, EntityKind, FieldValue, TicketField, TicketStatus,
};

use super::{CustomerRatingRequest, Group, Outcome, Writer};
use crate::error::Result;

impl Writer {
    pub(super) fn process_rating(
        &mut self,
        group: &mut Group,
        request: &CustomerRatingRequest,
    ) -> Result<Outcome> {
        let before = self.load(group, &request.ticket)?;
        let refuse = |rule, message: String| Ok(Outcome::Rejected(Refusal::new(rule, message)));
        if request.ticket.kind != EntityKind::Ticket
            || before.is_empty()
            || before.deleted.is_some()
        {
            return refuse(
                Rule::DeleteIsFinal,
                format!(
                    "ticket {} is missing or deleted; a rating needs a live ticket",
                    request.ticket.id
                ),
            );
        }
        if !matches!(
            current_status(&before),
            Some(TicketStatus::Resolved | TicketStatus::Closed)
        ) {
            return refuse(
                Rule::RatingByCustomer,
                format!(
                    "ticket {} is not resolved yet; it can be rated once resolved",
                    request.ticket.id
                ),
            );
        }
        if before.registers.contains_key("rating") {
            return refuse(
                Rule::RatingByCustomer,
                format!(
                    "ticket {} is rated already; one rating per ticket",
                    request.ticket.id
                ),
            );
        }
        if let Err(leak) = group.face.guard.check("rating.remark", &request.remark) {
            return refuse(Rule::CustomerTextClean, leak.to_string());
        }
        let rating = CustomerRating {
            score: request.score,
            remark: request.remark.clone(),
            at_ms: request.at_ms,
        };
        self.process_seed(
            group,
            request.ticket.clone(),
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::Rating(
                rating,
            )))],
        )
    }
}
