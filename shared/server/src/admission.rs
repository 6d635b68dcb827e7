use std::future::Future;

use suite_auth::{Caller, with_caller};
use suite_client::CapabilityCheck;
use suite_errors::ApiError;
use tonic::{Request, Response, Status};

/// Runs a handler like [`suite_auth::with_caller`], once `check` admits the caller: an app
/// (API caller without a user) is refused unless its tenant has Partner Center API access,
/// in every service alike.
pub async fn with_admitted_caller<Req, Resp, E, Fut>(
    request: Request<Req>,
    to_status: fn(E) -> Status,
    check: &CapabilityCheck,
    handler: impl FnOnce(Caller, Req) -> Fut,
) -> Result<Response<Resp>, Status>
where
    Req: suite_proto::Resource,
    E: From<ApiError>,
    Fut: Future<Output = Result<Resp, E>>,
{
    with_caller(request, to_status, |caller, message| async move {
        check.admit(&caller).await?;
        handler(caller, message).await
    })
    .await
}
