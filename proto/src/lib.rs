//! The Virtual Hotline wire contract: package `hotline.v1`, generated from
//! `proto/hotline/v1/*.proto` at build time.
//!
//! - messages for entities, sync, administration and audit live in [`v1`];
//! - with the `grpc` feature (default) `v1` also holds the tonic clients and servers of the
//!   `Federation`, `Admin` and `Audit` services;
//! - [`codec`]: the servers' codec, which refuses a malformed request with `INVALID_ARGUMENT`;
//! - [`prepared`]: the events the server's `Subscribe` answers, encoded once however many
//!   subscribers they go to;
//! - [`FILE_DESCRIPTOR_SET`] is the encoded descriptor set for gRPC reflection.
//!
//! Domain conversions live in `hotline-federation`, not here: this crate is only the contract.

#![forbid(unsafe_code)]

/// Generated code of package `hotline.v1`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/hotline.v1.rs"));
    include!(concat!(env!("OUT_DIR"), "/clients/hotline.v1.rs"));
}

#[cfg(feature = "grpc")]
pub mod codec;
#[cfg(feature = "grpc")]
pub mod prepared;

/// The encoded `FileDescriptorSet` of every `hotline.v1` file, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/hotline_descriptor.bin"));
