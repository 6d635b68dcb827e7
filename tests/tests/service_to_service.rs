//! The transfer service checks its preconditions with the relationship service over gRPC,
//! acting for its caller: the callee applies the end user's tenant and roles.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_config::PeerUrls;
use suite_proto::relationship::v1 as relationship_pb;
use suite_proto::transfer::v1 as transfer_pb;
use suite_testkit::{Actor, TestService, reason, request_id, spawn_service};
use tonic::Code;
use uuid::Uuid;

struct Services {
    relationship: TestService,
    transfer: TestService,
}

async fn start() -> Services {
    let relationship = spawn_service(relationship::run, PeerUrls::default()).await;
    let peers = PeerUrls {
        relationship: Some(relationship.url()),
        ..PeerUrls::default()
    };
    let transfer = spawn_service(transfer::run, peers).await;
    Services {
        relationship,
        transfer,
    }
}

async fn customer_of(services: &Services, agent: &Actor) -> String {
    let request = relationship_pb::CreateCustomerRequest {
        request_id: request_id(),
        parent: format!("partners/{}", agent.tenant_id),
        customer: Some(relationship_pb::Customer {
            customer_tenant_id: Uuid::new_v4().to_string(),
            display_name: "Adatum".into(),
            domain: "adatum.onmicrosoft.com".into(),
            country_code: "DE".into(),
            ..Default::default()
        }),
    };
    services
        .relationship
        .relationship(agent)
        .create_customer(request)
        .await
        .unwrap()
        .into_inner()
        .name
}

fn subscription(parent: &str) -> transfer_pb::CreateSubscriptionRequest {
    transfer_pb::CreateSubscriptionRequest {
        request_id: request_id(),
        parent: parent.to_owned(),
        subscription: Some(transfer_pb::Subscription {
            offer_id: "MS-AZR-0145P".into(),
            offer_kind: transfer_pb::OfferKind::AzurePayAsYouGo as i32,
            quantity: 1,
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn subscription_is_recorded_under_a_customer_the_relationship_service_confirms() {
    let services = start().await;
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer = customer_of(&services, &agent).await;

    let created = services
        .transfer
        .transfer(&agent)
        .create_subscription(subscription(&customer))
        .await
        .unwrap()
        .into_inner();
    assert!(
        created
            .name
            .starts_with(&format!("{customer}/subscriptions/")),
        "{}",
        created.name
    );

    let listed = services
        .transfer
        .transfer(&agent)
        .list_subscriptions(transfer_pb::ListSubscriptionsRequest {
            parent: customer,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.subscriptions, [created]);
}

#[tokio::test]
async fn customer_unknown_to_the_relationship_service_is_not_found_and_nothing_is_written() {
    let services = start().await;
    let agent = Actor::admin_agent(Uuid::new_v4());
    let missing = format!("partners/{}/customers/{}", agent.tenant_id, Uuid::new_v4());

    let status = services
        .transfer
        .transfer(&agent)
        .create_subscription(subscription(&missing))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&missing), "{}", status.message());
    assert_eq!(services.transfer.count_rows("subscriptions").await, 0);
    assert_eq!(services.transfer.count_rows("idempotency_keys").await, 0);
}

#[tokio::test]
async fn another_partners_customer_and_subscriptions_are_not_found() {
    let services = start().await;
    let owner = Actor::admin_agent(Uuid::new_v4());
    let customer = customer_of(&services, &owner).await;
    let created = services
        .transfer
        .transfer(&owner)
        .create_subscription(subscription(&customer))
        .await
        .unwrap()
        .into_inner();

    let stranger = Actor::admin_agent(Uuid::new_v4());
    let mut client = services.transfer.transfer(&stranger);
    let write = client
        .create_subscription(subscription(&customer))
        .await
        .unwrap_err();
    assert_eq!(write.code(), Code::NotFound);
    let read = client
        .get_subscription(transfer_pb::GetSubscriptionRequest { name: created.name })
        .await
        .unwrap_err();
    assert_eq!(read.code(), Code::NotFound);
    assert_eq!(services.transfer.count_rows("subscriptions").await, 1);
}

#[tokio::test]
async fn sales_agent_cannot_record_subscriptions() {
    let services = start().await;
    let tenant = Uuid::new_v4();
    let customer = customer_of(&services, &Actor::admin_agent(tenant)).await;
    let sales = Actor::user(tenant, &[suite_auth::Role::SalesAgent]);

    let status = services
        .transfer
        .transfer(&sales)
        .create_subscription(subscription(&customer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("ADMIN_AGENT"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn relationship_outage_is_unavailable_and_writes_nothing() {
    let services = start().await;
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer = customer_of(&services, &agent).await;
    let Services {
        relationship,
        transfer,
    } = services;
    relationship.stop().await;

    let status = transfer
        .transfer(&agent)
        .create_subscription(subscription(&customer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PEER_UNAVAILABLE");
    assert_eq!(transfer.count_rows("subscriptions").await, 0);
}
