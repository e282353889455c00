//! End-to-end tests of the Virtual Hotline: real gateway and adapter processes on 127.0.0.1
//! ports, real mTLS with a PKI generated per test, real sled directories.
//!
//! Status: the end-to-end suites arrive with the gateway and adapter issues; the foundation's
//! property tests live in `federation/tests/`.

#![forbid(unsafe_code)]
