//! The Virtual Hotline partner adapter, run at each partner site: how a call centre plugs its
//! own tools into the federation, and why a site keeps working when the gateway is away.
//!
//! Layout (arrows point one way only: `api`, `sync` and `run` use the store, the store uses
//! `events` and `webhooks`' record formats, and nothing below imports what is above):
//! - [`config`]: the TOML config; [`mapping`]: the partner's vocabulary both ways;
//! - [`replica`]: the local sled store, a folder of modules with one key table (replica,
//!   outbox, cursor, ticket numbers, dead letters, webhook queue), including [`integrity`], the
//!   store check at every open; [`recover`]: `hotline-adapter recover`, which quarantines a
//!   damaged store and rebuilds it from what can still be read;
//! - [`sync`]: push, subscribe, lease and reconnect with the gateway;
//! - [`api`]: the local HTTP API, its routes, request types and field rules; [`views`]: the
//!   response and webhook bodies as types; [`openapi`]: its description, generated from both;
//! - [`kb`]: the knowledge base's offline full-text index (German and English) and its search;
//! - [`events`]: the bodies of webhook events for partner tools; [`webhooks`]: their signed
//!   delivery, which reaches the store only through [`webhooks::DeliveryQueue`];
//! - [`run`]: the adapter as a whole (`run(listener, config, shutdown)`); [`cli`]: the command
//!   line (`main.rs` only parses the arguments);
//! - [`error`]: the crate's one error type.
//! - [`metrics`]: the Prometheus metrics as typed handles; [`ops`]: the operations port
//!   (`/metrics`, `/healthz`, `/readyz`) with the adapter's readiness check.
//!
//! Every store call from async code runs on the blocking pool (the API's `blocking`, the sync
//! loop's `on_store`, the webhook deliverer's `on_queue`).
//!
//! Merge, validation and redaction come from `hotline-federation`, exactly as the gateway
//! uses them.

#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod files;
pub mod kb;
pub mod mapping;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod recover;
pub mod replica;
pub mod run;
pub mod sync;
pub mod views;
pub mod webhooks;

pub use replica::integrity;
