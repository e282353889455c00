//! The events the server's `Federation.Subscribe` answers: a `SyncEvent` encoded once, then
//! written as those bytes to every subscriber it goes to. A log entry that reaches a thousand
//! sites of one tenant is encoded once, not a thousand times. On the wire it is a `SyncEvent`
//! (clients decode it as one); only the generated server names this type (see `build.rs`).

use prost::Message;
use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType, skip_field};

use crate::v1::SyncEvent;

/// A `SyncEvent`'s encoding, shared (cloning it copies no bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreparedSyncEvent {
    encoded: Bytes,
}

impl PreparedSyncEvent {
    /// Encodes `event` once.
    pub fn new(event: &SyncEvent) -> Self {
        PreparedSyncEvent {
            encoded: Bytes::from(event.encode_to_vec()),
        }
    }

    /// The encoded `SyncEvent`.
    pub fn encoded(&self) -> &Bytes {
        &self.encoded
    }

    /// Decodes it back (for tests and logs; the server only writes it).
    pub fn event(&self) -> Result<SyncEvent, prost::DecodeError> {
        SyncEvent::decode(self.encoded.clone())
    }
}

impl Message for PreparedSyncEvent {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.encoded);
    }

    /// The server never decodes one: every field is skipped, so a decode gives an empty event.
    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.encoded.len()
    }

    fn clear(&mut self) {
        self.encoded = Bytes::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::sync_event::Body;
    use crate::v1::{Heartbeat, Revocation};

    /// What the server writes is byte for byte the `SyncEvent`'s own encoding, so a client
    /// decodes the same event; with the length prefix too (as gRPC frames carry it).
    #[test]
    fn a_prepared_event_is_the_events_own_encoding() {
        let events = [
            SyncEvent {
                cursor: 41,
                body: Some(Body::Heartbeat(Heartbeat {
                    head: 41,
                    now_ms: 1_790_000_000_000,
                    max_skew_ms: 300_000,
                    tenant_sites: vec!["dortmund".into(), "goerlitz".into()],
                    guard_terms: vec!["Twenty4Help".into()],
                })),
            },
            SyncEvent {
                cursor: 0,
                body: Some(Body::Revocation(Revocation {
                    key: None,
                    reason: 0,
                })),
            },
            SyncEvent::default(),
        ];
        for event in events {
            let prepared = PreparedSyncEvent::new(&event);
            assert_eq!(prepared.encode_to_vec(), event.encode_to_vec());
            assert_eq!(prepared.encoded_len(), event.encoded_len());
            assert_eq!(
                prepared.encode_length_delimited_to_vec(),
                event.encode_length_delimited_to_vec()
            );
            assert_eq!(prepared.event().expect("decodes"), event);
        }
    }
}
