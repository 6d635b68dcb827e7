//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::ApiError;
use tonic::Status;

use crate::error::Error;

/// The one mapping from transfer errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::SubscriptionNotFound(name) => ApiError::not_found("transfer.v1.Subscription", &name),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::Precondition { reason, message } => ApiError::failed_precondition(reason, message),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    suite_status::to_status(api_error, crate::SERVICE)
}
