//! What the Virtual Hotline's services (gateway, partner adapter) and the `hotline` command
//! share at run time, and nothing of the domain: the domain lives in `hotline-federation`.
//! Services depend on this crate, never on each other or on the command.
//!
//! Layout:
//! - [`telemetry`]: tracing set-up (text or JSON) through tracing-appender's non-blocking
//!   writer, so a closed or full stdout blocks nothing;
//! - [`shutdown`]: SIGINT/SIGTERM into a cancellation token;
//! - [`clock`]: the system clock in milliseconds; [`config`]: reading config files, the `[log]`
//!   table and listen addresses;
//! - [`ops`]: the operations port (`/metrics`, `/healthz`, `/readyz`) over a service's probe;
//! - [`local_postgres`]: a throwaway PostgreSQL server on loopback (demo, tests, bench);
//! - [`sled_files`]: repairs of a sled directory before it is opened;
//! - [`pki`]: the federation's certificate authority (CA, site, staff and server certificates,
//!   CRLs); [`pki_dir`] keeps one in a directory; [`error`] is the crate's one error type.

#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod error;
pub mod local_postgres;
pub mod ops;
pub mod pki;
pub mod pki_dir;
pub mod shutdown;
pub mod sled_files;
pub mod sled_rewrite;
pub mod telemetry;
