//! What an operator sees of the suite: one trace across services (a call to the transfer
//! service and the calls it makes arrive at an OTLP collector, here one in the test, as
//! spans of one trace), and the metrics on the Prometheus scrape endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use suite_auth::Role;
use suite_config::LogFormat;
use suite_proto::transfer::v1 as transfer;
use suite_testkit::{Actor, direct_bill_partner, eventually, record_customer, request_id};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// A span as received: its trace id, its `rpc` attribute and its gRPC status code.
type Received = (Vec<u8>, String, Option<i64>);

/// The spans received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    let attribute = |key: &str| {
                        span.attributes
                            .iter()
                            .find(|attribute| attribute.key == key)
                            .and_then(|attribute| attribute.value.as_ref()?.value.clone())
                    };
                    let rpc = match attribute("rpc") {
                        Some(Value::StringValue(text)) => text,
                        other => format!("{other:?}"),
                    };
                    let status = match attribute("rpc.grpc.status_code") {
                        Some(Value::IntValue(code)) => Some(code),
                        _ => None,
                    };
                    spans.push((span.trace_id, rpc, status));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tokio::test]
async fn a_call_and_the_calls_it_makes_are_one_trace() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let collector = Collector::default();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let telemetry = suite_telemetry::install(
        "suite-tests",
        LogFormat::Text,
        suite_telemetry::Exports {
            otlp_endpoint: Some(endpoint),
            scrape: false,
        },
    );

    let suite = suite_testkit::Suite::start().await;
    let partner = direct_bill_partner(&suite.enrollment).await;
    let customer = uuid::Uuid::new_v4();
    record_customer(&suite.relationship, partner, customer).await;
    suite
        .transfer()
        .transfer(&Actor::admin_agent(partner))
        .create_subscription(transfer::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}/customers/{customer}"),
            subscription: Some(transfer::Subscription {
                offer_id: "O365-E3".into(),
                offer_kind: transfer::OfferKind::LegacyLicense as i32,
                quantity: 5,
                billing_period: transfer::BillingPeriod::Monthly as i32,
                unit_price: Some(suite_proto::enrollment::v1::Money {
                    currency_code: "USD".into(),
                    amount_minor: 2_300,
                }),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    // A refusal: its span carries the code the caller got.
    let missing = suite
        .transfer()
        .transfer(&Actor::admin_agent(partner))
        .get_subscription(transfer::GetSubscriptionRequest {
            name: format!(
                "partners/{partner}/customers/{customer}/subscriptions/{}",
                uuid::Uuid::new_v4()
            ),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let trace_of = |rpc: &str| -> Option<Vec<u8>> {
        collector
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, name, _)| name == rpc)
            .map(|(trace, _, _)| trace.clone())
    };
    let status_of = |rpc: &str| -> Option<i64> {
        collector
            .0
            .lock()
            .unwrap()
            .iter()
            .find(|(_, name, _)| name == rpc)
            .and_then(|(_, _, status)| *status)
    };
    eventually(
        "the spans reach the collector",
        Duration::from_secs(20),
        || {
            telemetry.flush();
            let arrived = trace_of("/transfer.v1.TransferService/CreateSubscription").is_some()
                && trace_of("/relationship.v1.RelationshipService/GetCustomer").is_some()
                && trace_of("/transfer.v1.TransferService/GetSubscription").is_some();
            async move { arrived }
        },
    )
    .await;
    let root = trace_of("/transfer.v1.TransferService/CreateSubscription").unwrap();
    assert_eq!(root.len(), 16);
    assert_eq!(
        trace_of("/relationship.v1.RelationshipService/GetCustomer").unwrap(),
        root,
        "the relationship service's span continues the caller's trace"
    );
    assert_eq!(
        status_of("/transfer.v1.TransferService/CreateSubscription"),
        Some(0),
        "an answer's span records OK"
    );
    assert_eq!(
        status_of("/transfer.v1.TransferService/GetSubscription"),
        Some(tonic::Code::NotFound as i64),
        "a refusal's span records its code"
    );
    let spans = collector.0.lock().unwrap();
    let enrollment_in_trace = spans
        .iter()
        .any(|(trace, rpc, _)| trace == &root && rpc.starts_with("/enrollment.v1."));
    assert!(
        enrollment_in_trace,
        "the capability check is part of the trace"
    );
}

/// The scrape endpoint's text, fetched as a Prometheus server would (plain HTTP/1.1 GET).
async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: metrics\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain"),
        "{head}"
    );
    body.to_owned()
}

/// The value of the sample named `name` whose labels include each of `labels`
/// (`key="value"`); `None` when there is no such sample.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name && labels.iter().all(|label| rest.contains(label)))
                .then(|| value.parse().ok())?
        })
        .reduce(|sum, value| sum + value)
}

#[tokio::test]
async fn the_scrape_endpoint_shows_calls_by_method_and_code_the_outboxes_and_the_workflow() {
    let telemetry = suite_telemetry::install(
        "suite-tests",
        LogFormat::Text,
        suite_telemetry::Exports {
            otlp_endpoint: None,
            scrape: true,
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = listener.local_addr().unwrap();
    tokio::spawn(suite_server::serve_metrics(
        listener,
        telemetry.scrape().unwrap(),
        std::future::pending(),
    ));

    let suite = suite_testkit::Suite::start().await;
    let ready = suite.transferable_customer().await;
    let source_agent = Actor::admin_agent(ready.source);
    let request = suite
        .transfer()
        .transfer(&source_agent)
        .create_transfer_request(transfer::CreateTransferRequestRequest {
            request_id: request_id(),
            parent: format!("partners/{}/customers/{}", ready.source, ready.customer),
            provider: format!("partners/{}", ready.provider),
            subscriptions: vec![ready.subscription.name.clone()],
        })
        .await
        .unwrap()
        .into_inner();
    suite
        .transfer()
        .transfer(&Actor::user(ready.provider, &[Role::SalesAgent]))
        .accept_transfer_request(transfer::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: request.name.clone(),
            etag: String::new(),
        })
        .await
        .unwrap();
    // Another tenant's request is NOT_FOUND; a method nobody serves is UNIMPLEMENTED.
    let hidden = suite
        .transfer()
        .transfer(&Actor::admin_agent(uuid::Uuid::new_v4()))
        .get_transfer_request(transfer::GetTransferRequestRequest {
            name: request.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), tonic::Code::NotFound);
    let unknown = suite_testkit::raw::RawClient::new(suite.transfer().channel())
        .call(
            &format!(
                "/transfer.v1.TransferService/Method{}",
                uuid::Uuid::new_v4().simple()
            ),
            &source_agent.token(),
            Vec::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);

    let text = Arc::new(Mutex::new(String::new()));
    eventually(
        "the transfer completes and the gauges see its message delivered",
        Duration::from_secs(20),
        || {
            let text = text.clone();
            async move {
                let now = scrape(metrics).await;
                let done = sample(
                    &now,
                    "transfer_workflow_ended_total",
                    &["outcome=\"completed\""],
                ) == Some(1.0)
                    && sample(
                        &now,
                        "outbox_messages_waiting",
                        &[
                            "service=\"transfer\"",
                            "topic=\"transfer.v1.transfer_request.execute\"",
                        ],
                    ) == Some(0.0);
                *text.lock().unwrap() = now;
                done
            }
        },
    )
    .await;
    let text = text.lock().unwrap().clone();
    let calls = |method: &str, code: i64| {
        sample(
            &text,
            "rpc_server_call_duration_seconds_count",
            &[
                "rpc_service=\"transfer.v1.TransferService\"",
                &format!("rpc_method=\"{method}\""),
                &format!("rpc_grpc_status_code=\"{code}\""),
            ],
        )
    };
    assert_eq!(calls("CreateTransferRequest", 0), Some(1.0), "{text}");
    assert_eq!(calls("AcceptTransferRequest", 0), Some(1.0));
    assert_eq!(
        calls("GetTransferRequest", tonic::Code::NotFound as i64),
        Some(1.0)
    );
    assert_eq!(
        calls("GetTransferRequest", 0),
        None,
        "no such answer was given"
    );
    // The made-up method is counted, but not under its own name.
    assert!(
        !text.contains("Method"),
        "a caller's path never becomes a label"
    );
    assert_eq!(
        sample(
            &text,
            "rpc_server_call_duration_seconds_count",
            &["rpc_method=\"unknown\"", "rpc_grpc_status_code=\"12\""],
        ),
        Some(1.0)
    );
    // The transfer service asked its peers while checking the preconditions.
    assert!(
        sample(
            &text,
            "rpc_server_call_duration_seconds_count",
            &["rpc_service=\"relationship.v1.RelationshipService\""],
        )
        .is_some_and(|calls| calls >= 1.0)
    );
    // Latency buckets exist; the slowest bucket holds every call.
    assert!(
        sample(
            &text,
            "rpc_server_call_duration_seconds_bucket",
            &["rpc_method=\"CreateTransferRequest\"", "le=\"+Inf\""],
        ) == Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "transfer_workflow_steps_total",
            &[
                "step=\"TRANSFER_STEP_CHECK_PRECONDITIONS\"",
                "outcome=\"passed\""
            ],
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "outbox_deliveries_total",
            &[
                "topic=\"transfer.v1.transfer_request.execute\"",
                "outcome=\"delivered\""
            ],
        ),
        Some(1.0)
    );
    for gauge in ["outbox_oldest_waiting_age_seconds", "outbox_dead_letters"] {
        assert_eq!(
            sample(
                &text,
                gauge,
                &[
                    "service=\"transfer\"",
                    "topic=\"transfer.v1.transfer_request.execute\""
                ]
            ),
            Some(0.0),
            "{gauge}"
        );
    }
}
