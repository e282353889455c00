//! The Virtual Hotline gateway: the in-house team's single source of truth that every site
//! syncs with (DESIGN.md sections 4, 5 and 8).
//!
//! Layout:
//! - [`config`]: the TOML config with defaults, env overrides and validation;
//! - [`tls`] and [`identity`]: our own mTLS accept loop with CRL reload, and the caller's
//!   identity from its certificate's one URI SAN;
//! - [`store`]: the narrow storage trait; redb (default for a new store), sled and in-memory;
//! - [`writer`]: the one writer thread with group commit; who may change what is [`hotline_federation::authority`];
//!   [`log`]: what the global log holds;
//! - [`subscribe`]: snapshot, catch-up and live tail per subscriber, redacted per tenant;
//! - [`api`]: the gRPC services; [`server`]: `run(listener, state, shutdown)`; [`oversize`]:
//!   `RESOURCE_EXHAUSTED` (not tonic's `OUT_OF_RANGE`) for a message over the size limit;
//! - [`quota`]: per-tenant push quotas; [`registry`]: tenants and sites; [`state`]: what the services share (process plumbing such as telemetry and shutdown signals is in `hotline-runtime`);
//! - [`guard`]: the leak guard over every customer-visible text, with the stored brand;
//!   [`web`]: the customer's status page and its JSON on their own listener;
//! - [`error`]: the crate's one error type and its gRPC mapping;
//! - [`metrics`]: the Prometheus metrics as typed handles; [`ops`]: the operations port
//!   (`/metrics`, `/healthz`, `/readyz`) with the gateway's readiness checks;
//! - [`health`]: sync health per site (last seen, the sites' reports) for the staff dashboard,
//!   whose pages are in [`web::staff`];
//! - [`review`]: review reports per focus team and period, quality sample and scores;
//! - [`retention`]: the sweep that ends partners' retention of closed tickets; [`erasure`]:
//!   erasing a customer's personal data and which sites have applied it;
//! - [`audit`]: the audit trail's signing key, checkpoint task and verification over the store
//!   (entries are appended by the writer, in [`writer::audit`]);
//! - [`figures`]: service figures from the stored call logs and tickets (`Reports` service);
//!   [`gauges`]: the metrics gauges refreshed from the store (service level, last seen, verify).
//!
//! Decisions (merge, visibility, redaction) come from `hotline-federation`; this crate does
//! the I/O around them.

#![forbid(unsafe_code)]

pub mod api;
pub mod audit;
pub mod config;
pub mod erasure;
pub mod error;
pub mod figures;
pub mod files;
pub mod gauges;
pub mod guard;
// Sync health per site (issue 15).
pub mod health;
pub mod identity;
pub mod log;
pub mod metrics;
pub mod ops;
pub mod oversize;
pub mod quota;
pub mod registry;
pub mod retention;
pub mod review;
pub mod server;
pub mod state;
pub mod store;
pub mod subscribe;
pub mod tls;
pub mod web;
pub mod writer;
