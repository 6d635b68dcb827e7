use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations, PreconditionViolation};

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
