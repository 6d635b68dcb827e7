use suite_db::StoreError;
use suite_errors::{ApiError, FieldViolations};

/// The two kinds of invitation a link's token is presented for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationKind {
    /// A provider's invitation to a reseller: a partnership.
    Partnership,
    /// A reseller's invitation to a customer.
    Customer,
}

/// Everything the relationship service refuses or fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(FieldViolations),
    /// No such customer, or not one the caller may see.
    #[error("customer {0} not found")]
    CustomerNotFound(String),
    /// No such partner, or not one the caller may see.
    #[error("partner {0} not found")]
    PartnerNotFound(String),
    /// The customer tenant exists already: another partner reaches it by invitation.
    #[error("customer tenant {0} already exists")]
    CustomerTenantExists(String),
    /// The partner already has a record for this customer tenant.
    #[error("customer tenant already recorded under {0}")]
    CustomerExists(String),
    /// No such partnership, or not one the caller is a side of.
    #[error("partnership {0} not found")]
    PartnershipNotFound(String),
    /// A partnership with the reseller already exists (INVITED, ACTIVE or SUSPENDED).
    #[error("partnership {0} already exists")]
    PartnershipExists(String),
    /// The presented token belongs to no invitation of this kind, or the invitation named is
    /// not one the caller may accept.
    #[error("no invitation of {1} has this token")]
    InvitationNotFound(InvitationKind, String),
    /// No such customer invitation, or not one the caller may see.
    #[error("customer invitation {0} not found")]
    CustomerInvitationNotFound(String),
    /// A rule refuses the request.
    #[error("{message}")]
    Precondition {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// The resource the rule is about.
        subject: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// UPPER_SNAKE reason.
        reason: &'static str,
        /// Why.
        message: String,
    },
    /// The `etag` sent is not the current one.
    #[error("{0} changed since it was read")]
    StaleEtag(String),
    /// A concurrent request changed the resource first.
    #[error("{0} was changed by a concurrent request")]
    ConcurrentChange(String),
    /// No such GDAP relationship, or not one the caller may see.
    #[error("delegated admin relationship {0} not found")]
    DelegatedAdminNotFound(String),
    /// The customer already has a GDAP relationship with this display name.
    #[error("display name {0} is taken for this customer")]
    DisplayNameTaken(String),
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
