use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};

/// Everything the transfer service refuses or fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    /// No such subscription, or not one the caller may see.
    #[error("subscription {0} not found")]
    SubscriptionNotFound(String),
    /// No such customer, or not one the caller may see.
    #[error("customer {0} not found")]
    CustomerNotFound(String),
    /// A rule refuses the request.
    #[error("{message}")]
    Precondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// What is wrong and what to do.
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
