//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::ApiError;
use tonic::Status;

use crate::error::Error;

/// The one mapping from agreement errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::VersionNotFound(name) => ApiError::not_found("agreement.v1.AgreementVersion", &name),
        Error::VersionExists(name) => {
            ApiError::already_exists("agreement.v1.AgreementVersion", &name)
        }
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::CustomerNotFound(name) => ApiError::not_found("agreement.v1.Customer", &name),
        Error::AcceptanceNotFound(name) => {
            ApiError::not_found("agreement.v1.PartnerAgreementAcceptance", &name)
        }
        Error::Precondition {
            reason,
            message,
            violations,
        } => ApiError::failed_precondition_with(reason, message, violations),
        Error::Forbidden { reason, message } => ApiError::permission_denied(reason, message),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    suite_status::to_status(api_error, crate::SERVICE)
}
