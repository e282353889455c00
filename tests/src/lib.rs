//! End-to-end test support for the Virtual Hotline: a PKI generated per test, gateways started
//! for real on `127.0.0.1:0` behind real mTLS, and clients that connect to them.
//!
//! The suites live in `tests/tests/`. Nothing here uses fixed ports or sleeps to wait for a
//! start: a listener is bound before the server runs, so the first RPC simply waits in the
//! accept queue.

#![forbid(unsafe_code)]

pub mod backend;
pub mod changes;
pub mod exposition;
pub mod files;
pub mod harness;
pub mod processes;
pub mod proxy;
pub mod sites;
// The staff dashboard (issue 15).
pub mod staff;
pub mod web;
pub mod webdriver;
