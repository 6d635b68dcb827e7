use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};
use tonic::Status;

/// Everything the relationship service refuses or fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    /// No such customer, or not one the caller may see.
    #[error("customer {0} not found")]
    CustomerNotFound(String),
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// The partner already has a record for this customer tenant.
    #[error("customer tenant already recorded under {0}")]
    CustomerExists(String),
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

/// The one mapping from relationship errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::CustomerExists(name) => ApiError::already_exists("relationship.v1.Customer", &name),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    api_error.into_status(crate::SERVICE)
}
