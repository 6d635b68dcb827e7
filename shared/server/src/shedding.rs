//! Load shedding: when every slot under the concurrency limit is taken, a new call waits
//! in line for one, at most as many calls as there are slots and for at most a short
//! while; then, or at once when the line is full, it is answered UNAVAILABLE (reason
//! `OVERLOADED`), a code callers may retry with back-off, instead of waiting for a slot
//! until its deadline.
//!
//! The line rides out a burst or a stall of the machine, which would otherwise refuse calls
//! an instance far from its limit serves a moment later. Under a lasting overload it holds
//! calls where refusing them would cost the instance nearly as much work as serving them
//! (their HTTP/2 streams are read and answered either way): a client that bounds its calls
//! in flight, as every HTTP/2 client does per connection, sends fewer while its calls wait,
//! and more of the instance goes to calls it serves. The line is first come, first served,
//! so under a lasting overload a call served has waited about as long as the wait. A call
//! waits at most a tenth of its own deadline (`grpc-timeout`), so that it learns of the
//! overload in time and keeps most of its deadline for its work.
//!
//! The suite's own calls between services are not retried on it: an API call whose peer
//! is shed fails UNAVAILABLE, and the transfer workflow retries the step later.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::Arc;

use bytes::Buf;
use suite_errors::ApiError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, ServiceExt as _};

/// How long, and how far, the body of a refused call is read before it is dropped.
const DRAIN_FOR: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 64 * 1024;
/// Refused bodies read at once; beyond this a refused body is dropped unread.
const DRAINS_IN_FLIGHT: usize = 1024;

/// Sheds load in front of the layers below it (the concurrency limit).
#[derive(Clone)]
pub(crate) struct ShedLayer {
    /// The service answering, as refusals name it (`enrollment`, …).
    domain: &'static str,
    drains: Arc<Semaphore>,
    line: Line,
}

/// The calls waiting for a slot: one place each, for at most `wait`.
#[derive(Clone)]
struct Line {
    places: Arc<Semaphore>,
    wait: Duration,
}

impl Line {
    /// A place in line for a call with `headers`, and how long it may wait: the line's wait,
    /// or a tenth of the caller's deadline (`grpc-timeout`) if that is shorter, so a call
    /// with a short deadline learns of the overload before the deadline and has most of it
    /// left for its work. None when the line is full or the call may not wait a millisecond.
    fn place_for(&self, headers: &http::HeaderMap) -> Option<(OwnedSemaphorePermit, Duration)> {
        let wait = match headers.get("grpc-timeout").and_then(grpc_timeout) {
            Some(deadline) => self.wait.min(deadline / 10),
            None => self.wait,
        };
        // Tokio's timers count whole milliseconds: a shorter wait would last the deadline.
        if wait < Duration::from_millis(1) {
            return None;
        }
        let place = self.places.clone().try_acquire_owned().ok()?;
        Some((place, wait))
    }
}

/// The deadline a `grpc-timeout` header gives: at most eight digits and a unit (gRPC over
/// HTTP/2). tonic reads the header for its own timeout but does not expose it.
fn grpc_timeout(value: &http::HeaderValue) -> Option<Duration> {
    let value = value.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.saturating_mul(3600)),
        "M" => Duration::from_secs(amount.saturating_mul(60)),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

impl ShedLayer {
    /// Sheds for the service `grpc_service` (`enrollment.v1.EnrollmentService`) in front of
    /// `slots` slots; as many calls may wait up to `wait` for one (none when it is zero).
    pub(crate) fn new(grpc_service: &'static str, slots: usize, wait: Duration) -> Self {
        let domain = grpc_service.split('.').next().unwrap_or(grpc_service);
        let places = if wait.is_zero() { 0 } else { slots };
        Self {
            domain,
            drains: Arc::new(Semaphore::new(DRAINS_IN_FLIGHT)),
            line: Line {
                places: Arc::new(Semaphore::new(places)),
                wait,
            },
        }
    }
}

impl<S> tower::Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Shed {
            inner,
            ready: Readiness::Overloaded,
            domain: self.domain,
            drains: self.drains.clone(),
            line: self.line.clone(),
        }
    }
}

/// What the layer below said when last asked.
#[derive(Clone, Copy)]
enum Readiness {
    Ready,
    Overloaded,
    Failed,
}

/// The service [`ShedLayer`] makes. Where tower's `LoadShed` would refuse, it has the call
/// wait in line if there is a place, answers the refusal itself (and a failure of the layer
/// below as INTERNAL), and keeps a refused body to read it (see [`drain`]) where `LoadShed`
/// drops the request.
pub(crate) struct Shed<S> {
    inner: S,
    ready: Readiness,
    domain: &'static str,
    drains: Arc<Semaphore>,
    line: Line,
}

impl<S: Clone> Clone for Shed<S> {
    /// A clone has asked nothing yet: a permit the original holds is not the clone's.
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            ready: Readiness::Overloaded,
            domain: self.domain,
            drains: self.drains.clone(),
            line: self.line.clone(),
        }
    }
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Shed<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Error: Into<BoxError> + Send,
    S::Future: Send + 'static,
    ReqBody: http_body::Body + Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Always ready: it answers for the limit when the limit is not.
        self.ready = match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Readiness::Ready,
            Poll::Ready(Err(_)) => Readiness::Failed,
            Poll::Pending => Readiness::Overloaded,
        };
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let domain = self.domain;
        match std::mem::replace(&mut self.ready, Readiness::Overloaded) {
            Readiness::Ready => {
                let answer = self.inner.call(request);
                Box::pin(async move { Ok(served(answer.await, domain)) })
            }
            Readiness::Failed => {
                Box::pin(std::future::ready(Ok(self.refuse(request, below_failed()))))
            }
            Readiness::Overloaded => match self.line.place_for(request.headers()) {
                Some((place, wait)) => Box::pin(self.clone().wait_in_line(request, place, wait)),
                None => Box::pin(std::future::ready(Ok(
                    self.refuse(request, ApiError::overloaded())
                ))),
            },
        }
    }
}

impl<S> Shed<S> {
    /// Waits up to `wait` for a slot, then serves `request`, or refuses it.
    async fn wait_in_line<ReqBody, ResBody>(
        mut self,
        request: http::Request<ReqBody>,
        place: OwnedSemaphorePermit,
        wait: Duration,
    ) -> Result<http::Response<ResBody>, Infallible>
    where
        S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
        S::Error: Into<BoxError>,
        ReqBody: http_body::Body + Send + 'static,
        ResBody: Default,
    {
        let ready = tokio::time::timeout(wait, self.inner.ready())
            .await
            .map(|ready| ready.is_ok());
        drop(place);
        Ok(match ready {
            Ok(true) => served(self.inner.call(request).await, self.domain),
            Ok(false) => self.refuse(request, below_failed()),
            Err(_) => self.refuse(request, ApiError::overloaded()),
        })
    }

    /// The answer to a refused `request`, whose body is read to its end apart from it.
    fn refuse<ReqBody, ResBody>(
        &self,
        request: http::Request<ReqBody>,
        error: ApiError,
    ) -> http::Response<ResBody>
    where
        ReqBody: http_body::Body + Send + 'static,
        ResBody: Default,
    {
        // Past the bound a refused body is dropped unread, as before there were drains.
        if let Ok(permit) = self.drains.clone().try_acquire_owned() {
            drain(request.into_body(), permit);
        }
        refusal(error, self.domain)
    }
}

/// Why a call is refused when the layer below fails to get ready. The routes below never
/// fail (tonic answers errors as statuses); this is a bug if it is ever seen.
fn below_failed() -> ApiError {
    ApiError::internal("the service below failed")
}

/// The response of a call the service below answered, or INTERNAL if it failed.
fn served<ResBody: Default>(
    answer: Result<http::Response<ResBody>, impl Into<BoxError>>,
    domain: &str,
) -> http::Response<ResBody> {
    answer.unwrap_or_else(|error| refusal(ApiError::internal(error.into().to_string()), domain))
}

/// Reads the body of a refused call to its end, away from the answer; it stops after
/// [`DRAIN_BYTES`] or [`DRAIN_FOR`] and drops the body. A client may send a request's
/// message after the refusal left; the HTTP/2 library charges a small DATA frame that
/// reaches a stream nobody reads against the connection's allowance for good, and closes
/// the connection, every call on it failing, once that runs out. A frame that is read is
/// given back; one that arrives after the drain stopped is still charged.
fn drain<B>(body: B, permit: OwnedSemaphorePermit)
where
    B: http_body::Body + Send + 'static,
{
    tokio::spawn(async move {
        let _permit = permit;
        let mut body = std::pin::pin!(body);
        let mut read = 0;
        let _ = tokio::time::timeout(DRAIN_FOR, async {
            while read < DRAIN_BYTES {
                match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
                    Some(Ok(frame)) => read += frame.data_ref().map_or(0, |data| data.remaining()),
                    Some(Err(_)) | None => break,
                }
            }
        })
        .await;
    });
}

fn refusal<B: Default>(error: ApiError, domain: &str) -> http::Response<B> {
    suite_status::to_status(error, domain).into_http()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use tokio::sync::Notify;
    use tower::limit::GlobalConcurrencyLimitLayer;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// A request body whose message comes when the test sends it; it ends when the sender
    /// is gone, and says so.
    struct Message {
        data: tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>,
        ended: Arc<std::sync::atomic::AtomicBool>,
        on_drop: Arc<Notify>,
    }

    impl Drop for Message {
        fn drop(&mut self) {
            self.on_drop.notify_one();
        }
    }

    impl Message {
        /// A body with its message already there.
        fn now() -> Self {
            let (send, body, _) = Self::later();
            let _ = send.send(bytes::Bytes::from_static(b"message"));
            body
        }

        fn later() -> (
            tokio::sync::mpsc::UnboundedSender<bytes::Bytes>,
            Self,
            Arc<std::sync::atomic::AtomicBool>,
        ) {
            let (send, data) = tokio::sync::mpsc::unbounded_channel();
            let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let body = Self {
                data,
                ended: ended.clone(),
                on_drop: Arc::new(Notify::new()),
            };
            (send, body, ended)
        }

        /// Notified once the body is dropped.
        fn dropped(&self) -> Arc<Notify> {
            self.on_drop.clone()
        }
    }

    impl http_body::Body for Message {
        type Data = bytes::Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Infallible>>> {
            match self.data.poll_recv(cx) {
                Poll::Ready(Some(data)) => Poll::Ready(Some(Ok(http_body::Frame::data(data)))),
                Poll::Ready(None) => {
                    self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            }
        }
    }

    /// A shedder in front of a limit of one call, with a line of `places` places where a
    /// call waits up to `wait`, and a service that says which call entered (its `x-call`
    /// header) and holds it until released.
    fn shed_with_line(
        places: usize,
        wait: Duration,
    ) -> (
        impl tower::Service<
            http::Request<Message>,
            Response = http::Response<String>,
            Error = Infallible,
            Future = impl Send,
        > + Clone
        + Send
        + 'static,
        tokio::sync::mpsc::UnboundedReceiver<String>,
        Arc<Notify>,
    ) {
        let (entered, inside) = tokio::sync::mpsc::unbounded_channel();
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let slow = tower::service_fn(move |request: http::Request<Message>| {
            let (held, entered) = (held.clone(), entered.clone());
            let call = request
                .headers()
                .get("x-call")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            async move {
                let _ = entered.send(call);
                held.notified().await;
                Ok::<_, Infallible>(http::Response::new(String::new()))
            }
        });
        let service = ShedLayer::new("enrollment.v1.EnrollmentService", places, wait)
            .layer(GlobalConcurrencyLimitLayer::new(1).layer(slow));
        (service, inside, release)
    }

    #[tokio::test]
    async fn a_call_beyond_the_limit_is_refused_at_once_and_the_next_one_is_served() {
        let (service, mut inside, release) = shed_with_line(1, Duration::ZERO);

        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();
        // The only slot is taken: the next call is refused without waiting.
        let refused = tokio::time::timeout(
            Duration::from_secs(5),
            service.clone().oneshot(http::Request::new(Message::now())),
        )
        .await
        .expect("refused at once")
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
        let next = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
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

    #[tokio::test]
    async fn a_refused_calls_message_is_read_to_its_end_even_when_it_comes_after_the_refusal() {
        let (service, mut inside, release) = shed_with_line(1, Duration::ZERO);
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();

        let (message, body, ended) = Message::later();
        let refused = service
            .clone()
            .oneshot(http::Request::new(body))
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(refused.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        // The message arrives after the refusal, then the client ends the stream.
        message.send(bytes::Bytes::from_static(b"late")).unwrap();
        drop(message);
        let wait = async {
            while !ended.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), wait)
            .await
            .expect("the refused call's body was read to its end");

        release.notify_one();
        first.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_refused_body_that_never_ends_is_dropped_after_the_drain_time() {
        let (service, mut inside, release) = shed_with_line(1, Duration::ZERO);
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();

        // The client keeps the stream open and sends nothing.
        let (message, body, _) = Message::later();
        let dropped = body.dropped();
        service
            .clone()
            .oneshot(http::Request::new(body))
            .await
            .unwrap();
        tokio::time::timeout(DRAIN_FOR * 5, dropped.notified())
            .await
            .expect("the body was dropped once the drain time passed");
        assert!(message.is_closed());

        release.notify_one();
        first.await.unwrap().unwrap();
    }

    /// Long enough that a call in line is served, not refused, however slow the machine.
    const LONG_WAIT: Duration = Duration::from_secs(60);

    fn overload_reason(response: &http::Response<String>) -> Option<(tonic::Code, String)> {
        use tonic_types::StatusExt as _;
        let status = tonic::Status::from_header_map(response.headers())?;
        let info = status.get_error_details().error_info().cloned()?;
        Some((status.code(), info.reason))
    }

    fn is_served(response: &http::Response<String>) -> bool {
        response.headers().get("grpc-status").is_none()
    }

    /// A call whose message is there, named `name` (its `x-call`), with `headers`.
    fn call(name: &str, headers: &[(&'static str, &str)]) -> http::Request<Message> {
        let mut request = http::Request::new(Message::now());
        for (key, value) in [("x-call", name)].iter().chain(headers) {
            request
                .headers_mut()
                .insert(*key, http::HeaderValue::from_str(value).unwrap());
        }
        request
    }

    /// The answer to `request`, which must come within seconds (`why`).
    async fn answer_within_seconds<S>(
        service: &S,
        request: http::Request<Message>,
        why: &str,
    ) -> http::Response<String>
    where
        S: tower::Service<
                http::Request<Message>,
                Response = http::Response<String>,
                Error = Infallible,
            > + Clone,
    {
        tokio::time::timeout(Duration::from_secs(5), service.clone().oneshot(request))
            .await
            .expect(why)
            .unwrap_or_else(|never| match never {})
    }

    /// Whether `call` is still unanswered a tenth of a second on: a call refused at once
    /// would have been answered by then.
    async fn still_waiting<T>(call: &mut tokio::task::JoinHandle<T>) -> bool {
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_call_beyond_the_limit_waits_in_line_and_is_served_when_a_slot_frees() {
        let (service, mut inside, release) = shed_with_line(1, LONG_WAIT);
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();

        let mut second = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        assert!(
            still_waiting(&mut second).await,
            "the second call was not kept waiting"
        );
        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
        inside.recv().await.unwrap();
        // The second call gave its place up when it got the slot: the next one waits too.
        let mut third = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        assert!(
            still_waiting(&mut third).await,
            "the place of the call served was kept"
        );
        release.notify_one();
        assert!(is_served(&second.await.unwrap().unwrap()));
        inside.recv().await.unwrap();
        release.notify_one();
        assert!(is_served(&third.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn a_call_that_waited_its_time_in_line_is_refused_and_leaves_the_slot_alone() {
        let wait = Duration::from_millis(50);
        let (service, mut inside, release) = shed_with_line(1, wait);
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();

        let asked = tokio::time::Instant::now();
        let refused =
            answer_within_seconds(&service, call("2", &[]), "refused once its wait was over").await;
        assert!(
            asked.elapsed() >= wait,
            "refused after {:?}",
            asked.elapsed()
        );
        assert_eq!(
            overload_reason(&refused),
            Some((tonic::Code::Unavailable, "OVERLOADED".to_owned()))
        );
        // Its place in line is free again: the next call waits too, not refused at once.
        let asked = tokio::time::Instant::now();
        answer_within_seconds(&service, call("3", &[]), "refused once its wait was over").await;
        assert!(asked.elapsed() >= wait, "the place in line was kept");

        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
        // The calls that gave up hold no slot: the next one is served.
        let next = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();
        release.notify_one();
        assert!(is_served(&next.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn a_call_finding_the_line_full_is_refused_at_once() {
        let (service, mut inside, release) = shed_with_line(1, LONG_WAIT);
        let first = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        inside.recv().await.unwrap();
        let mut second = tokio::spawn(service.clone().oneshot(http::Request::new(Message::now())));
        assert!(still_waiting(&mut second).await);

        let third = answer_within_seconds(
            &service,
            call("3", &[]),
            "refused at once: the line's one place is taken",
        )
        .await;
        assert_eq!(
            overload_reason(&third),
            Some((tonic::Code::Unavailable, "OVERLOADED".to_owned()))
        );

        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
        inside.recv().await.unwrap();
        release.notify_one();
        assert!(is_served(&second.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_in_line_frees_its_place() {
        let (service, mut inside, release) = shed_with_line(1, LONG_WAIT);
        let first = tokio::spawn(service.clone().oneshot(call("1", &[])));
        inside.recv().await.unwrap();
        let mut second = tokio::spawn(service.clone().oneshot(call("2", &[])));
        assert!(still_waiting(&mut second).await);

        second.abort();
        assert!(second.await.unwrap_err().is_cancelled());
        let mut third = tokio::spawn(service.clone().oneshot(call("3", &[])));
        assert!(
            still_waiting(&mut third).await,
            "the place of the call that went away was kept"
        );

        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
        assert_eq!(inside.recv().await.unwrap(), "3");
        release.notify_one();
        assert!(is_served(&third.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn calls_in_line_are_served_first_come_first_served() {
        let (service, mut inside, release) = shed_with_line(2, LONG_WAIT);
        let first = tokio::spawn(service.clone().oneshot(call("1", &[])));
        inside.recv().await.unwrap();
        let mut second = tokio::spawn(service.clone().oneshot(call("2", &[])));
        assert!(still_waiting(&mut second).await);
        let mut third = tokio::spawn(service.clone().oneshot(call("3", &[])));
        assert!(still_waiting(&mut third).await);

        for (call, next) in [(first, "2"), (second, "3")] {
            release.notify_one();
            assert!(is_served(&call.await.unwrap().unwrap()));
            assert_eq!(inside.recv().await.unwrap(), next);
        }
        release.notify_one();
        assert!(is_served(&third.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn a_short_caller_deadline_waits_a_tenth_of_it_in_line() {
        let (service, mut inside, release) = shed_with_line(1, LONG_WAIT);
        let first = tokio::spawn(service.clone().oneshot(call("1", &[])));
        inside.recv().await.unwrap();

        let asked = tokio::time::Instant::now();
        let refused = answer_within_seconds(
            &service,
            call("2", &[("grpc-timeout", "3S")]),
            "refused within a tenth of its deadline, not the line's wait",
        )
        .await;
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(2),
            "waited {waited:?} with a deadline of 3 s"
        );
        assert_eq!(
            overload_reason(&refused),
            Some((tonic::Code::Unavailable, "OVERLOADED".to_owned()))
        );
        // A deadline too short to wait a millisecond is refused at once.
        let refused = answer_within_seconds(
            &service,
            call("3", &[("grpc-timeout", "5u")]),
            "refused at once",
        )
        .await;
        assert!(overload_reason(&refused).is_some());

        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
    }

    #[tokio::test]
    async fn a_long_caller_deadline_does_not_lengthen_the_lines_wait() {
        let wait = Duration::from_millis(50);
        let (service, mut inside, release) = shed_with_line(1, wait);
        let first = tokio::spawn(service.clone().oneshot(call("1", &[])));
        inside.recv().await.unwrap();

        // A tenth of a minute is six seconds, longer than the answer may take here.
        let refused = answer_within_seconds(
            &service,
            call("2", &[("grpc-timeout", "1M")]),
            "refused after the line's wait",
        )
        .await;
        assert!(overload_reason(&refused).is_some());

        release.notify_one();
        assert!(is_served(&first.await.unwrap().unwrap()));
    }

    #[test]
    fn grpc_timeout_reads_every_unit_and_nothing_else() {
        let read = |raw: &str| grpc_timeout(&http::HeaderValue::from_str(raw).unwrap());
        assert_eq!(read("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(read("3M"), Some(Duration::from_secs(180)));
        assert_eq!(read("4S"), Some(Duration::from_secs(4)));
        assert_eq!(read("99999999m"), Some(Duration::from_millis(99_999_999)));
        assert_eq!(read("6u"), Some(Duration::from_micros(6)));
        assert_eq!(read("7n"), Some(Duration::from_nanos(7)));
        for nonsense in [
            "",
            "m",
            "5",
            "5x",
            "-5m",
            "+5m",
            "123456789m",
            "1.5S",
            "5 m",
        ] {
            assert_eq!(read(nonsense), None, "{nonsense:?}");
        }
    }
}
