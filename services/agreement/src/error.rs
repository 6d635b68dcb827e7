use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations, PreconditionViolation};

/// Everything the agreement service refuses or fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    /// No such agreement version.
    #[error("agreement version {0} not found")]
    VersionNotFound(String),
    /// A version with this template id is already published.
    #[error("agreement version {0} already exists")]
    VersionExists(String),
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// No such customer, or not one the caller may see.
    #[error("customer {0} not found")]
    CustomerNotFound(String),
    /// No such acceptance, or not one the caller may see.
    #[error("acceptance {0} not found")]
    AcceptanceNotFound(String),
    /// A rule refuses the request.
    #[error("{message}")]
    Precondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// What is wrong and what to do.
        message: String,
        /// The unmet conditions.
        violations: Vec<PreconditionViolation>,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Why.
        message: String,
    },
    /// Refused by the platform (authorization, idempotency).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldViolations> for Error {
    fn from(violations: FieldViolations) -> Self {
        Error::Invalid(violations)
    }
}
