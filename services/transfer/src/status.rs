//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::ApiError;
use tonic::Status;

use crate::error::Error;

/// The one mapping from transfer errors to the platform's refusals.
pub fn to_api_error(error: Error) -> ApiError {
    match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::SubscriptionNotFound(name) => ApiError::not_found("transfer.v1.Subscription", &name),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::TransferRequestNotFound(name) => {
            ApiError::not_found("transfer.v1.TransferRequest", &name)
        }
        Error::NotTransferable(blockers) => ApiError::failed_precondition_with(
            "SUBSCRIPTION_NOT_TRANSFERABLE",
            format!(
                "{} of the subscriptions cannot move by self-service transfer: see the details for each one's reason",
                blockers.len()
            ),
            blockers,
        ),
        Error::AlreadyInOpenRequest => ApiError::failed_precondition(
            "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST",
            "a subscription was taken into another open transfer request at the same time: list the eligibilities and try again",
        ),
        Error::Precondition { reason, message } => ApiError::failed_precondition(reason, message),
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
    }
}

/// The one mapping from transfer errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    suite_status::to_status(to_api_error(error), crate::SERVICE)
}
