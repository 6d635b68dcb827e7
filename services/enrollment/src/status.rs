//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::ApiError;
use tonic::Status;

use crate::error::Error;

/// The one mapping from enrollment errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::EnrollmentNotFound(name) => ApiError::not_found("enrollment.v1.Enrollment", &name),
        Error::ProviderNotFound(name) => {
            ApiError::not_found("enrollment.v1.IndirectProvider", &name)
        }
        Error::PartnerExists(name) => ApiError::already_exists("enrollment.v1.Partner", &name),
        Error::ProviderExists(name) => {
            ApiError::already_exists("enrollment.v1.IndirectProvider", &name)
        }
        Error::AlreadyEnrolled { name, message } => {
            ApiError::already_exists("enrollment.v1.Enrollment", &name).with_message(message)
        }
        Error::IncentiveExists(name) => {
            ApiError::already_exists("enrollment.v1.IncentiveEnrollment", &name)
        }
        Error::ForeignTenant => ApiError::permission_denied(
            "TENANT_MISMATCH",
            "partner.tenant_id must be the caller's own tenant",
        ),
        Error::StaleEtag(name) => ApiError::aborted(
            "ETAG_MISMATCH",
            format!("{name} changed since it was read: read it again and retry"),
        ),
        Error::ConcurrentChange(name) => ApiError::aborted(
            "CONCURRENT_CHANGE",
            format!("{name} was changed by a concurrent request: retry"),
        ),
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
