//! The Virtual Hotline partner adapter, run at each partner site: how a call centre plugs its
//! own tools into the federation, and why a site keeps working when the gateway is away.
//!
//! Layout:
//! - [`config`]: the TOML config; [`mapping`]: the partner's vocabulary both ways;
//! - [`replica`]: the local sled store (replica, outbox, cursor, ticket numbers, dead letters);
//! - [`integrity`]: the store check at every start; [`recover`]: `hotline-adapter recover`,
//!   which quarantines a damaged store and rebuilds it from what can still be read;
//! - [`sync`]: push, subscribe, lease and reconnect with the gateway;
//! - [`api`]: the local HTTP API, its routes, request types and field rules; [`views`]: the
//!   response and webhook bodies as types; [`openapi`]: its description, generated from both;
//! - [`events`] and [`webhooks`]: signed webhook events for partner tools;
//! - [`run`]: the adapter as a whole (`run(listener, config, shutdown)`); [`cli`]: the command
//!   line (`main.rs` only parses the arguments);
//! - [`error`]: the crate's one error type.
//!
//! Merge, validation and redaction come from `hotline-federation`, exactly as the gateway
//! uses them.

#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod integrity;
mod keys;
pub mod mapping;
pub mod openapi;
pub mod recover;
pub mod replica;
pub mod run;
pub mod sync;
pub mod views;
pub mod webhooks;
