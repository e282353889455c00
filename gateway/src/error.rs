//! The gateway's one error type, and its mapping to gRPC status in exactly one place.

use std::path::PathBuf;

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is missing or invalid.
    #[error("config field `{field}`: {problem}")]
    Config {
        /// The field, dotted (e.g. `tls.ca_cert`).
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// A file (config, PEM, CRL) could not be read or parsed.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// TLS could not be set up.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The client certificate does not name an acceptable identity.
    #[error("client identity: {0}")]
    Identity(String),
    /// The caller's identity may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The request is malformed or too large.
    #[error("{0}")]
    InvalidArgument(String),
    /// A domain rule refused the input.
    #[error(transparent)]
    Domain(#[from] hotline_federation::Error),
    /// The store failed (disk full, I/O error); nothing was acknowledged.
    #[error("storage unavailable: {0}")]
    Storage(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The gateway is shutting down or the writer is gone.
    #[error("{0}")]
    Unavailable(String),
    /// A bounded resource is used up (a subscriber fell behind, a quota).
    #[error("{0}")]
    ResourceExhausted(String),
    /// The request is well-formed but cannot be done in the current state.
    #[error("{0}")]
    FailedPrecondition(String),
}

/// No variant answers `OUT_OF_RANGE`: that code leaves the gateway only from tonic's message
/// size limit, which [`crate::oversize`] turns into `RESOURCE_EXHAUSTED`. Keep it that way.
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidArgument(_) | Error::Domain(_) => {
                tonic::Status::invalid_argument(message)
            }
            Error::Identity(_) => tonic::Status::unauthenticated(message),
            Error::PermissionDenied(_) => tonic::Status::permission_denied(message),
            Error::Storage(_) | Error::Unavailable(_) => tonic::Status::unavailable(message),
            Error::ResourceExhausted(_) => tonic::Status::resource_exhausted(message),
            Error::FailedPrecondition(_) => tonic::Status::failed_precondition(message),
            Error::Config { .. } | Error::File { .. } | Error::Tls(_) | Error::Corrupt(_) => {
                tonic::Status::internal(message)
            }
        }
    }
}

/// Result with the gateway's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<hotline_runtime::config::ConfigProblem> for Error {
    fn from(problem: hotline_runtime::config::ConfigProblem) -> Self {
        use hotline_runtime::config::ConfigProblem as P;
        match problem {
            P::File { path, problem } => Error::File { path, problem },
            P::Field { field, problem } => Error::Config { field, problem },
        }
    }
}
