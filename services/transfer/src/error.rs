use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations, PreconditionViolation};

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
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// No such transfer request, or not one the caller is a side of.
    #[error("transfer request {0} not found")]
    TransferRequestNotFound(String),
    /// Subscriptions named in a transfer request that cannot move, each with its reason.
    #[error("{} subscription(s) cannot move by self-service transfer", .0.len())]
    NotTransferable(Vec<PreconditionViolation>),
    /// A concurrent request took one of the subscriptions into another open transfer request.
    #[error("a subscription is already in an open transfer request")]
    AlreadyInOpenRequest,
    /// A rule refuses the request.
    #[error("{message}")]
    Precondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The `etag` sent is not the current one.
    #[error("{0} changed since it was read")]
    StaleEtag(String),
    /// A concurrent request changed the resource first.
    #[error("{0} was changed by a concurrent request")]
    ConcurrentChange(String),
    /// Refused by the platform (authorization, idempotency) or by a peer.
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
