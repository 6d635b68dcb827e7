//! The wire form of a refusal, both ways: an [`ApiError`] becomes a `tonic::Status` with
//! `google.rpc` details ([`to_status`]), and a peer's `Status` becomes an [`ApiError`] that
//! keeps its code, reason and details ([`from_peer`]). One rule decides what counts as a
//! peer being down ([`is_outage`]), so every service answers a peer outage the same way.

use std::collections::HashMap;

use suite_errors::{ApiError, Code};
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

/// Longest text of one message or detail sent back. Refusals may quote the caller's input;
/// the status travels in HTTP/2 trailers, and trailers over the peer's header limit break
/// the stream (the caller would see a transport error instead of the refusal).
const MAX_TEXT_CHARS: usize = 512;
/// Most field violations or preconditions listed in one refusal.
const MAX_DETAILS: usize = 32;

/// The status a caller receives for `error`; `domain` names the service answering, unless
/// the refusal came from a peer (then the peer is named).
pub fn to_status(error: ApiError, domain: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(
        error.reason(),
        error.origin().unwrap_or(domain),
        HashMap::new(),
    );
    for violation in error.field_violations().iter().take(MAX_DETAILS) {
        details
            .add_bad_request_violation(bounded(&violation.field), bounded(&violation.description));
    }
    for condition in error.preconditions().iter().take(MAX_DETAILS) {
        details.add_precondition_failure_violation(
            bounded(&condition.kind),
            bounded(&condition.subject),
            bounded(&condition.description),
        );
    }
    if let Some((resource_type, name)) = error.resource() {
        details.set_resource_info(bounded(resource_type), bounded(name), "", "");
    }
    Status::with_error_details(
        tonic::Code::from_i32(error.code() as i32),
        bounded(error.message()),
        details,
    )
}

/// `text`, cut to [`MAX_TEXT_CHARS`] characters with a mark where it was cut.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// Whether `status` from `peer` means the peer could not answer (down, unreachable, too
/// slow, or the connection broke), as opposed to a refusal it decided on. A peer that does
/// not know the method is one older than this service, met during a rolling update: it
/// passes once the peer is updated too, so it is waited out like an outage.
pub fn is_outage(status: &Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Cancelled
            | tonic::Code::Unknown
            | tonic::Code::Unimplemented
    )
}

/// What the caller of this service sees when `peer` answered `status`: an outage is
/// UNAVAILABLE (retryable); a refusal the peer decided (it carries an `ErrorInfo`) keeps its
/// own code, reason and details, with the peer as its domain. Anything else is this suite's
/// fault, not the caller's, and stays an internal error here: the peer's own failure, an
/// answer that does not decode, or the peer refusing this service's credentials (the
/// caller's own token was verified here first).
pub fn from_peer(peer: &str, status: &Status) -> ApiError {
    if is_outage(status) {
        tracing::warn!(peer, code = ?status.code(), message = status.message(), "peer unavailable");
        return ApiError::unavailable(
            "PEER_UNAVAILABLE",
            format!("the {peer} service is unavailable; retry later"),
        );
    }
    let code = Code::from_i32(status.code() as i32);
    let details = status.get_error_details();
    let decided = details
        .error_info()
        .filter(|info| !info.reason.is_empty())
        .filter(|_| {
            !matches!(
                code,
                Code::Internal | Code::DataLoss | Code::Unauthenticated | Code::Ok
            )
        });
    let Some(info) = decided else {
        return ApiError::internal(format!(
            "{peer} answered {:?}: {}",
            status.code(),
            status.message()
        ));
    };
    let (reason, origin) = (info.reason.clone(), info.domain.clone());
    let mut error = ApiError::new(code, reason, status.message()).with_origin(origin);
    if let Some(bad_request) = details.bad_request() {
        for violation in &bad_request.field_violations {
            error = error.with_field_violation(&violation.field, &violation.description);
        }
    }
    if let Some(failure) = details.precondition_failure() {
        for violation in &failure.violations {
            error = error.with_precondition(
                &violation.r#type,
                &violation.subject,
                &violation.description,
            );
        }
    }
    if let Some(resource) = details.resource_info() {
        error = error.with_resource(&resource.resource_type, &resource.resource_name);
    }
    error
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use suite_errors::FieldViolations;

    use super::*;

    #[test]
    fn invalid_argument_names_every_field_in_details() {
        let mut violations = FieldViolations::new();
        violations.add("partner.country_code", "must be two letters");
        violations.add("request_id", "must not be empty");
        let status = to_status(ApiError::invalid_argument(violations), "enrollment");

        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
            .unwrap_or_default();
        assert_eq!(fields, ["partner.country_code", "request_id"]);
        let info = details.error_info().expect("error info");
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, "enrollment");
    }

    #[test]
    fn a_peer_refusal_keeps_its_code_reason_details_and_domain() {
        let refusal = ApiError::failed_precondition("ENROLLMENT_NOT_APPROVED", "not yet")
            .with_precondition("ENROLLMENT_STATE", "partners/x/enrollments/y", "approve it");
        let status = to_status(refusal, "enrollment");

        let passed_on = from_peer("enrollment", &status);
        assert_eq!(passed_on.code(), Code::FailedPrecondition);
        assert_eq!(passed_on.reason(), "ENROLLMENT_NOT_APPROVED");
        assert_eq!(passed_on.preconditions().len(), 1);

        let again = to_status(passed_on, "agreement");
        assert_eq!(again.code(), tonic::Code::FailedPrecondition);
        let details = again.get_error_details();
        let info = details.error_info().expect("error info");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("ENROLLMENT_NOT_APPROVED", "enrollment")
        );
    }

    #[test]
    fn a_peer_outage_is_unavailable_and_its_bug_is_internal() {
        for code in [
            tonic::Code::Unavailable,
            tonic::Code::DeadlineExceeded,
            tonic::Code::Cancelled,
            tonic::Code::Unknown,
            tonic::Code::Unimplemented,
        ] {
            let error = from_peer("relationship", &Status::new(code, "down"));
            assert_eq!(error.code(), Code::Unavailable, "{code:?}");
            assert_eq!(error.reason(), "PEER_UNAVAILABLE");
        }
        let error = from_peer("relationship", &Status::internal("oops"));
        assert_eq!(error.code(), Code::Internal);
    }

    #[test]
    fn long_quoted_input_is_cut_so_the_refusal_still_travels() {
        let huge = "x".repeat(100_000);
        let error = ApiError::not_found("relationship.v1.Customer", &huge)
            .with_field_violation(huge.clone(), format!("unknown path {huge}"));
        let status = to_status(error, "relationship");
        assert!(status.message().chars().count() <= MAX_TEXT_CHARS + 1);
        assert!(
            status.details().len() < 4 * MAX_TEXT_CHARS + 256,
            "{}",
            status.details().len()
        );
        assert_eq!(status.code(), tonic::Code::NotFound);
    }

    #[test]
    fn an_answer_the_peer_did_not_decide_is_internal_not_the_callers_fault() {
        // No ErrorInfo: a response that did not decode here, or tonic's own refusal.
        let undecoded = Status::invalid_argument("failed to decode Protobuf message");
        assert_eq!(from_peer("enrollment", &undecoded).code(), Code::Internal);
        // The peer refusing this service's own token is a deployment fault.
        let refused = to_status(ApiError::unauthenticated("unknown key id"), "enrollment");
        assert_eq!(from_peer("enrollment", &refused).code(), Code::Internal);
    }
}
