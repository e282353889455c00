//! The one error type of the federation crate. Every variant says what was wrong, where (a field
//! path such as `change.ops[2].set.ticket.status`) and what is allowed.

/// Why a change, a wire message or a clock reading was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A field is missing, malformed or not allowed here.
    #[error("{field}: {problem}")]
    Invalid {
        /// Path of the offending field, e.g. `change.key.id`.
        field: String,
        /// What was wrong and what is allowed.
        problem: String,
    },
    /// A field is larger than its limit.
    #[error("{field}: {size} bytes is more than the limit of {limit} bytes")]
    TooLarge {
        /// Path of the offending field.
        field: String,
        /// Its size in bytes (or entries, for lists).
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A status change the ticket state machine does not allow.
    #[error(
        "{field}: status {from} -> {to} is not allowed; from {from} a ticket may go to: {allowed}"
    )]
    Transition {
        /// Path of the offending field.
        field: String,
        /// The status the writer saw (`none` while creating).
        from: String,
        /// The status it asked for.
        to: String,
        /// The statuses allowed from `from`, comma separated.
        allowed: String,
    },
    /// A remote clock reading further ahead than the allowed skew.
    #[error(
        "clock of site {site} is {ahead_ms} ms ahead of ours; at most {max_skew_ms} ms are allowed \
         (fix the site's clock, then replay its parked changes)"
    )]
    ClockSkew {
        /// The site whose clock is ahead.
        site: String,
        /// How far ahead it is, in milliseconds.
        ahead_ms: u64,
        /// The allowed skew, in milliseconds.
        max_skew_ms: u64,
    },
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The path of the field the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Invalid { field, .. }
            | Error::TooLarge { field, .. }
            | Error::Transition { field, .. } => Some(field),
            Error::ClockSkew { .. } => None,
        }
    }

    /// The same error with `prefix.` put in front of its field path.
    pub fn within(self, prefix: &str) -> Self {
        let join = |field: String| format!("{prefix}.{field}");
        match self {
            Error::Invalid { field, problem } => Error::Invalid {
                field: join(field),
                problem,
            },
            Error::TooLarge { field, size, limit } => Error::TooLarge {
                field: join(field),
                size,
                limit,
            },
            Error::Transition {
                field,
                from,
                to,
                allowed,
            } => Error::Transition {
                field: join(field),
                from,
                to,
                allowed,
            },
            skew @ Error::ClockSkew { .. } => skew,
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
