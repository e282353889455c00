//! The `hotline` command for in-house operators: PKI, administration, reports, the local demo
//! federation and benchmarks (DESIGN.md section 9).
//!
//! Layout: [`pki`] is the federation's certificate authority (CA, site, staff and server
//! certificates, CRLs); [`pki_dir`] keeps one in a directory for `hotline pki`; [`error`] holds
//! the crate's one error type. The binary (`src/main.rs`) holds the commands; administration,
//! reports, the demo and benchmarks come with later issues.

#![forbid(unsafe_code)]

pub mod error;
pub mod pki;
pub mod pki_dir;
