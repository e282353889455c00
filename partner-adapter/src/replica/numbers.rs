//! Leased ticket numbers: blocks the gateway granted, so a site that is offline still creates
//! tickets with the one number format; and how many the site used recently ([`UseRate`]), which
//! the lease size follows.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hotline_proto::v1 as pb;
use prost::Message;

use super::keys::{self, numbers_key};
use super::records::{NumberBlock, corrupt};
use super::stage::Source;
use super::{Replica, Step};
use crate::error::Result;

impl Replica {
    /// Takes the next free ticket number into `step`; call under the local lock. `None` when
    /// the lease is used up.
    pub(super) fn take_number(&self, step: &mut Step) -> Result<Option<String>> {
        // Through the stage: a create earlier in the writer's group may have taken a number.
        for (key, raw) in self.staged(|source| source.scan(&[keys::NUMBERS]))? {
            let mut block =
                NumberBlock::decode(raw.as_ref()).map_err(|e| corrupt("number block", e))?;
            if block.used < block.count {
                self.uses.lock().note(Instant::now());
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

    /// Ticket numbers taken in the last minute (in memory: counted since open).
    pub fn numbers_used_last_minute(&self) -> u64 {
        self.uses.lock().last_minute(Instant::now())
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
        self.flush_durably()?;
        Ok(())
    }
}

/// How long [`UseRate`] remembers.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Ticket numbers taken, counted per second over the last minute.
#[derive(Debug, Default)]
pub(super) struct UseRate {
    /// (start of the second, numbers taken in it), oldest first.
    seconds: VecDeque<(Instant, u64)>,
}

impl UseRate {
    /// Counts one number taken at `now`.
    pub(super) fn note(&mut self, now: Instant) {
        match self.seconds.back_mut() {
            Some((start, count)) if now.duration_since(*start) < Duration::from_secs(1) => {
                *count += 1;
            }
            _ => self.seconds.push_back((now, 1)),
        }
        self.forget_before(now);
    }

    /// Numbers taken in the minute before `now`.
    pub(super) fn last_minute(&mut self, now: Instant) -> u64 {
        self.forget_before(now);
        self.seconds.iter().map(|(_, count)| count).sum()
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some((start, _)) = self.seconds.front() {
            if now.duration_since(*start) < RATE_WINDOW {
                break;
            }
            self.seconds.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers taken more than a minute ago stop counting, so the lease shrinks after a burst.
    #[test]
    fn the_rate_forgets_numbers_older_than_a_minute() {
        let start = Instant::now();
        let mut rate = UseRate::default();
        for i in 0..30 {
            rate.note(start + Duration::from_millis(i * 100));
        }
        assert_eq!(rate.last_minute(start + Duration::from_secs(10)), 30);
        rate.note(start + Duration::from_secs(61));
        // The first second (10 numbers) and the next two (20) are older than a minute now.
        assert_eq!(rate.last_minute(start + Duration::from_secs(63)), 1);
    }
}
