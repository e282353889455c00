//! The `hotline` command for in-house operators: PKI, administration, reports, the local demo
//! federation and benchmarks (DESIGN.md section 9).
//!
//! Layout: [`pki`] is the federation's certificate authority (CA, site, staff and server
//! certificates, CRLs); [`error`] holds the crate's one error type. The commands themselves are
//! built by the operator and benchmark issues.

#![forbid(unsafe_code)]

pub mod error;
pub mod pki;
