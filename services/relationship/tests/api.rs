//! The relationship service over real gRPC: customers are visible only to their partner.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_auth::Role;
use suite_config::PeerUrls;
use suite_proto::relationship::v1 as pb;
use suite_testkit::{Actor, TestService, bad_fields, reason, request_id, spawn_service};
use tonic::Code;
use uuid::Uuid;

async fn relationship() -> TestService {
    spawn_service(relationship::run, PeerUrls::default()).await
}

fn create(partner: Uuid) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        request_id: request_id(),
        parent: format!("partners/{partner}"),
        customer: Some(pb::Customer {
            customer_tenant_id: Uuid::new_v4().to_string(),
            display_name: "Northwind Traders".into(),
            domain: "Northwind.onmicrosoft.com".into(),
            country_code: "US".into(),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn admin_agent_records_a_customer_and_reads_it_back() {
    let service = relationship().await;
    let partner = Uuid::new_v4();
    let mut client = service.relationship(&Actor::admin_agent(partner));

    let created = client
        .create_customer(create(partner))
        .await
        .unwrap()
        .into_inner();
    assert!(
        created
            .name
            .starts_with(&format!("partners/{partner}/customers/")),
        "{}",
        created.name
    );
    assert_eq!(created.domain, "northwind.onmicrosoft.com");

    let fetched = client
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    assert_eq!(service.count_rows("audit_events").await, 1);
    assert_eq!(service.count_rows("outbox_messages").await, 1);
}

#[tokio::test]
async fn global_admin_without_admin_agent_is_permission_denied() {
    let service = relationship().await;
    let partner = Uuid::new_v4();

    let status = service
        .relationship(&Actor::global_admin(partner))
        .create_customer(create(partner))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "ROLE_REQUIRED");
    assert!(
        status.message().contains("ADMIN_AGENT"),
        "{}",
        status.message()
    );
    assert_eq!(service.count_rows("customers").await, 0);
}

#[tokio::test]
async fn another_partners_customers_are_not_found() {
    let service = relationship().await;
    let owner = Uuid::new_v4();
    let created = service
        .relationship(&Actor::admin_agent(owner))
        .create_customer(create(owner))
        .await
        .unwrap()
        .into_inner();
    let mut stranger = service.relationship(&Actor::user(
        Uuid::new_v4(),
        &[Role::AdminAgent, Role::GlobalAdmin],
    ));

    let get = stranger
        .get_customer(pb::GetCustomerRequest { name: created.name })
        .await
        .unwrap_err();
    assert_eq!(get.code(), Code::NotFound);

    let list = stranger
        .list_customers(pb::ListCustomersRequest {
            parent: format!("partners/{owner}"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(list.code(), Code::NotFound);

    let write = stranger.create_customer(create(owner)).await.unwrap_err();
    assert_eq!(write.code(), Code::NotFound);
    assert_eq!(service.count_rows("customers").await, 1);
}

#[tokio::test]
async fn no_token_is_unauthenticated() {
    let service = relationship().await;
    let mut anonymous = pb::relationship_service_client::RelationshipServiceClient::new(
        service.anonymous_channel(),
    );
    let status = anonymous
        .list_customers(pb::ListCustomersRequest {
            parent: format!("partners/{}", Uuid::new_v4()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn retried_create_returns_the_same_customer_once() {
    let service = relationship().await;
    let partner = Uuid::new_v4();
    let mut client = service.relationship(&Actor::admin_agent(partner));
    let request = create(partner);

    let first = client
        .create_customer(request.clone())
        .await
        .unwrap()
        .into_inner();
    let second = client.create_customer(request).await.unwrap().into_inner();
    assert_eq!(first, second);
    assert_eq!(service.count_rows("customers").await, 1);
    assert_eq!(service.count_rows("audit_events").await, 1);
}

#[tokio::test]
async fn malformed_customer_names_each_bad_field_and_writes_nothing() {
    let service = relationship().await;
    let partner = Uuid::new_v4();
    let mut request = create(partner);
    request.parent = "partners/not-a-uuid".into();
    let customer = request.customer.as_mut().unwrap();
    customer.customer_tenant_id = String::new();
    customer.domain = "-bad-.example".into();

    let status = service
        .relationship(&Actor::admin_agent(partner))
        .create_customer(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["parent", "customer.customer_tenant_id", "customer.domain"]
    );
    assert_eq!(service.count_rows("customers").await, 0);
    assert_eq!(service.count_rows("idempotency_keys").await, 0);
}

#[tokio::test]
async fn customers_page_in_creation_order() {
    let service = relationship().await;
    let partner = Uuid::new_v4();
    let mut client = service.relationship(&Actor::admin_agent(partner));
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            client
                .create_customer(create(partner))
                .await
                .unwrap()
                .into_inner()
                .name,
        );
    }
    let parent = format!("partners/{partner}");

    let first = client
        .list_customers(pb::ListCustomersRequest {
            parent: parent.clone(),
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_customers(pb::ListCustomersRequest {
            parent: parent.clone(),
            page_size: 2,
            page_token: first.next_page_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<String> = first
        .customers
        .iter()
        .chain(&second.customers)
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(listed, created);
    assert!(second.next_page_token.is_empty());

    // A token is bound to its parent: it cannot be replayed against another partner.
    let other = Uuid::new_v4();
    let status = service
        .relationship(&Actor::admin_agent(other))
        .list_customers(pb::ListCustomersRequest {
            parent: format!("partners/{other}"),
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page_token"]);
}
