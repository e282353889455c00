//! A customer's rating from the status page: written by the gateway itself into the ticket's
//! in-house-only `rating` register, once per ticket and only once the ticket is resolved.

use hotline_federation::FieldOp;
use hotline_federation::authority::{Refusal, Rule, current_status};
use hotline_federation::model::{
    CustomerRating, EntityKind, FieldValue, TicketField, TicketStatus,
};

use super::{CUSTOMER_SITE, CustomerRatingRequest, Group, Outcome, Receipted, Writer};
use crate::error::Result;

impl Writer {
    pub(super) fn process_rating(
        &mut self,
        group: &mut Group,
        request: &CustomerRatingRequest,
    ) -> Result<Receipted> {
        let before = self.load(group, &request.ticket)?;
        if request.ticket.kind != EntityKind::Ticket
            || before.is_empty()
            || before.deleted.is_some()
        {
            return Ok(self.refuse(
                group,
                request,
                Rule::DeleteIsFinal,
                format!(
                    "ticket {} is missing or deleted; a rating needs a live ticket",
                    request.ticket.id
                ),
            ));
        }
        if !matches!(
            current_status(&before),
            Some(TicketStatus::Resolved | TicketStatus::Closed)
        ) {
            return Ok(self.refuse(
                group,
                request,
                Rule::RatingByCustomer,
                format!(
                    "ticket {} is not resolved yet; it can be rated once resolved",
                    request.ticket.id
                ),
            ));
        }
        if before.registers.contains_key("rating") {
            return Ok(self.refuse(
                group,
                request,
                Rule::RatingByCustomer,
                format!(
                    "ticket {} is rated already; one rating per ticket",
                    request.ticket.id
                ),
            ));
        }
        if let Err(leak) = group.face().guard.check("rating.remark", &request.remark) {
            return Ok(self.refuse(group, request, Rule::CustomerTextClean, leak.to_string()));
        }
        let rating = CustomerRating {
            score: request.score,
            remark: request.remark.clone(),
            at_ms: request.at_ms,
        };
        // Released before the write, so the ticket is changed in place, not copied.
        drop(before);
        self.process_seed(
            group,
            CUSTOMER_SITE,
            "status_page.rating",
            request.ticket.clone(),
            vec![FieldOp::Set(FieldValue::Ticket(TicketField::Rating(
                rating,
            )))],
        )
    }

    /// A refused rating, recorded without its score or remark.
    fn refuse(
        &self,
        group: &mut Group,
        request: &CustomerRatingRequest,
        rule: Rule,
        message: String,
    ) -> Receipted {
        let refusal = Refusal::new(rule, message);
        let receipt = self.record_refusal(
            group,
            CUSTOMER_SITE,
            "status_page.rating.refused",
            &request.ticket,
            &refusal,
        );
        (Outcome::Rejected(refusal), Some(receipt))
    }
}
