use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};
use tonic::Status;

/// Everything the enrollment service refuses or fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// The tenant is already registered as a partner.
    #[error("partner {0} already exists")]
    PartnerExists(String),
    /// The caller may register only its own tenant.
    #[error("cannot register another tenant")]
    ForeignTenant,
    /// Refused by the platform (authorization, idempotency).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Error::Store(error)
    }
}

impl From<FieldViolations> for Error {
    fn from(violations: FieldViolations) -> Self {
        Error::Invalid(violations)
    }
}

/// The one mapping from enrollment errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::PartnerExists(name) => ApiError::already_exists("enrollment.v1.Partner", &name),
        Error::ForeignTenant => ApiError::permission_denied(
            "TENANT_MISMATCH",
            "partner.tenant_id must be the caller's own tenant",
        ),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    api_error.into_status(crate::SERVICE)
}
