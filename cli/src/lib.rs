//! The `hotline` command for in-house operators: PKI, administration, reports, the local demo
//! federation and benchmarks (DESIGN.md section 9).
//!
//! Layout: [`bench`] is `hotline bench`; [`admin`] is the Admin service client of `hotline admin`; [`pki`] is the federation's certificate authority (CA, site, staff and server
//! certificates, CRLs); [`pki_dir`] keeps one in a directory for `hotline pki`; [`error`] holds
//! the crate's one error type; [`site_api`] is a client of an adapter's local API; [`demo`] runs
//! the local demo federation. The binary (`src/main.rs`) holds the commands.

#![forbid(unsafe_code)]

pub mod admin;
pub mod bench;
pub mod demo;
pub mod error;
pub mod pki;
pub mod pki_dir;
pub mod site_api;
