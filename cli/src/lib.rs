//! The `hotline` command for in-house operators: PKI, administration, reports, the local demo
//! federation and benchmarks (DESIGN.md section 9).
//!
//! Status: built by the operator and benchmark issues; this crate holds no code yet.

#![forbid(unsafe_code)]
