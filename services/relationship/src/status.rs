//! The one mapping from the service's errors to gRPC statuses.

use suite_errors::{ApiError, Code};
use tonic::Status;

use crate::error::{Error, InvitationKind};

const CUSTOMER_INVITATION: &str = "relationship.v1.CustomerInvitation";

/// The one mapping from relationship errors to gRPC statuses.
pub fn to_status(error: Error) -> Status {
    let api_error = match error {
        Error::Invalid(violations) => ApiError::invalid_argument(violations),
        Error::CustomerNotFound(name) => ApiError::not_found("relationship.v1.Customer", &name),
        Error::PartnerNotFound(name) => ApiError::not_found("enrollment.v1.Partner", &name),
        Error::CustomerTenantExists(name) => ApiError::new(
            suite_errors::Code::AlreadyExists,
            "CUSTOMER_TENANT_EXISTS",
            "this customer tenant already exists: send the customer a reseller relationship invitation instead",
        )
        .with_resource("relationship.v1.Customer", &name),
        Error::CustomerExists(name) => ApiError::already_exists("relationship.v1.Customer", &name),
        Error::PartnershipNotFound(name) => {
            ApiError::not_found("relationship.v1.Partnership", &name)
        }
        Error::PartnershipExists(name) => {
            ApiError::already_exists("relationship.v1.Partnership", &name)
        }
        Error::InvitationNotFound(invitation, name) => ApiError::new(
            Code::NotFound,
            "INVITATION_NOT_FOUND",
            "no invitation has this token: open the link of the invitation e-mail",
        )
        .with_resource(
            match invitation {
                InvitationKind::Partnership => "relationship.v1.Partnership",
                InvitationKind::Customer => CUSTOMER_INVITATION,
            },
            &name,
        ),
        Error::CustomerInvitationNotFound(name) => ApiError::not_found(CUSTOMER_INVITATION, &name),
        Error::Precondition {
            reason,
            subject,
            message,
        } => ApiError::failed_precondition(reason, message.clone())
            .with_precondition(reason, subject, message),
        Error::Forbidden { reason, message } => ApiError::permission_denied(reason, message),
        Error::StaleEtag(name) => ApiError::aborted(
            "ETAG_MISMATCH",
            format!("{name} changed since it was read: read it again and retry"),
        ),
        Error::ConcurrentChange(name) => ApiError::aborted(
            "CONCURRENT_CHANGE",
            format!("{name} was changed by a concurrent request: retry"),
        ),
        Error::DelegatedAdminNotFound(name) => {
            ApiError::not_found("relationship.v1.DelegatedAdminRelationship", &name)
        }
        Error::DisplayNameTaken(display_name) => ApiError::new(
            Code::AlreadyExists,
            "DISPLAY_NAME_TAKEN",
            format!(
                "you already have a delegated admin relationship with this customer named {}: choose another name",
                suite_errors::fields::quoted(&display_name)
            ),
        ),
        Error::Api(api_error) => api_error,
        Error::Store(store_error) => ApiError::from(store_error),
    };
    suite_status::to_status(api_error, crate::SERVICE)
}
