use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};
use tonic::Status;

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

/// The one mapping from agreement errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::VersionNotFound(name) => ApiError::not_found("agreement.v1.AgreementVersion", &name),
        Error::VersionExists(name) => {
            ApiError::already_exists("agreement.v1.AgreementVersion", &name)
        }
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    api_error.into_status(crate::SERVICE)
}
