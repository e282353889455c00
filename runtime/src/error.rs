//! The one error type of the `hotline` crate.

/// Everything that can go wrong in the `hotline` command and its library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An id or argument is not valid; the message names the field and what is allowed.
    #[error(transparent)]
    Invalid(#[from] hotline_federation::Error),
    /// A key, certificate or CRL could not be read, built or signed.
    #[error("{context}: {problem}")]
    Pki {
        /// What was being done or read, e.g. `CA certificate`.
        context: String,
        /// What went wrong.
        problem: String,
    },
}

impl Error {
    /// Builds an [`Error::Pki`].
    pub fn pki(context: impl Into<String>, problem: impl ToString) -> Self {
        Error::Pki {
            context: context.into(),
            problem: problem.to_string(),
        }
    }
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
