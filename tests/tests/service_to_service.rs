//! The transfer service checks its preconditions with the enrollment and relationship
//! services over gRPC, acting for its caller: the callee applies the end user's tenant and
//! roles, and a peer's refusal reaches the caller with its own code and reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_proto::relationship::v1 as relationship_pb;
use suite_proto::transfer::v1 as transfer_pb;
use suite_testkit::{Actor, direct_bill_partner, reason, request_id, restrict_direct_bill};
use tonic::Code;
use uuid::Uuid;

use suite_testkit::Suite as Services;

async fn start() -> Services {
    Services::start().await
}

/// The ADMIN_AGENT of a new partner with an ACTIVE direct-bill enrollment.
async fn agent(services: &Services) -> Actor {
    Actor::admin_agent(direct_bill_partner(&services.enrollment).await)
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
        ..Default::default()
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
            billing_period: transfer_pb::BillingPeriod::Usage as i32,
            unit_price: Some(suite_proto::enrollment::v1::Money {
                currency_code: "USD".into(),
                amount_minor: 0,
            }),
            azure_subscription_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn subscription_is_recorded_under_a_customer_the_relationship_service_confirms() {
    let services = start().await;
    let agent = agent(&services).await;
    let customer = customer_of(&services, &agent).await;

    let created = services
        .transfer()
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
        .transfer()
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
    let agent = agent(&services).await;
    let missing = format!("partners/{}/customers/{}", agent.tenant_id, Uuid::new_v4());

    let status = services
        .transfer()
        .transfer(&agent)
        .create_subscription(subscription(&missing))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&missing), "{}", status.message());
    assert_eq!(services.transfer().count_rows("subscriptions").await, 0);
    assert_eq!(services.transfer().count_rows("idempotency_keys").await, 0);
}

#[tokio::test]
async fn another_partners_customer_and_subscriptions_are_not_found() {
    let services = start().await;
    let owner = agent(&services).await;
    let customer = customer_of(&services, &owner).await;
    let created = services
        .transfer()
        .transfer(&owner)
        .create_subscription(subscription(&customer))
        .await
        .unwrap()
        .into_inner();

    let stranger = agent(&services).await;
    let mut client = services.transfer().transfer(&stranger);
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
    assert_eq!(services.transfer().count_rows("subscriptions").await, 1);
}

#[tokio::test]
async fn sales_agent_cannot_record_subscriptions() {
    let services = start().await;
    let agent = agent(&services).await;
    let tenant = agent.tenant_id;
    let customer = customer_of(&services, &agent).await;
    let sales = Actor::user(tenant, &[suite_auth::Role::SalesAgent]);

    let status = services
        .transfer()
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
    let agent = agent(&services).await;
    let customer = customer_of(&services, &agent).await;
    let Services {
        relationship,
        transfer,
        ..
    } = services;
    let transfer = transfer.expect("the transfer service is running");
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

#[tokio::test]
async fn a_restricted_partner_makes_no_purchase_but_reads_its_subscriptions() {
    let services = start().await;
    let agent = agent(&services).await;
    let customer = customer_of(&services, &agent).await;
    let mut client = services.transfer().transfer(&agent);
    let existing = client
        .create_subscription(subscription(&customer))
        .await
        .unwrap()
        .into_inner();

    restrict_direct_bill(&services.enrollment, agent.tenant_id).await;

    let refused = client
        .create_subscription(subscription(&customer))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CAPABILITY_REQUIRED");
    assert_eq!(services.transfer().count_rows("subscriptions").await, 1);

    let read = client
        .get_subscription(transfer_pb::GetSubscriptionRequest {
            name: existing.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, existing);
}

#[tokio::test]
async fn an_app_without_api_access_is_refused_with_the_enrollment_services_reason() {
    let services = start().await;
    let outsider = Uuid::new_v4();
    let refused = services
        .transfer()
        .transfer(&Actor::app(outsider))
        .list_subscriptions(transfer_pb::ListSubscriptionsRequest {
            parent: format!("partners/{outsider}/customers/{}", Uuid::new_v4()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason(&refused), "API_ACCESS_NOT_ALLOWED");
}

#[tokio::test]
async fn an_enrollment_outage_is_unavailable_and_writes_nothing() {
    let services = start().await;
    let agent = agent(&services).await;
    let customer = customer_of(&services, &agent).await;
    let Services {
        enrollment,
        transfer,
        ..
    } = services;
    let transfer = transfer.expect("the transfer service is running");
    enrollment.stop().await;

    let status = transfer
        .transfer(&agent)
        .create_subscription(subscription(&customer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PEER_UNAVAILABLE");
    assert_eq!(transfer.count_rows("subscriptions").await, 0);
}

#[tokio::test]
async fn a_customer_with_an_indirect_reseller_relationship_is_sold_to_by_its_provider_only() {
    let services = start().await;
    // A direct-bill partner has the customer; the customer then accepts an invitation to a
    // reseller and its provider: it is served indirectly, so direct bill sells it nothing.
    let direct = agent(&services).await;
    let customer = Uuid::new_v4();
    suite_testkit::record_customer(&services.relationship, direct.tenant_id, customer).await;
    let (provider, reseller) =
        suite_testkit::active_partnership(&services.enrollment, &services.relationship).await;
    suite_testkit::customer_joins_reseller_and_provider(
        &services.relationship,
        reseller,
        provider,
        customer,
    )
    .await;
    let view = |partner: Uuid| format!("partners/{partner}/customers/{customer}");

    let refused = services
        .transfer()
        .transfer(&direct)
        .create_subscription(subscription(&view(direct.tenant_id)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "DIRECT_BILL_CUSTOMER_REQUIRED");
    // The reseller asks its provider rather than buying.
    let refused = services
        .transfer()
        .transfer(&Actor::admin_agent(reseller))
        .create_subscription(subscription(&view(reseller)))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PROVIDER_ORDERS_REQUIRED");
    assert_eq!(services.transfer().count_rows("subscriptions").await, 0);
    // The provider orders: it has a reseller relationship with the customer.
    services
        .transfer()
        .transfer(&Actor::admin_agent(provider))
        .create_subscription(subscription(&view(provider)))
        .await
        .unwrap();
    // A provider without one does not even see the customer.
    let stranger = suite_testkit::official_indirect_provider(&services.enrollment).await;
    let refused = services
        .transfer()
        .transfer(&Actor::admin_agent(stranger))
        .create_subscription(subscription(&view(stranger)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert_eq!(services.transfer().count_rows("subscriptions").await, 1);
}
