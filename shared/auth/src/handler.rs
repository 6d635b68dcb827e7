use std::future::Future;

use suite_errors::ApiError;
use tonic::{Request, Response, Status};

use crate::Caller;

/// Runs a handler for an authenticated request: hands it the [`Caller`] and the message, and
/// maps its error to a status with the service's one mapping `to_status`.
pub async fn with_caller<Req, Resp, E, Fut>(
    request: Request<Req>,
    to_status: fn(E) -> Status,
    handler: impl FnOnce(Caller, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    E: From<ApiError>,
    Fut: Future<Output = Result<Resp, E>>,
{
    let caller = Caller::of(&request)
        .map_err(|e| to_status(E::from(e)))?
        .clone();
    handler(caller, request.into_inner())
        .await
        .map(Response::new)
        .map_err(to_status)
}
