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
    // The call's span (made by the server stack) names what the call is about.
    let resource = request.get_ref().resource();
    if !resource.is_empty() {
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
