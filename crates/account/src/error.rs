//! The account client's one error type.

/// Why an account request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The server could not be reached.
    #[error("the Orrery server at {url} cannot be reached ({reason})")]
    Offline {
        /// The server.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with a refusal.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's error code (`unauthorized`, `too_many_requests`...).
        code: String,
        /// The server's explanation.
        message: String,
        /// Seconds to wait before trying again, when the server said.
        retry_after_secs: Option<u64>,
    },
    /// The server's answer was not what the protocol promises.
    #[error("the server's answer could not be read: {0}")]
    Protocol(String),
    /// The browser part of an OAuth sign-in failed.
    #[error("{0}")]
    Browser(String),
}

impl AccountError {
    /// Whether the failure means "no network" rather than "refused".
    pub fn is_offline(&self) -> bool {
        matches!(self, AccountError::Offline { .. })
    }

    /// Whether the session is over and the user must sign in again.
    pub fn is_signed_out(&self) -> bool {
        matches!(self, AccountError::Refused { status: 401, .. })
    }
}
