//! The Virtual Hotline partner adapter, run at each partner site.
//!
//! It will keep a local sled replica of what the site may see, an outbox of local changes, the
//! subscribe cursor and leased ticket-number blocks, and offer the partner's own tools a local
//! HTTP API and webhooks (DESIGN.md sections 3 and 4). Merge and redaction come from
//! `hotline-federation`, exactly as the gateway uses them.
//!
//! Status: built by the partner-adapter issue; this crate holds no code yet.

#![forbid(unsafe_code)]
