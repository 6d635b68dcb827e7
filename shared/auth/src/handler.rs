use std::future::Future;

use suite_errors::ApiError;
use suite_identity::Caller;
use tonic::{Request, Response, Status};

/// Runs a handler for an authenticated request: hands it the [`Caller`] and the message, and
/// maps its error to a status with the service's one mapping `to_status`.
pub async fn with_caller<Req, Resp, E, Fut>(
    request: Request<Req>,
    to_status: fn(E) -> Status,
    handler: impl FnOnce(Caller, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    Req: suite_proto::Resource,
    E: From<ApiError>,
    Fut: Future<Output = Result<Resp, E>>,
{
    // The call's span (made by the server stack) names what the call is about, when the
    // caller sent something shaped like a resource name: nothing else a caller typed, and
    // nothing long, reaches the traces and the logs.
    let resource = request.get_ref().resource();
    if looks_like_resource_name(resource) {
        tracing::Span::current().record("resource", resource);
    }
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| {
            to_status(E::from(ApiError::internal(
                "request reached a handler without authentication",
            )))
        })?;
    handler(caller, request.into_inner())
        .await
        .map(Response::new)
        .map_err(to_status)
}

/// Longest resource name recorded on a span; the suite's longest is under 200 bytes.
const MAX_RECORDED_NAME: usize = 256;

/// `partners/{id}/customers/{id}/…`: segments of letters, digits, `-`, `_` and `.`.
fn looks_like_resource_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RECORDED_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::looks_like_resource_name;

    #[test]
    fn only_names_shaped_like_resources_are_recorded() {
        assert!(looks_like_resource_name(
            "partners/6b0c1f7e-3f0e-4d57-9d1b-2f3c4a5b6c7d/customers/c-1"
        ));
        assert!(!looks_like_resource_name(""));
        assert!(!looks_like_resource_name("ops@contoso.example"));
        assert!(!looks_like_resource_name("partners/x y"));
        assert!(!looks_like_resource_name(&"a".repeat(300)));
    }
}
