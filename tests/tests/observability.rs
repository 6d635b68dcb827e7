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
use opentelemetry_proto::tonic::trace::v1::Span;
use suite_auth::Role;
use suite_config::LogFormat;
use suite_proto::transfer::v1 as transfer;
use suite_testkit::{Actor, eventually, request_id};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// The spans received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The value of `span`'s attribute `key`, as text.
fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => Some(text.clone()),
                Value::IntValue(number) => Some(number.to_string()),
                other => Some(format!("{other:?}")),
            },
        )
}

impl Collector {
    fn spans(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }

    /// The server span of the first call to `rpc` (a method path).
    fn call(&self, rpc: &str) -> Option<Span> {
        self.spans()
            .into_iter()
            .find(|span| attribute(span, "rpc").as_deref() == Some(rpc))
    }
}

/// The source asks for `ready`'s subscription to move to its provider, whose sales agent
/// accepts: the transfer then runs through all four services.
async fn request_and_accept(
    suite: &suite_testkit::Suite,
    ready: &suite_testkit::Transferable,
) -> transfer::TransferRequest {
    let request = suite
        .transfer()
        .transfer(&Actor::admin_agent(ready.source))
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
    request
}

#[tokio::test]
async fn a_transfer_is_one_trace_across_the_four_services_and_its_execution_links_to_it() {
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
    let ready = suite.transferable_customer().await;
    let source_agent = Actor::admin_agent(ready.source);
    let provider_agent = Actor::user(ready.provider, &[Role::SalesAgent]);
    let request = request_and_accept(&suite, &ready).await;
    eventually("the transfer completes", Duration::from_secs(20), || {
        let transfers = suite.transfer().transfer(&provider_agent);
        let name = request.name.clone();
        async move {
            let mut transfers = transfers;
            transfers
                .get_transfer_request(transfer::GetTransferRequestRequest { name })
                .await
                .unwrap()
                .into_inner()
                .state
                == transfer::TransferRequestState::Completed as i32
        }
    })
    .await;
    // A refusal: its span carries the code the caller got.
    let missing = suite
        .transfer()
        .transfer(&source_agent)
        .get_subscription(transfer::GetSubscriptionRequest {
            name: format!(
                "partners/{}/customers/{}/subscriptions/{}",
                ready.source,
                ready.customer,
                uuid::Uuid::new_v4()
            ),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let steps_done = || {
        collector
            .spans()
            .iter()
            .filter(|span| span.name == "transfer.step")
            .count()
    };
    eventually(
        "the spans reach the collector",
        Duration::from_secs(20),
        || {
            telemetry.flush();
            let arrived = collector
                .call("/transfer.v1.TransferService/CreateTransferRequest")
                .is_some()
                && collector
                    .call("/transfer.v1.TransferService/GetSubscription")
                    .is_some()
                && steps_done() >= 2;
            async move { arrived }
        },
    )
    .await;
    let spans = collector.spans();

    // The creation asks the three other services: every one of their spans is in the
    // caller's trace, a child of the transfer service's span.
    let create = collector
        .call("/transfer.v1.TransferService/CreateTransferRequest")
        .unwrap();
    assert_eq!(create.trace_id.len(), 16);
    assert!(
        create.parent_span_id.is_empty(),
        "the test's call starts the trace"
    );
    let in_create_trace: Vec<&Span> = spans
        .iter()
        .filter(|span| span.trace_id == create.trace_id)
        .collect();
    for package in ["/enrollment.v1.", "/relationship.v1.", "/agreement.v1."] {
        let peer_spans: Vec<&&Span> = in_create_trace
            .iter()
            .filter(|span| attribute(span, "rpc").is_some_and(|rpc| rpc.starts_with(package)))
            .collect();
        assert!(
            !peer_spans.is_empty(),
            "{package} answered within the trace"
        );
        for peer in peer_spans {
            assert_eq!(
                peer.parent_span_id,
                create.span_id,
                "{:?} is a child of the transfer service's span",
                attribute(peer, "rpc")
            );
        }
    }

    // The execution runs later, in a trace of its own that links to the acceptance.
    let accept = collector
        .call("/transfer.v1.TransferService/AcceptTransferRequest")
        .unwrap();
    let delivery = spans
        .iter()
        .find(|span| {
            span.name == "outbox.deliver"
                && span
                    .links
                    .iter()
                    .any(|link| link.trace_id == accept.trace_id && link.span_id == accept.span_id)
        })
        .expect("the execution's delivery links to the acceptance");
    let steps: Vec<&Span> = spans
        .iter()
        .filter(|span| span.name == "transfer.step" && span.parent_span_id == delivery.span_id)
        .collect();
    let step_names: Vec<String> = steps
        .iter()
        .filter_map(|span| attribute(span, "step"))
        .collect();
    assert_eq!(
        step_names,
        [
            "TRANSFER_STEP_CHECK_PRECONDITIONS",
            "TRANSFER_STEP_MOVE_SUBSCRIPTIONS"
        ]
    );
    assert!(steps.iter().all(|step| step.trace_id == delivery.trace_id));
    assert_eq!(
        attribute(steps[0], "transfer_request").as_deref(),
        Some(request.name.as_str())
    );
    // The precondition step asked the relationship service, in the execution's trace.
    assert!(spans.iter().any(|span| span.trace_id == delivery.trace_id
        && span.parent_span_id == steps[0].span_id
        && attribute(span, "rpc").is_some_and(|rpc| rpc.starts_with("/relationship.v1."))));

    // Each call's span names its tenant and the resource it is about, never a credential.
    assert_eq!(
        attribute(&create, "resource"),
        Some(format!(
            "partners/{}/customers/{}",
            ready.source, ready.customer
        ))
    );
    assert_eq!(attribute(&accept, "resource"), Some(request.name.clone()));
    assert_eq!(
        attribute(&accept, "tenant_id"),
        Some(ready.provider.to_string())
    );
    for span in &spans {
        for attribute in &span.attributes {
            let value = format!("{:?}", attribute.value);
            assert!(
                !value.contains("eyJ") && !value.contains("Bearer"),
                "{}: {value}",
                attribute.key
            );
        }
    }
    assert_eq!(
        attribute(&create, "rpc.grpc.status_code").as_deref(),
        Some("0"),
        "an answer's span records OK"
    );
    let refused = collector
        .call("/transfer.v1.TransferService/GetSubscription")
        .unwrap();
    assert_eq!(
        attribute(&refused, "rpc.grpc.status_code"),
        Some((tonic::Code::NotFound as i64).to_string()),
        "a refusal's span records its code"
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
    let request = request_and_accept(&suite, &ready).await;
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
        "the transfer completes and the gauges and counters see its message delivered",
        Duration::from_secs(20),
        || {
            let text = text.clone();
            async move {
                let now = scrape(metrics).await;
                // The relay counts a delivery after it commits it, so the gauge (read from the
                // database) may show it before the counter does: wait for both.
                let done = sample(
                    &now,
                    "transfer_workflow_ended_total",
                    &["outcome=\"completed\""],
                ) == Some(1.0)
                    && sample(
                        &now,
                        "outbox_deliveries_total",
                        &[
                            "topic=\"transfer.v1.transfer_request.execute\"",
                            "outcome=\"delivered\"",
                        ],
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
    // The peers' capability checks read partners' standings through the batched reads; each
    // statement answered at least one of them, and the slowest bucket holds every statement.
    let statements = sample(
        &text,
        "db_read_batch_reads_count",
        &["loader=\"enrollment.standings\""],
    );
    assert!(statements.is_some_and(|n| n >= 1.0), "{text}");
    assert!(
        sample(
            &text,
            "db_read_batch_reads_sum",
            &["loader=\"enrollment.standings\""]
        ) >= statements
    );
    assert_eq!(
        sample(
            &text,
            "db_read_batch_reads_bucket",
            &["loader=\"enrollment.standings\"", "le=\"+Inf\""]
        ),
        statements
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
