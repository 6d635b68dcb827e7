//! The other services keep a tenant's capabilities for the configured time: a change of
//! programs reaches them no later than that, and not before.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use suite_config::PeerUrls;
use suite_proto::relationship::v1 as pb;
use suite_testkit::{
    Actor, TestService, direct_bill_partner, eventually, reason, request_id, restrict_direct_bill,
    spawn_service, spawn_service_adjusted,
};
use uuid::Uuid;

async fn relationship_keeping_capabilities_for(
    enrollment: &TestService,
    ttl: Duration,
) -> TestService {
    let enrollment_url = enrollment.url();
    spawn_service_adjusted(relationship::run, move |config| {
        config.peers = PeerUrls {
            enrollment: Some(enrollment_url),
            ..PeerUrls::default()
        };
        config.capability_cache_ttl = ttl;
    })
    .await
}

fn new_customer(partner: Uuid) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        request_id: request_id(),
        parent: format!("partners/{partner}"),
        customer: Some(pb::Customer {
            customer_tenant_id: Uuid::new_v4().to_string(),
            display_name: "Wide World Importers".into(),
            domain: "wideworldimporters.onmicrosoft.com".into(),
            country_code: "US".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_restriction_reaches_another_service_once_its_cached_answer_expires() {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let partner = direct_bill_partner(&enrollment).await;
    let agent = Actor::admin_agent(partner);
    let keeping =
        relationship_keeping_capabilities_for(&enrollment, Duration::from_secs(3600)).await;
    let brief =
        relationship_keeping_capabilities_for(&enrollment, Duration::from_millis(200)).await;
    for service in [&keeping, &brief] {
        service
            .relationship(&agent)
            .create_customer(new_customer(partner))
            .await
            .unwrap();
    }

    restrict_direct_bill(&enrollment, partner).await;

    // Within its time the kept answer still serves: the documented staleness.
    keeping
        .relationship(&agent)
        .create_customer(new_customer(partner))
        .await
        .unwrap();
    // Once it expires the restriction applies.
    eventually(
        "the restriction reaches the relationship service",
        Duration::from_secs(10),
        || async {
            match brief
                .relationship(&agent)
                .create_customer(new_customer(partner))
                .await
            {
                Ok(_) => false,
                Err(status) => {
                    assert_eq!(reason(&status), "CAPABILITY_REQUIRED", "{status:?}");
                    true
                }
            }
        },
    )
    .await;
}
