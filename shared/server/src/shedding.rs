//! Load shedding: when every slot under the concurrency limit is taken, a new call is
//! answered at once with UNAVAILABLE (reason `OVERLOADED`), a code callers may retry with
//! back-off, instead of waiting for a slot until its deadline. Goodput stays at what the
//! instance can serve, and the excess learns it in milliseconds. The suite's own calls
//! between services are not retried on it: an API call whose peer is shed fails
//! UNAVAILABLE, and the transfer workflow retries the step later.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use suite_errors::ApiError;
use tower::BoxError;
use tower::load_shed::LoadShed;
use tower::load_shed::error::Overloaded;

/// Sheds load in front of the layers below it (the concurrency limit).
#[derive(Clone, Copy)]
pub(crate) struct ShedLayer {
    /// The service answering, as refusals name it (`enrollment`, …).
    domain: &'static str,
}

impl ShedLayer {
    /// Sheds for the service `grpc_service` (`enrollment.v1.EnrollmentService`).
    pub(crate) fn new(grpc_service: &'static str) -> Self {
        let domain = grpc_service.split('.').next().unwrap_or(grpc_service);
        Self { domain }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner: LoadShed::new(inner),
            domain: self.domain,
        }
    }
}

/// The service [`ShedLayer`] makes.
#[derive(Clone)]
pub(crate) struct Shed<S> {
    inner: LoadShed<S>,
    domain: &'static str,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Shed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Load shedding is always ready: it answers for the limit when the limit is not.
        match self.inner.poll_ready(cx) {
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let answer = self.inner.call(request);
        let domain = self.domain;
        Box::pin(async move {
            Ok(match answer.await {
                Ok(response) => response,
                Err(error) if error.is::<Overloaded>() => refusal(overloaded(), domain),
                // The routes below never fail (tonic answers errors as statuses).
                Err(error) => refusal(ApiError::internal(error.to_string()), domain),
            })
        })
    }
}

fn overloaded() -> ApiError {
    ApiError::unavailable(
        "OVERLOADED",
        "the service is serving as many calls as it can; retry with back-off",
    )
}

fn refusal<B: Default>(error: ApiError, domain: &str) -> http::Response<B> {
    suite_status::to_status(error, domain).into_http()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use tokio::sync::Notify;
    use tower::limit::GlobalConcurrencyLimitLayer;
    use tower::{Layer, ServiceExt};

    use super::*;

    #[tokio::test]
    async fn a_call_beyond_the_limit_is_refused_at_once_and_the_next_one_is_served() {
        let (entered, mut inside) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let slow = tower::service_fn(move |_: http::Request<()>| {
            let (held, entered) = (held.clone(), entered.clone());
            async move {
                let _ = entered.send(());
                held.notified().await;
                Ok::<_, Infallible>(http::Response::new(String::new()))
            }
        });
        let service = ShedLayer::new("enrollment.v1.EnrollmentService")
            .layer(GlobalConcurrencyLimitLayer::new(1).layer(slow));

        let first = tokio::spawn(service.clone().oneshot(http::Request::new(())));
        inside.recv().await.unwrap();
        // The only slot is taken: the next call is refused without waiting.
        let refused = service
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        use tonic_types::StatusExt as _;
        let info = status.get_error_details().error_info().cloned().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("OVERLOADED", "enrollment")
        );

        release.notify_one();
        let served = first.await.unwrap().unwrap();
        assert!(served.headers().get("grpc-status").is_none());
        let next = tokio::spawn(service.clone().oneshot(http::Request::new(())));
        inside.recv().await.unwrap();
        release.notify_one();
        assert!(
            next.await
                .unwrap()
                .unwrap()
                .headers()
                .get("grpc-status")
                .is_none()
        );
    }
}
