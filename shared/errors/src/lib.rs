//! The suite's one error model on the wire: a gRPC code plus machine-readable details
//! (`ErrorInfo` with an UPPER_SNAKE reason and the service as domain, `BadRequest` field
//! violations, `PreconditionFailure`, `ResourceInfo`), as Google's AIP-193 describes.
//!
//! Services describe *what* went wrong with their own error enums and turn them into an
//! [`ApiError`] in one function each. The crate knows nothing of the transport, so domain
//! code may use it; `suite-status` turns an [`ApiError`] into a `tonic::Status` and back.

pub mod fields;

use std::borrow::Cow;
use std::fmt;

/// The gRPC status code a refusal travels with (same names and numbers as `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the names are gRPC's own
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// The code's name as gRPC writes it, e.g. `PERMISSION_DENIED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// The code with this number; unknown numbers are `Unknown`, as gRPC says.
    pub fn from_i32(value: i32) -> Self {
        const ALL: [Code; 17] = [
            Code::Ok,
            Code::Cancelled,
            Code::Unknown,
            Code::InvalidArgument,
            Code::DeadlineExceeded,
            Code::NotFound,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::Aborted,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
            Code::Unauthenticated,
        ];
        usize::try_from(value)
            .ok()
            .and_then(|index| ALL.get(index).copied())
            .unwrap_or(Code::Unknown)
    }
}

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

    /// Every value of the repeated field `field`, each checked by `check`: at least one, at
    /// most `max`, none twice. A refused value is recorded against `field[index]`, an empty
    /// or too long list against `field`; `None` unless every value passed.
    pub fn check_each<T: PartialEq>(
        &mut self,
        field: &str,
        values: &[String],
        max: usize,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        if values.is_empty() {
            self.add(field, "name at least one");
            return None;
        }
        if values.len() > max {
            self.add(field, format!("at most {max} per request"));
            return None;
        }
        let mut checked = Vec::with_capacity(values.len());
        let mut all_passed = true;
        for (index, value) in values.iter().enumerate() {
            let item = format!("{field}[{index}]");
            match self.check(&item, check(value)) {
                Some(value) if checked.contains(&value) => {
                    self.add(item, "named twice");
                    all_passed = false;
                }
                Some(value) => checked.push(value),
                None => all_passed = false,
            }
        }
        all_passed.then_some(checked)
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
    reason: Cow<'static, str>,
    message: String,
    field_violations: FieldViolations,
    preconditions: Vec<PreconditionViolation>,
    resource: Option<(String, String)>,
    origin: Option<String>,
}

impl ApiError {
    /// A refusal with any code; prefer the named constructors below.
    pub fn new(
        code: Code,
        reason: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self(Box::new(Refusal {
            code,
            reason: reason.into(),
            message: message.into(),
            field_violations: FieldViolations::new(),
            preconditions: Vec::new(),
            resource: None,
            origin: None,
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

    /// UNAVAILABLE (reason `OVERLOADED`): the instance is serving as much as it can; the
    /// caller may retry with back-off, ideally on another instance.
    pub fn overloaded() -> Self {
        Self::unavailable(
            "OVERLOADED",
            "the service is serving as many calls as it can; retry with back-off",
        )
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
    pub fn reason(&self) -> &str {
        &self.0.reason
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The bad fields, for `BadRequest` details.
    pub fn field_violations(&self) -> &FieldViolations {
        &self.0.field_violations
    }

    /// The unmet preconditions, for `PreconditionFailure` details.
    pub fn preconditions(&self) -> &[PreconditionViolation] {
        &self.0.preconditions
    }

    /// The resource type and name, for `ResourceInfo` details.
    pub fn resource(&self) -> Option<(&str, &str)> {
        self.0
            .resource
            .as_ref()
            .map(|(kind, name)| (kind.as_str(), name.as_str()))
    }

    /// The service that refused, when it is not the one answering (a peer's refusal
    /// passed on); the `ErrorInfo` domain.
    pub fn origin(&self) -> Option<&str> {
        self.0.origin.as_deref()
    }

    /// Marks the refusal as made by service `origin`.
    pub fn with_origin(mut self, origin: impl Into<String>) -> Self {
        self.0.origin = Some(origin.into());
        self
    }

    /// Adds a bad field to the details.
    pub fn with_field_violation(
        mut self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.0.field_violations.add(field, description);
        self
    }

    /// Sets the resource the refusal is about.
    pub fn with_resource(mut self, resource_type: &str, name: &str) -> Self {
        self.0.resource = Some((resource_type.to_owned(), name.to_owned()));
        self
    }

    /// Whether the refusal is about the request itself, so that sending it again can never
    /// succeed: it is malformed, names nothing, or breaks a rule of the resource's state.
    pub fn is_final(&self) -> bool {
        matches!(
            self.0.code,
            Code::InvalidArgument
                | Code::NotFound
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::OutOfRange
        )
    }

    /// Whether the same request may succeed if sent again later: the service or one it
    /// depends on is down or overloaded, or a concurrent change won a race.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.0.code,
            Code::Unavailable | Code::Aborted | Code::ResourceExhausted | Code::DeadlineExceeded
        )
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
    fn invalid_argument_keeps_every_field() {
        let mut violations = FieldViolations::new();
        violations.add("partner.country_code", "must be two letters");
        violations.add("request_id", "must not be empty");
        let error = ApiError::invalid_argument(violations);
        assert_eq!(error.code(), Code::InvalidArgument);
        let fields: Vec<_> = error
            .field_violations()
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, ["partner.country_code", "request_id"]);
        assert_eq!(error.reason(), "INVALID_ARGUMENT");
    }

    fn digits(value: &str) -> Result<u32, String> {
        value.parse().map_err(|_| "must be a number".to_owned())
    }

    fn refused(violations: &FieldViolations) -> Vec<(String, String)> {
        violations
            .iter()
            .map(|v| (v.field.clone(), v.description.clone()))
            .collect()
    }

    #[test]
    fn check_each_keeps_a_list_whose_every_value_passes() {
        let mut violations = FieldViolations::new();
        let values = ["3".to_owned(), "1".to_owned()];
        assert_eq!(
            violations.check_each("ids", &values, 2, digits),
            Some(vec![3, 1])
        );
        assert!(violations.is_empty());
    }

    #[test]
    fn check_each_names_every_refused_value_by_its_index() {
        let mut violations = FieldViolations::new();
        let values = ["1".to_owned(), "x".to_owned(), "1".to_owned()];
        assert_eq!(violations.check_each("ids", &values, 5, digits), None);
        assert_eq!(
            refused(&violations),
            [
                ("ids[1]".to_owned(), "must be a number".to_owned()),
                ("ids[2]".to_owned(), "named twice".to_owned()),
            ]
        );
    }

    #[test]
    fn check_each_refuses_an_empty_or_too_long_list_as_a_whole() {
        let mut violations = FieldViolations::new();
        assert_eq!(violations.check_each("ids", &[], 2, digits), None);
        let three = ["1".to_owned(), "2".to_owned(), "3".to_owned()];
        assert_eq!(violations.check_each("ids", &three, 2, digits), None);
        assert_eq!(
            refused(&violations),
            [
                ("ids".to_owned(), "name at least one".to_owned()),
                ("ids".to_owned(), "at most 2 per request".to_owned()),
            ]
        );
    }

    #[test]
    fn internal_hides_its_detail() {
        let error = ApiError::internal("connection reset by db-7");
        assert_eq!(error.code(), Code::Internal);
        assert!(!error.message().contains("db-7"));
    }

    #[test]
    fn codes_round_trip_their_numbers() {
        for number in 0..17 {
            assert_eq!(Code::from_i32(number) as i32, number);
        }
        assert_eq!(Code::from_i32(99), Code::Unknown);
    }
}
