use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};
use tonic::Status;

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
    /// A peer answered with an unexpected error.
    #[error("{peer} service failed: {status}")]
    PeerFailed {
        /// Which peer.
        peer: &'static str,
        /// What it answered.
        status: Status,
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

/// The one mapping from transfer errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::SubscriptionNotFound(name) => ApiError::not_found("transfer.v1.Subscription", &name),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::PeerFailed { peer, status } => peer_failure(peer, &status),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    api_error.into_status(crate::SERVICE)
}

/// A peer's outage is retryable for our caller; any other failure of a peer is ours.
fn peer_failure(peer: &'static str, status: &Status) -> ApiError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
            tracing::warn!(peer, code = ?status.code(), message = status.message(), "peer unavailable");
            ApiError::unavailable(
                "PEER_UNAVAILABLE",
                format!("the {peer} service is unavailable; retry later"),
            )
        }
        _ => ApiError::internal(format!(
            "{peer} answered {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}
