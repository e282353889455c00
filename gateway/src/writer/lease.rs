//! Ticket-number leases: a block of a year's numbers granted to a site (within its bound of
//! unused numbers, see `numbers`), and whether a new ticket's number is from the creating
//! site's own lease.

use hotline_federation::audit::Record;
use hotline_federation::ids::{MAX_TICKET_NUMBER, PublicNumber};
use prost::Message;

use super::{Group, LeaseGrant, Writer, read_counter};
use crate::error::{Error, Result};
use crate::log::{LeaseRecord, decode};
use crate::store::keys;

impl Writer {
    pub(super) fn process_lease(
        &mut self,
        group: &mut Group,
        site: &str,
        count: u32,
    ) -> Result<Result<LeaseGrant>> {
        let (year, _, _) = hotline_federation::calendar::civil_date((self.settings.now_ms)());
        let next = match group.lease_next.get(&year) {
            Some(next) => *next,
            None => read_counter(self.store.as_ref(), &format!("lease.{year}"))?.max(1),
        };
        if let Some(refusal) = self.lease_beyond_bound(group, site, year, count) {
            return Ok(Err(refusal));
        }
        let last = next + u64::from(count) - 1;
        if last > MAX_TICKET_NUMBER {
            return Ok(Err(Error::ResourceExhausted(format!(
                "only {} ticket numbers are left for {year}; ask for at most that many",
                (MAX_TICKET_NUMBER + 1).saturating_sub(next)
            ))));
        }
        let record = LeaseRecord {
            site: site.to_owned(),
            first: next,
            count,
        };
        group
            .batch
            .put(keys::lease_block(year, last), record.encode_to_vec());
        group.batch.put(
            keys::meta(&format!("lease.{year}")),
            keys::encode_u64(last + 1),
        );
        group.lease_next.insert(year, last + 1);
        self.note_leased(group, site, year, count);
        let record = Record {
            at_ms: (self.settings.now_ms)(),
            actor: format!("site:{site}"),
            action: "lease.granted".into(),
            subject: format!("site/{site}"),
            detail_json: serde_json::json!({ "year": year, "first": next, "count": count })
                .to_string(),
        };
        self.record(group, record);
        Ok(Ok(LeaseGrant {
            prefix: self.settings.ticket_prefix.clone(),
            year,
            first: next,
            count,
        }))
    }

    pub(super) fn is_leased(&self, number: &PublicNumber, site: &str) -> Result<bool> {
        let start = keys::lease_block(number.year, number.number);
        let end = keys::lease_year_end(number.year);
        let Some((_, raw)) = self.store.range(&start, &end, 1)?.into_iter().next() else {
            return Ok(false);
        };
        let record: LeaseRecord = decode("lease record", &raw)?;
        Ok(record.site == site && record.first <= number.number)
    }
}
