//! The RED metrics of every call: one histogram of call durations in seconds, labelled with
//! the gRPC service, method and status code, so that its count is the request rate, its
//! count by code the error rate, and its buckets the latency. Only methods the suite serves
//! become labels: any other path a caller sends is counted as `unknown`, so callers cannot
//! grow the number of series.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use suite_telemetry::StringValue;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prost::Message as _;
use suite_telemetry::{Histogram, KeyValue};
use tonic::Status;
use tonic::body::Body;

/// Bucket bounds in seconds: sub-millisecond reads up to calls that run into the timeout.
const BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The code recorded for a call dropped before its answer: the caller went away, or its
/// deadline or the server's request timeout passed, which tonic answers as CANCELLED
/// ("Timeout expired"). The latency bucket tells a timeout from a caller that left early.
const CANCELLED: i64 = 1;

/// Reads the `grpc-status` in `headers` (a trailers-only answer) or in trailers.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<i64> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Adds the metrics to a server stack.
#[derive(Clone)]
pub(crate) struct RpcMetricsLayer {
    instruments: Arc<Instruments>,
}

/// A label value shared by every call that carries it, so recording one clones no string.
fn shared(value: impl Into<Arc<str>>) -> StringValue {
    StringValue::from(value.into())
}

struct Instruments {
    duration: Histogram<f64>,
    /// The labels of each method served, by request path.
    methods: HashMap<String, [KeyValue; 2]>,
    unknown: [KeyValue; 2],
}

impl RpcMetricsLayer {
    /// Counts the methods declared in `descriptor_sets` (encoded `FileDescriptorSet`s) under
    /// their names; a set that does not decode adds none (its calls count as `unknown`).
    pub(crate) fn new(descriptor_sets: &[&[u8]]) -> Self {
        let mut methods = HashMap::new();
        for set in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
                tracing::warn!("a descriptor set does not decode: its calls count as unknown");
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        methods.insert(
                            format!("/{service_name}/{}", method.name()),
                            labels(service_name.clone(), method.name().to_owned()),
                        );
                    }
                }
            }
        }
        let duration = suite_telemetry::meter()
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description(
                "Duration of each call the server answered, by method and gRPC status code",
            )
            .with_boundaries(BUCKETS.to_vec())
            .build();
        Self {
            instruments: Arc::new(Instruments {
                duration,
                methods,
                unknown: labels("unknown".to_owned(), "unknown".to_owned()),
            }),
        }
    }
}

fn labels(service: String, method: String) -> [KeyValue; 2] {
    [
        KeyValue::new("rpc.service", shared(service)),
        KeyValue::new("rpc.method", shared(method)),
    ]
}

impl<S> tower::Layer<S> for RpcMetricsLayer {
    type Service = RpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetrics {
            inner,
            instruments: self.instruments.clone(),
        }
    }
}

/// The service [`RpcMetricsLayer`] makes.
#[derive(Clone)]
pub(crate) struct RpcMetrics<S> {
    inner: S,
    instruments: Arc<Instruments>,
}

impl<S> tower::Service<http::Request<Body>> for RpcMetrics<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let call = Call::start(self.instruments.clone(), &request);
        let answer = self.inner.call(request);
        // Dropped before the answer, `call` records the call as cancelled.
        Box::pin(async move { Ok(call.watch(answer.await?)) })
    }
}

/// One call being measured; it records exactly once, at the latest when dropped.
struct Call {
    instruments: Arc<Instruments>,
    labels: [KeyValue; 2],
    started: Instant,
    recorded: bool,
}

impl Call {
    fn start(instruments: Arc<Instruments>, request: &http::Request<Body>) -> Self {
        let labels = instruments
            .methods
            .get(request.uri().path())
            .unwrap_or(&instruments.unknown)
            .clone();
        Self {
            instruments,
            labels,
            started: Instant::now(),
            recorded: false,
        }
    }

    fn record(&mut self, code: i64) {
        if std::mem::replace(&mut self.recorded, true) {
            return;
        }
        let [service, method] = self.labels.clone();
        self.instruments.duration.record(
            self.started.elapsed().as_secs_f64(),
            &[service, method, KeyValue::new("rpc.grpc.status_code", code)],
        );
    }

    /// A refusal carries its status in the headers; an answer in the trailers at the end of
    /// its body, which is watched for them.
    fn watch(mut self, response: http::Response<Body>) -> http::Response<Body> {
        if let Some(code) = grpc_status(response.headers()) {
            self.record(code);
            return response;
        }
        response.map(|inner| Body::new(WatchedBody { inner, call: self }))
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.record(CANCELLED);
    }
}

struct WatchedBody {
    inner: Body,
    call: Call,
}

impl http_body::Body for WatchedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.call.record(code);
                }
            }
            Some(Err(status)) => self.call.record(i64::from(i32::from(status.code()))),
            None => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_become_labels() {
        let layer = RpcMetricsLayer::new(&[
            suite_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ]);
        let methods = &layer.instruments.methods;
        let check = methods
            .get("/grpc.health.v1.Health/Check")
            .map(|labels| labels[1].value.as_str().into_owned());
        assert_eq!(check.as_deref(), Some("Check"));
        assert!(methods.contains_key("/enrollment.v1.EnrollmentService/GetCapabilities"));
        assert!(methods.contains_key("/transfer.v1.TransferService/CreateTransferRequest"));
        assert!(!methods.contains_key("/enrollment.v1.EnrollmentService/NoSuchMethod"));
    }
}
