//! The gRPC services, one file each. Handlers validate, convert and delegate.

pub mod admin;
pub mod federation;
