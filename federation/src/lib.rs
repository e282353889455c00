//! The pure domain logic of the Virtual Hotline, shared byte for byte by the gateway and every
//! partner adapter. No I/O, no async runtime, no clock reads: time is handed in.
//!
//! Layout:
//! - [`audit`]: the hash-chained audit trail, signed checkpoints and receipt proofs;
//! - [`access`]: the customer's status-page access code, minted once and stored hashed;
//! - [`brand`]: greetings and templates rendered from the central brand;
//! - [`customer`]: what the customer sees of a ticket (the status page);
//! - [`authority`]: who may make which change (the rules the gateway enforces);
//! - [`ids`]: tenants, sites, public ticket numbers; [`calendar`]: dates from Unix time;
//! - [`clock`]: the hybrid logical clock with its skew bound; [`rewind`]: how far a site's clock
//!   goes back after the gateway refused a reading as too far ahead;
//! - [`model`]: entity kinds, field values, comments, call events;
//! - [`status`]: the ticket status state machine;
//! - [`change`]: changes and the rules each must meet; [`text`]: what text fields may hold;
//! - [`knowledge`]: knowledge-base articles as Markdown files with front matter, parsed;
//! - [`service`]: service figures (service level, first-contact resolution, backlog ...) by
//!   site, tenant, focus team and period, from call events and tickets;
//! - [`leak`]: the leak guard every customer-visible text passes;
//! - [`limits`]: bounds on the size of one entity, so every entity fits in one message;
//! - [`state`]: merged entity state and the merge (a join), replicas, canonical hashes;
//! - [`visibility`]: who sees which entity, and redaction; [`retention`]: how long partners
//!   keep closed tickets; [`erasure`]: what an erased customer's tickets keep;
//! - [`wire`]: conversions to and from the `hotline.v1` contract;
//! - [`error`]: the crate's one error type;
//! - `fuzzing` (feature `fuzzing`): byte-level entry points the fuzz targets and their stable
//!   replay tests share; not built into the services.

#![forbid(unsafe_code)]

pub mod access;
pub mod attachment;
pub mod audit;
pub mod authoring;
pub mod authority;
pub mod brand;
pub mod calendar;
pub mod change;
pub mod clock;
pub mod customer;
pub mod erasure;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod ids;
pub mod knowledge;
pub mod leak;
pub mod lifecycle;
pub mod limits;
pub mod model;
pub mod retention;
pub mod review;
pub mod rewind;
pub mod service;
pub mod state;
pub mod status;
pub mod text;
pub mod visibility;
pub mod wire;

pub use change::{Change, FieldOp, Stamp};
pub use clock::{Hlc, HybridClock};
pub use error::{Error, Result};
pub use model::{EntityKey, EntityKind, FieldValue};
pub use state::{EntityState, Replica};
