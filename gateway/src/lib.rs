//! The Virtual Hotline gateway: the in-house team's single source of truth.
//!
//! It will hold the tonic server with mTLS identities, the storage trait with sled as default,
//! the global sync log and the admin, audit and customer APIs (DESIGN.md sections 3 to 8). The
//! decisions it makes (merge, visibility, redaction) come from `hotline-federation`; this crate
//! only does the I/O around them.
//!
//! Status: the foundation issue delivers the contract and the domain; the service itself is
//! built by the gateway issue. Nothing here pretends to serve yet.

#![forbid(unsafe_code)]
