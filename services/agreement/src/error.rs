use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations, PreconditionViolation};
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
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// No such customer, or not one the caller may see.
    #[error("customer {0} not found")]
    CustomerNotFound(String),
    /// No such acceptance, or not one the caller may see.
    #[error("acceptance {0} not found")]
    AcceptanceNotFound(String),
    /// A rule refuses the request.
    #[error("{message}")]
    Precondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// What is wrong and what to do.
        message: String,
        /// The unmet conditions.
        violations: Vec<PreconditionViolation>,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Why.
        message: String,
    },
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
        Error::PeerFailed { peer, status } => ApiError::internal(format!(
            "{peer} answered {:?}: {}",
            status.code(),
            status.message()
        )),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    api_error.into_status(crate::SERVICE)
}
