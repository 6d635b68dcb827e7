//! The suite's one error model on the wire: a gRPC code plus machine-readable details
//! (`ErrorInfo` with an UPPER_SNAKE reason and the service as domain, `BadRequest` field
//! violations, `PreconditionFailure`, `ResourceInfo`), as Google's AIP-193 describes.
//!
//! Services describe *what* went wrong with their own error enums and turn them into an
//! [`ApiError`] in one function each; this crate decides *how* that looks on the wire.

pub mod fields;

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A field of a request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `partner.country_code`.
    pub field: String,
    /// Why it is refused, lowercase, e.g. `must be an ISO 3166-1 alpha-2 code`.
    pub description: String,
}

/// Every problem found in one request, collected so the caller sees them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is refused for `description`.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Keeps `result`'s value, or records its error against `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(description) => {
                self.add(field, description);
                None
            }
        }
    }

    /// `Ok(value)` when nothing was recorded, otherwise the violations.
    pub fn into_result<T>(self, value: impl FnOnce() -> T) -> Result<T, FieldViolations> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(self)
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded violations.
    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// One violation, for the common case of a single bad field.
    pub fn single(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = Self::new();
        violations.add(field, description);
        violations
    }
}

impl fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for FieldViolations {}

/// A precondition that the request did not meet (`google.rpc.PreconditionFailure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreconditionViolation {
    /// UPPER_SNAKE kind of precondition, e.g. `PROFILE_INCOMPLETE`.
    pub kind: String,
    /// What it concerns, e.g. a resource name.
    pub subject: String,
    /// What to do about it, lowercase.
    pub description: String,
}

/// A refusal ready for the wire: code, reason and details. Boxed, so that `Result`s carrying
/// it stay one pointer wide on the happy path.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError(Box<Refusal>);

#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    code: Code,
    reason: &'static str,
    message: String,
    field_violations: FieldViolations,
    preconditions: Vec<PreconditionViolation>,
    resource: Option<(String, String)>,
}

impl ApiError {
    fn new(code: Code, reason: &'static str, message: impl Into<String>) -> Self {
        Self(Box::new(Refusal {
            code,
            reason,
            message: message.into(),
            field_violations: FieldViolations::new(),
            preconditions: Vec::new(),
            resource: None,
        }))
    }

    /// INVALID_ARGUMENT naming every bad field.
    pub fn invalid_argument(violations: FieldViolations) -> Self {
        let message = format!("invalid request: {violations}");
        let mut error = Self::new(Code::InvalidArgument, "INVALID_ARGUMENT", message);
        error.0.field_violations = violations;
        error
    }

    /// NOT_FOUND for a resource the caller cannot see, whether or not it exists elsewhere.
    pub fn not_found(resource_type: &str, name: &str) -> Self {
        let mut error = Self::new(
            Code::NotFound,
            "RESOURCE_NOT_FOUND",
            format!("{resource_type} {name} not found"),
        );
        error.0.resource = Some((resource_type.to_owned(), name.to_owned()));
        error
    }

    /// ALREADY_EXISTS for a create that collides with an existing resource.
    pub fn already_exists(resource_type: &str, name: &str) -> Self {
        let mut error = Self::new(
            Code::AlreadyExists,
            "RESOURCE_ALREADY_EXISTS",
            format!("{resource_type} {name} already exists"),
        );
        error.0.resource = Some((resource_type.to_owned(), name.to_owned()));
        error
    }

    /// FAILED_PRECONDITION with a reason; add the unmet conditions with [`Self::with_precondition`].
    pub fn failed_precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, reason, message)
    }

    /// FAILED_PRECONDITION with a reason and every unmet condition.
    pub fn failed_precondition_with(
        reason: &'static str,
        message: impl Into<String>,
        violations: Vec<PreconditionViolation>,
    ) -> Self {
        let mut error = Self::failed_precondition(reason, message);
        error.0.preconditions = violations;
        error
    }

    /// ABORTED, e.g. for an `etag` that no longer matches or a concurrent retry.
    pub fn aborted(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::Aborted, reason, message)
    }

    /// PERMISSION_DENIED, e.g. for a role the caller lacks.
    pub fn permission_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, reason, message)
    }

    /// UNAUTHENTICATED: no credentials, or credentials that do not verify.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthenticated, "UNAUTHENTICATED", message)
    }

    /// UNAVAILABLE: a dependency is down; the caller may retry.
    pub fn unavailable(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Code::Unavailable, reason, message)
    }

    /// INTERNAL: a bug or an unexpected state. The detail is logged, never sent.
    pub fn internal(detail: impl fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(Code::Internal, "INTERNAL", "internal error")
    }

    /// Adds one unmet precondition to the details.
    pub fn with_precondition(
        mut self,
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.0.preconditions.push(PreconditionViolation {
            kind: kind.into(),
            subject: subject.into(),
            description: description.into(),
        });
        self
    }

    /// Replaces the human-readable message, keeping code, reason and details.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.0.message = message.into();
        self
    }

    /// The gRPC code.
    pub fn code(&self) -> Code {
        self.0.code
    }

    /// The UPPER_SNAKE reason of the `ErrorInfo`.
    pub fn reason(&self) -> &'static str {
        self.0.reason
    }

    /// The status the caller receives; `domain` names the service that refused.
    pub fn into_status(self, domain: &str) -> Status {
        let refusal = *self.0;
        let mut details = ErrorDetails::new();
        details.set_error_info(refusal.reason, domain, std::collections::HashMap::new());
        for violation in refusal.field_violations.iter() {
            details.add_bad_request_violation(&violation.field, &violation.description);
        }
        for condition in &refusal.preconditions {
            details.add_precondition_failure_violation(
                &condition.kind,
                &condition.subject,
                &condition.description,
            );
        }
        if let Some((resource_type, name)) = &refusal.resource {
            details.set_resource_info(resource_type, name, "", "");
        }
        Status::with_error_details(refusal.code, refusal.message, details)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} {}: {}", self.0.code, self.0.reason, self.0.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_names_every_field_in_details() {
        let mut violations = FieldViolations::new();
        violations.add("partner.country_code", "must be two letters");
        violations.add("request_id", "must not be empty");
        let status = ApiError::invalid_argument(violations).into_status("enrollment");

        assert_eq!(status.code(), Code::InvalidArgument);
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
    fn internal_hides_its_detail() {
        let status = ApiError::internal("connection reset by db-7").into_status("transfer");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("db-7"));
    }
}
