//! The `hotline` command for in-house operators: PKI, administration, reports, the local demo
//! federation and benchmarks (DESIGN.md section 9).
//!
//! Layout: [`bench`] is `hotline bench`; [`admin`] is the Admin service client of `hotline
//! admin`; [`pki`], [`pki_dir`] and [`error`] are the federation's certificate authority from
//! `hotline-runtime` (re-exported: the CLI, the gateway's tests and the end-to-end tests share
//! it); [`pki_command`] is `hotline pki`; [`site_api`] is a client of an adapter's local API;
//! [`kb`] is `hotline kb import`; [`review`] is `hotline review`; [`report`] is
//! `hotline report service-level`; [`calls`] is `hotline import calls`; [`audit`] is
//! `hotline audit`; [`demo`] runs the local demo
//! federation. The binary (`src/main.rs`) holds the commands.

#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod bench;
pub mod calls;
pub mod demo;
pub mod kb;
pub use hotline_runtime::{error, pki, pki_dir};
pub mod pki_command;
pub mod report;
pub mod review;
pub mod site_api;
