//! The adapter's one error type, mapped to HTTP responses in exactly one place
//! ([`Error::status`] and the `IntoResponse` impl in `api`).

use std::path::PathBuf;

/// Everything that can go wrong in the adapter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A config value is missing or invalid.
    #[error("config field `{field}`: {problem}")]
    Config {
        /// The field, dotted.
        field: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// A file could not be read or parsed.
    #[error("{}: {problem}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The request is malformed; the message says what is allowed.
    #[error("{0}")]
    BadRequest(String),
    /// A value of the partner's vocabulary has no mapping.
    #[error("{0}")]
    Unmapped(String),
    /// A domain rule refused the input.
    #[error(transparent)]
    Domain(#[from] hotline_federation::Error),
    /// The request body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The caller has no valid token.
    #[error("{0}")]
    Unauthorized(String),
    /// The thing asked for does not exist (or the site may not see it).
    #[error("{0}")]
    NotFound(String),
    /// The path exists, but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the current state (e.g. no ticket numbers left offline).
    #[error("{0}")]
    Conflict(String),
    /// The federation's authority refuses this change, exactly as the gateway would: 422 with
    /// the rule's name.
    #[error("{}", .0.message)]
    Refused(hotline_federation::authority::Refusal),
    /// The local store failed.
    #[error("local store: {0}")]
    Storage(String),
    /// Stored data could not be decoded.
    #[error("local store is corrupt: {0}; run `hotline-adapter recover`")]
    Corrupt(String),
    /// The local store is damaged at start: sled cannot open it, or records in it cannot be
    /// decoded. The adapter refuses to start; `hotline-adapter recover` rebuilds it.
    #[error(
        "the local store in {} is damaged: {}; stop the adapter and run `hotline-adapter recover` with its config",
        dir.display(),
        damage.join("; ")
    )]
    CorruptStore {
        /// The data directory.
        dir: PathBuf,
        /// What is damaged, one item per problem found (bounded).
        damage: Vec<String>,
    },
    /// A file's declared content type is not allowed or does not match its bytes.
    #[error("{0}")]
    UnsupportedType(String),
    /// The gateway could not be reached or refused the call.
    #[error("gateway: {0}")]
    Gateway(String),
    /// This site's clock runs further ahead of the gateway's than the gateway accepts.
    #[error("{0}")]
    ClockAhead(String),
    /// The operating system gave no random bytes (for a customer's access code).
    #[error("{0}")]
    NoRandomness(String),
    /// A handler of the local API panicked: a defect of the adapter, answered 500 instead of
    /// a dropped connection.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status and stable error code for the local API.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Error::BadRequest(_) => (400, "bad_request"),
            // The served document lists the site's terms as enums: another one breaks it.
            Error::Unmapped(_) => (400, "unmapped_value"),
            Error::TooLarge(_) => (413, "too_large"),
            Error::UnsupportedType(_) => (415, "unsupported_media_type"),
            Error::Domain(domain) => match domain {
                // Control characters are malformed input, like invalid UTF-8.
                hotline_federation::Error::Character { .. } => (400, "bad_request"),
                hotline_federation::Error::Invalid { .. }
                | hotline_federation::Error::TooLarge { .. }
                | hotline_federation::Error::Transition { .. }
                | hotline_federation::Error::ClockSkew { .. } => (422, "invalid"),
            },
            Error::Unauthorized(_) => (401, "unauthorized"),
            Error::NotFound(_) => (404, "not_found"),
            Error::MethodNotAllowed(_) => (405, "method_not_allowed"),
            Error::Conflict(_) => (409, "conflict"),
            // The gateway's authority would refuse the write: nothing was stored, and the
            // body's `rule` names the rule (a client keys on it, not on the message).
            Error::Refused(_) => (422, "refused"),
            Error::Storage(_) | Error::Corrupt(_) | Error::CorruptStore { .. } => (503, "storage"),
            Error::Gateway(_) => (502, "gateway"),
            Error::ClockAhead(_) => (503, "clock_skew"),
            Error::Config { .. }
            | Error::File { .. }
            | Error::NoRandomness(_)
            | Error::Internal(_) => (500, "internal"),
        }
    }
}

impl Error {
    /// The same error with a domain error's field path (`change.ops[3].set.ticket.subject`)
    /// cut to the field's name in the local API (`subject`): the API's users never see the
    /// change it builds.
    pub fn for_api(self) -> Self {
        use hotline_federation::Error as E;
        let Error::Domain(domain) = self else {
            return self;
        };
        let name = |path: String| match path.rsplit_once('.') {
            Some((_, name)) => name.to_owned(),
            None => path,
        };
        Error::Domain(match domain {
            E::Invalid { field, problem } => E::Invalid {
                field: name(field),
                problem,
            },
            E::TooLarge { field, size, limit } => E::TooLarge {
                field: name(field),
                size,
                limit,
            },
            E::Character {
                field,
                found,
                at,
                allowed,
            } => E::Character {
                field: name(field),
                found,
                at,
                allowed,
            },
            E::Transition {
                field,
                from,
                to,
                allowed,
            } => E::Transition {
                field: name(field),
                from,
                to,
                allowed,
            },
            skew @ E::ClockSkew { .. } => skew,
        })
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

/// Result with the adapter's [`Error`].
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

impl From<hotline_federation::authoring::AuthoringConflict> for Error {
    /// An authoring step that what is stored does not allow (no draft to publish, an id taken,
    /// a suggestion decided already) conflicts with the current state: 409.
    fn from(conflict: hotline_federation::authoring::AuthoringConflict) -> Self {
        Error::Conflict(conflict.to_string())
    }
}
