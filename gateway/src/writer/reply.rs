//! A customer's reply from the status page: written by the gateway itself as a public comment
//! of the ticket, with an id from the gateway's own durable sequence (`customer-<n>`), so it
//! is unique across restarts and can never clash with a site's `<site>-<n>`.

use hotline_federation::FieldOp;
use hotline_federation::authority::{Refusal, Rule};
use hotline_federation::customer::CUSTOMER_ALIAS;
use hotline_federation::ids::INHOUSE;
use hotline_federation::model::{Comment, EntityKind, Visibility};

use super::{CUSTOMER_SITE, CustomerReply, Group, Outcome, Receipted, Writer};
use crate::error::Result;

impl Writer {
    pub(super) fn process_reply(
        &mut self,
        group: &mut Group,
        reply: &CustomerReply,
    ) -> Result<Receipted> {
        let before = self.load(group, &reply.ticket)?;
        if reply.ticket.kind != EntityKind::Ticket || before.is_empty() || before.deleted.is_some()
        {
            let refusal = Refusal::new(
                Rule::DeleteIsFinal,
                format!(
                    "ticket {} is missing or deleted; a reply needs a live ticket",
                    reply.ticket.id
                ),
            );
            return Ok(self.refuse_reply(group, reply, refusal));
        }
        if hotline_federation::erasure::erased(&before) {
            let refusal = Refusal::new(
                Rule::ErasureByStaff,
                format!(
                    "ticket {}'s customer data was erased; it takes no replies any more",
                    reply.ticket.id
                ),
            );
            return Ok(self.refuse_reply(group, reply, refusal));
        }
        if let Err(leak) = group.face().guard.check("reply.body", &reply.body) {
            let refusal = Refusal::new(Rule::CustomerTextClean, leak.to_string());
            return Ok(self.refuse_reply(group, reply, refusal));
        }
        // `process_seed` numbers the change with the next seed sequence number; the comment
        // takes the same number.
        let comment = Comment {
            id: format!("{CUSTOMER_SITE}-{}", group.seed_seq + 1),
            author_alias: CUSTOMER_ALIAS.into(),
            // The gateway, run in-house, writes it on the customer's behalf.
            author_tenant: INHOUSE.into(),
            visibility: Visibility::Public,
            body: reply.body.clone(),
            created_at_ms: reply.at_ms,
            attachments: Vec::new(),
        };
        // Released before the write, so the ticket is changed in place, not copied.
        drop(before);
        self.process_seed(
            group,
            CUSTOMER_SITE,
            "status_page.reply",
            reply.ticket.clone(),
            vec![FieldOp::AddComment(comment)],
        )
    }

    /// A refused reply, recorded without its text.
    fn refuse_reply(
        &self,
        group: &mut Group,
        reply: &CustomerReply,
        refusal: Refusal,
    ) -> Receipted {
        let receipt = self.record_refusal(
            group,
            CUSTOMER_SITE,
            "status_page.reply.refused",
            &reply.ticket,
            &refusal,
        );
        (Outcome::Rejected(refusal), Some(receipt))
    }
}
