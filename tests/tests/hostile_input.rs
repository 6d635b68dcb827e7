//! Bytes that are not a request: every RPC of every service, called with a valid token,
//! answers a message that does not decode with INVALID_ARGUMENT (never INTERNAL) and one over
//! the size limit with RESOURCE_EXHAUSTED.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_auth::Role;
use suite_testkit::Actor;
use suite_testkit::raw::{Catalog, RawClient, wire};
use tonic::Code;
use uuid::Uuid;

#[tokio::test]
async fn every_rpc_refuses_malformed_and_oversized_requests_as_the_callers_fault() {
    let suite = suite_testkit::Suite::start().await;
    let catalog = Catalog::suite();
    let token = Actor::user(
        Uuid::new_v4(),
        &[Role::GlobalAdmin, Role::AdminAgent, Role::SalesAgent],
    )
    .token();
    let oversized = wire::oversized(suite_server::MAX_REQUEST_MESSAGE_BYTES);

    let mut wrong = Vec::new();
    for rpc in catalog.rpcs() {
        let mut client = RawClient::new(suite.serving(rpc).channel());
        let mut cases = vec![
            ("bad varint", wire::bad_varint(), Code::InvalidArgument),
            ("truncated field", wire::truncated(), Code::InvalidArgument),
            ("oversized", oversized.clone(), Code::ResourceExhausted),
        ];
        // A request with no string anywhere (e.g. an empty one) has none to corrupt.
        if let Some(string_field) = catalog.path_to_string(&rpc.input_type) {
            cases.push((
                "invalid UTF-8",
                wire::invalid_utf8(&string_field),
                Code::InvalidArgument,
            ));
        }
        for (case, message, expected) in cases {
            match client.call(&rpc.path(), &token, message).await {
                Err(status) if status.code() == expected => {}
                answer => wrong.push(format!("{} {case}: {answer:?}", rpc.path())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} RPCs answered hostile input wrongly:\n{}",
        wrong.len(),
        catalog.rpcs().len(),
        wrong.join("\n")
    );
}
