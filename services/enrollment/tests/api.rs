//! The enrollment service over real gRPC: identity, tenancy, validation and idempotency.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_auth::Role;
use suite_config::PeerUrls;
use suite_proto::enrollment::v1 as pb;
use suite_testkit::{Actor, TestService, bad_fields, reason, request_id, spawn_service};
use tonic::Code;
use uuid::Uuid;

async fn enrollment() -> TestService {
    spawn_service(enrollment::run, PeerUrls::default()).await
}

fn partner(tenant_id: Uuid) -> pb::Partner {
    pb::Partner {
        tenant_id: tenant_id.to_string(),
        legal_name: "Contoso Cloud Ltd".into(),
        country_code: "GB".into(),
        primary_contact_email: "ops@contoso.example".into(),
        partner_program_id: "4312345".into(),
        ..Default::default()
    }
}

fn create(tenant_id: Uuid) -> pb::CreatePartnerRequest {
    pb::CreatePartnerRequest {
        request_id: request_id(),
        partner: Some(partner(tenant_id)),
    }
}

/// Rows the service writes for one partner: the partner, its audit event, its outbox event
/// and its idempotency record.
async fn written(service: &TestService) -> [i64; 4] {
    [
        service.count_rows("partners").await,
        service.count_rows("audit_events").await,
        service.count_rows("outbox_messages").await,
        service.count_rows("idempotency_keys").await,
    ]
}

#[tokio::test]
async fn global_admin_registers_its_tenant_and_reads_it_back() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let admin = Actor::global_admin(tenant);

    let created = service
        .enrollment(&admin)
        .create_partner(create(tenant))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.name, format!("partners/{tenant}"));
    assert_eq!(created.etag, "1");
    assert!(created.create_time.is_some());

    let reader = Actor::user(tenant, &[Role::SalesAgent]);
    let fetched = service
        .enrollment(&reader)
        .get_partner(pb::GetPartnerRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, created);
    assert_eq!(written(&service).await, [1, 1, 1, 1]);
}

#[tokio::test]
async fn call_without_token_is_unauthenticated() {
    let service = enrollment().await;
    let mut anonymous =
        pb::enrollment_service_client::EnrollmentServiceClient::new(service.anonymous_channel());

    let status = anonymous
        .create_partner(create(Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(
        status.message().contains("authorization"),
        "{}",
        status.message()
    );
    assert_eq!(written(&service).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn token_from_another_issuer_is_unauthenticated() {
    let service = enrollment().await;
    let channel = service.channel();
    let mut client = pb::enrollment_service_client::EnrollmentServiceClient::with_interceptor(
        channel,
        |mut request: tonic::Request<()>| {
            request.metadata_mut().insert(
                "authorization",
                "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
                    .parse()
                    .unwrap(),
            );
            Ok(request)
        },
    );
    let status = client
        .get_partner(pb::GetPartnerRequest {
            name: format!("partners/{}", Uuid::new_v4()),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn role_that_is_not_enough_is_permission_denied_naming_the_role() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let agent = Actor::admin_agent(tenant);

    let status = service
        .enrollment(&agent)
        .create_partner(create(tenant))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "ROLE_REQUIRED");
    assert!(
        status.message().contains("GLOBAL_ADMIN"),
        "{}",
        status.message()
    );
    assert_eq!(written(&service).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn another_tenants_partner_is_not_found() {
    let service = enrollment().await;
    let owner = Uuid::new_v4();
    service
        .enrollment(&Actor::global_admin(owner))
        .create_partner(create(owner))
        .await
        .unwrap();

    let stranger = Actor::global_admin(Uuid::new_v4());
    let status = service
        .enrollment(&stranger)
        .get_partner(pb::GetPartnerRequest {
            name: format!("partners/{owner}"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(reason(&status), "RESOURCE_NOT_FOUND");

    // Indistinguishable from a partner that does not exist at all.
    let missing = service
        .enrollment(&stranger)
        .get_partner(pb::GetPartnerRequest {
            name: format!("partners/{}", Uuid::new_v4()),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), status.code());

    let listed = service
        .enrollment(&stranger)
        .list_partners(pb::ListPartnersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.partners.is_empty());
}

#[tokio::test]
async fn registering_another_tenant_is_refused() {
    let service = enrollment().await;
    let admin = Actor::global_admin(Uuid::new_v4());

    let status = service
        .enrollment(&admin)
        .create_partner(create(Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "TENANT_MISMATCH");
    assert_eq!(written(&service).await, [0, 0, 0, 0]);
}

#[tokio::test]
async fn repeated_request_id_returns_the_first_result_and_writes_nothing_new() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let mut client = service.enrollment(&Actor::global_admin(tenant));
    let request = create(tenant);

    let first = client
        .create_partner(request.clone())
        .await
        .unwrap()
        .into_inner();
    let after_first = written(&service).await;
    let retry = client.create_partner(request).await.unwrap().into_inner();

    assert_eq!(retry, first);
    assert_eq!(written(&service).await, after_first);
}

#[tokio::test]
async fn request_id_reused_for_a_different_request_is_refused() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let mut client = service.enrollment(&Actor::global_admin(tenant));
    let first = create(tenant);
    client.create_partner(first.clone()).await.unwrap();
    let before = written(&service).await;

    let mut different = first;
    different.partner.as_mut().unwrap().legal_name = "Fabrikam".into();
    let status = client.create_partner(different).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["request_id"]);
    assert_eq!(written(&service).await, before);
}

#[tokio::test]
async fn second_registration_of_a_tenant_already_exists() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let mut client = service.enrollment(&Actor::global_admin(tenant));
    client.create_partner(create(tenant)).await.unwrap();

    let status = client.create_partner(create(tenant)).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(written(&service).await, [1, 1, 1, 1]);
}

#[tokio::test]
async fn malformed_fields_are_invalid_argument_naming_each_field_and_write_nothing() {
    let service = enrollment().await;
    let tenant = Uuid::new_v4();
    let mut client = service.enrollment(&Actor::global_admin(tenant));
    let mut request = create(tenant);
    request.request_id = "not-a-uuid".into();
    let partner = request.partner.as_mut().unwrap();
    partner.country_code = "Britain".into();
    partner.primary_contact_email = "ops-at-contoso".into();

    let status = client.create_partner(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        [
            "request_id",
            "partner.country_code",
            "partner.primary_contact_email"
        ]
    );
    assert!(
        status.message().contains("partner.country_code"),
        "{}",
        status.message()
    );
    assert_eq!(written(&service).await, [0, 0, 0, 0]);

    let bad_name = client
        .get_partner(pb::GetPartnerRequest {
            name: "tenants/42".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_name.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&bad_name), ["name"]);
}

#[tokio::test]
async fn operator_pages_through_every_partner_with_opaque_tokens() {
    let service = enrollment().await;
    let mut tenants: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    for tenant in &tenants {
        service
            .enrollment(&Actor::global_admin(*tenant))
            .create_partner(create(*tenant))
            .await
            .unwrap();
    }
    tenants.sort_by_key(|t| t.to_string());

    let mut operator = service.enrollment(&Actor::operator());
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = operator
            .list_partners(pb::ListPartnersRequest {
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.partners.len() <= 2);
        seen.extend(page.partners.into_iter().map(|p| p.tenant_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let expected: Vec<String> = tenants.iter().map(Uuid::to_string).collect();
    assert_eq!(seen, expected);

    let tampered = operator
        .list_partners(pb::ListPartnersRequest {
            page_size: 2,
            page_token: "eyJhZnRlciI6IiJ9.AAAA".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(tampered.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&tampered), ["page_token"]);
}
