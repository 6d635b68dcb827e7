use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations, PreconditionViolation};
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
    /// No such enrollment, or not one the caller may see.
    #[error("enrollment {0} not found")]
    EnrollmentNotFound(String),
    /// No such directory entry.
    #[error("indirect provider {0} not found")]
    ProviderNotFound(String),
    /// The tenant is already registered as a partner.
    #[error("partner {0} already exists")]
    PartnerExists(String),
    /// The provider's tenant already has a directory entry.
    #[error("indirect provider tenant already listed as {0}")]
    ProviderExists(String),
    /// The tenant already holds an enrollment in the program.
    #[error("{message}")]
    AlreadyEnrolled {
        /// The existing enrollment.
        name: String,
        /// What to do instead.
        message: String,
    },
    /// The partner already joined the incentive program.
    #[error("incentive enrollment {0} already exists")]
    IncentiveExists(String),
    /// The caller may register only its own tenant.
    #[error("cannot register another tenant")]
    ForeignTenant,
    /// The `etag` sent is not the current one.
    #[error("{0} changed since it was read")]
    StaleEtag(String),
    /// A concurrent request changed the resource first.
    #[error("{0} was changed by a concurrent request")]
    ConcurrentChange(String),
    /// A rule of the program refuses the request.
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
    api_error.into_status(crate::SERVICE)
}
