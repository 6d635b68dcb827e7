//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::ApiError;
use tonic::Status;

use crate::error::Error;

/// The one mapping from relationship errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::CustomerExists(name) => ApiError::already_exists("relationship.v1.Customer", &name),
        Error::StaleEtag(name) => ApiError::aborted(
            "ETAG_MISMATCH",
            format!("{name} changed since it was read: read it again and retry"),
        ),
        Error::ConcurrentChange(name) => ApiError::aborted(
            "CONCURRENT_CHANGE",
            format!("{name} was changed by a concurrent request: retry"),
        ),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    suite_status::to_status(api_error, crate::SERVICE)
}
