//! The values of the webhook queue and its dead letters, and how they encode. Where they are
//! kept (keys) is the store's business (`crate::replica`).

use serde::{Deserialize, Serialize};

/// An event that a target did not accept within its `max_attempts`; kept for the operator.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct WebhookDeadLetter {
    /// The target's name.
    pub target: String,
    /// The event id, as sent in [`EVENT_ID_HEADER`](super::EVENT_ID_HEADER).
    pub event_id: u64,
    /// Failed attempts made.
    pub attempts: u32,
    /// Why the last attempt failed (e.g. `partner answered HTTP 500 Internal Server Error`).
    pub last_error: String,
    /// When the event was given up, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The body that was sent; a JSON string if it was not JSON.
    pub body: serde_json::Value,
}

/// A pending delivery as stored in the queue: a version byte, attempts (u32 BE), next attempt
/// time in ms since the epoch (u64 BE), the last error's length (u32 BE) and UTF-8, then the body.
#[derive(Debug, PartialEq)]
pub(crate) struct QueueEntry {
    /// Failed attempts so far.
    pub(crate) attempts: u32,
    /// When the next attempt is due, ms since the epoch (0: at once).
    pub(crate) next_attempt_ms: u64,
    /// Why the last attempt failed.
    pub(crate) last_error: String,
    /// The event's body.
    pub(crate) body: Vec<u8>,
}

impl QueueEntry {
    /// A new entry for `body`, due at once.
    pub(crate) fn new(body: &[u8]) -> Self {
        QueueEntry {
            attempts: 0,
            next_attempt_ms: 0,
            last_error: String::new(),
            body: body.to_vec(),
        }
    }

    const VERSION: u8 = 1;
    const HEADER_LEN: usize = 1 + 4 + 8 + 4;

    /// The entry as stored.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let error = self.last_error.as_bytes();
        let error_len = u32::try_from(error.len()).unwrap_or(u32::MAX);
        let error = &error[..error_len as usize];
        let mut value = Vec::with_capacity(Self::HEADER_LEN + error.len() + self.body.len());
        value.push(Self::VERSION);
        value.extend_from_slice(&self.attempts.to_be_bytes());
        value.extend_from_slice(&self.next_attempt_ms.to_be_bytes());
        value.extend_from_slice(&error_len.to_be_bytes());
        value.extend_from_slice(error);
        value.extend_from_slice(&self.body);
        value
    }

    /// An entry as stored, or what is wrong with it.
    pub(crate) fn decode(value: &[u8]) -> std::result::Result<Self, String> {
        let Some((&version, rest)) = value.split_first() else {
            return Err("empty".to_owned());
        };
        if version != Self::VERSION {
            return Err(format!(
                "unknown version {version}; known: {}",
                Self::VERSION
            ));
        }
        let too_short = || format!("{} bytes is too short", value.len());
        let (attempts, rest) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
        let (next_attempt_ms, rest) = rest.split_first_chunk::<8>().ok_or_else(too_short)?;
        let (error_len, rest) = rest.split_first_chunk::<4>().ok_or_else(too_short)?;
        let error_len = u32::from_be_bytes(*error_len) as usize;
        if rest.len() < error_len {
            return Err(too_short());
        }
        let (error, body) = rest.split_at(error_len);
        let last_error = String::from_utf8(error.to_vec())
            .map_err(|_| "the last error is not UTF-8".to_owned())?;
        Ok(Self {
            attempts: u32::from_be_bytes(*attempts),
            next_attempt_ms: u64::from_be_bytes(*next_attempt_ms),
            last_error,
            body: body.to_vec(),
        })
    }
}

/// Checks a stored queue entry: the problem when it does not decode.
pub(crate) fn check_queued(value: &[u8]) -> Result<(), String> {
    QueueEntry::decode(value).map(drop)
}

/// Checks a stored dead letter: the problem when it does not decode.
pub(crate) fn check_dead_letter(value: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<WebhookDeadLetter>(value)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The body as JSON, or as a JSON string if it is not JSON.
pub(crate) fn body_json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue entry survives encoding, and truncated or foreign values are refused.
    #[test]
    fn queue_entry_round_trips() {
        let entry = QueueEntry {
            attempts: 3,
            next_attempt_ms: 1_700_000_000_000,
            last_error: "partner answered HTTP 503".to_owned(),
            body: br#"{"ticket":"T-1"}"#.to_vec(),
        };
        let value = entry.encode();
        assert_eq!(QueueEntry::decode(&value), Ok(entry));
        assert!(QueueEntry::decode(&value[..10]).is_err());
        assert!(QueueEntry::decode(b"{\"json\":1}").is_err());
        assert!(QueueEntry::decode(b"").is_err());
    }
}
