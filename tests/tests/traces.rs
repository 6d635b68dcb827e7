//! One trace across services: a call to the transfer service and the calls it makes to the
//! relationship and enrollment services arrive at an OTLP collector (here one in the test)
//! as spans of one trace.

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
    let telemetry = suite_telemetry::install("suite-tests", LogFormat::Text, Some(endpoint));

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
