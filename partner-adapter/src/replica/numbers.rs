//! Leased ticket numbers: blocks the gateway granted, so a site that is offline still creates
//! tickets with the one number format.

use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::{self, numbers_key};
use super::records::{NumberBlock, corrupt};
use super::{Replica, Step};
use crate::error::Result;

impl Replica {
    /// Takes the next free ticket number into `step`; call under the local lock. `None` when
    /// the lease is used up.
    pub(super) fn take_number(&self, step: &mut Step) -> Result<Option<String>> {
        for item in self.db.scan_prefix([keys::NUMBERS]) {
            let (key, raw) = item?;
            let mut block =
                NumberBlock::decode(raw.as_ref()).map_err(|e| corrupt("number block", e))?;
            if block.used < block.count {
                let number = block.first + u64::from(block.used);
                block.used += 1;
                if block.used == block.count {
                    step.remove(key.to_vec());
                } else {
                    step.put(key.to_vec(), block.encode_to_vec());
                }
                return Ok(Some(format!(
                    "{}-{:04}-{:06}",
                    block.prefix, block.year, number
                )));
            }
        }
        Ok(None)
    }

    /// Ticket numbers still free.
    pub fn numbers_left(&self) -> Result<u64> {
        let mut left = 0;
        for item in self.db.scan_prefix([keys::NUMBERS]) {
            let block =
                NumberBlock::decode(item?.1.as_ref()).map_err(|e| corrupt("number block", e))?;
            left += u64::from(block.count - block.used);
        }
        Ok(left)
    }

    /// Stores a newly leased block.
    pub fn add_numbers(&self, block: &pb::LeaseBlock) -> Result<()> {
        let value = NumberBlock {
            prefix: block.prefix.clone(),
            year: block.year,
            first: block.first,
            count: block.count,
            used: 0,
        };
        self.db
            .insert(numbers_key(block.year, block.first), value.encode_to_vec())?;
        self.db.flush()?;
        Ok(())
    }
}
