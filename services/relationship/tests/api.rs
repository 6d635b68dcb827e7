//! The relationship service over real gRPC: customers are visible only to their partner, and
//! only a partner whose programs allow it adds one (asked of the enrollment service).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_auth::Role;
use suite_config::PeerUrls;
use suite_proto::relationship::v1 as pb;
use suite_testkit::{
    Actor, TestService, active_partnership, bad_fields, direct_bill_partner,
    provider_creates_customer, reason, request_id, restrict_direct_bill, spawn_service,
    spawn_service_with,
};
use tonic::Code;
use uuid::Uuid;

struct Services {
    enrollment: TestService,
    relationship: TestService,
}

async fn start() -> Services {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let relationship = spawn_service(
        relationship::run,
        PeerUrls {
            enrollment: Some(enrollment.url()),
            ..PeerUrls::default()
        },
    )
    .await;
    Services {
        enrollment,
        relationship,
    }
}

impl Services {
    /// A partner tenant with an ACTIVE direct-bill enrollment.
    async fn partner(&self) -> Uuid {
        direct_bill_partner(&self.enrollment).await
    }

    /// The tenant of a new customer that `holder`'s ADMIN_AGENT adds.
    async fn customer_of(&self, holder: Uuid) -> Uuid {
        let request = create(holder);
        let tenant = request
            .customer
            .as_ref()
            .unwrap()
            .customer_tenant_id
            .parse()
            .unwrap();
        self.relationship
            .relationship(&Actor::admin_agent(holder))
            .create_customer(request)
            .await
            .unwrap();
        tenant
    }
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
        ..Default::default()
    }
}

#[tokio::test]
async fn admin_agent_records_a_customer_and_reads_it_back() {
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
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
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;

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
    let services = start().await;
    let service = &services.relationship;
    let owner = services.partner().await;
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
    let services = start().await;
    let service = &services.relationship;
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
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
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
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
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
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
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
    let other = services.partner().await;
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

#[tokio::test]
async fn a_restricted_partner_adds_no_customer_but_keeps_managing_its_own() {
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
    let mut client = service.relationship(&Actor::admin_agent(partner));
    let existing = client
        .create_customer(create(partner))
        .await
        .unwrap()
        .into_inner();

    restrict_direct_bill(&services.enrollment, partner).await;

    let refused = client.create_customer(create(partner)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CAPABILITY_REQUIRED");
    assert!(
        refused.message().contains("add a customer record"),
        "{}",
        refused.message()
    );
    assert_eq!(service.count_rows("customers").await, 1);
    assert_eq!(service.count_rows("idempotency_keys").await, 1);

    let read = client
        .get_customer(pb::GetCustomerRequest {
            name: existing.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read, existing);
    let listed = client
        .list_customers(pb::ListCustomersRequest {
            parent: format!("partners/{partner}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.customers, std::slice::from_ref(&existing));

    // Keeping an existing customer's record is still allowed.
    let mut renamed = existing;
    renamed.display_name = "Northwind Traders Holdings".into();
    let kept = client
        .update_customer(pb::UpdateCustomerRequest {
            request_id: request_id(),
            customer: Some(renamed),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(kept.display_name, "Northwind Traders Holdings");
}

#[tokio::test]
async fn a_tenant_without_direct_bill_adds_no_customer() {
    let services = start().await;
    let stranger = Uuid::new_v4();
    let refused = services
        .relationship
        .relationship(&Actor::admin_agent(stranger))
        .create_customer(create(stranger))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CAPABILITY_REQUIRED");
    assert_eq!(services.relationship.count_rows("customers").await, 0);
}

#[tokio::test]
async fn an_app_is_admitted_only_for_a_tenant_with_api_access() {
    let services = start().await;
    let partner = services.partner().await;
    let list = |tenant: Uuid| pb::ListCustomersRequest {
        parent: format!("partners/{tenant}"),
        ..Default::default()
    };

    services
        .relationship
        .relationship(&Actor::app(partner))
        .list_customers(list(partner))
        .await
        .unwrap();

    let outsider = Uuid::new_v4();
    let refused = services
        .relationship
        .relationship(&Actor::app(outsider))
        .list_customers(list(outsider))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason(&refused), "API_ACCESS_NOT_ALLOWED");
}

#[tokio::test]
async fn a_retry_is_answered_while_the_enrollment_service_is_down() {
    let services = start().await;
    let partner = services.partner().await;
    let mut client = services
        .relationship
        .relationship(&Actor::admin_agent(partner));
    let request = create(partner);
    let first = client
        .create_customer(request.clone())
        .await
        .unwrap()
        .into_inner();

    let (addr, database) = services.enrollment.stop_keeping_database().await;
    let retried = client.create_customer(request).await.unwrap().into_inner();
    assert_eq!(retried, first);

    // A new request needs the enrollment service's answer: retryable, never INTERNAL.
    let refused = client.create_customer(create(partner)).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unavailable);
    assert_eq!(reason(&refused), "PEER_UNAVAILABLE");
    assert_eq!(services.relationship.count_rows("customers").await, 1);

    let _enrollment =
        spawn_service_with(enrollment::run, PeerUrls::default(), database, addr).await;
    client.create_customer(create(partner)).await.unwrap();
}

fn billing_profile() -> pb::BillingProfile {
    pb::BillingProfile {
        company_name: "Northwind Traders Inc.".into(),
        address_line1: "1 Microsoft Way".into(),
        city: "Redmond".into(),
        region: "WA".into(),
        postal_code: "98052".into(),
        country_code: "US".into(),
        contact_first_name: "Nancy".into(),
        contact_last_name: "Davolio".into(),
        contact_email: "billing@northwind.example".into(),
        contact_phone: "+1 425 555 0100".into(),
        ..Default::default()
    }
}

fn update(customer: &pb::Customer, mask: &[&str]) -> pb::UpdateCustomerRequest {
    pb::UpdateCustomerRequest {
        request_id: request_id(),
        customer: Some(customer.clone()),
        update_mask: Some(prost_types::FieldMask {
            paths: mask.iter().map(|path| path.to_string()).collect(),
        }),
    }
}

#[tokio::test]
async fn a_direct_bill_customer_is_named_by_its_tenant_and_offers_products() {
    let services = start().await;
    let partner = services.partner().await;
    let request = create(partner);
    let tenant = request
        .customer
        .as_ref()
        .unwrap()
        .customer_tenant_id
        .clone();
    let created = services
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .create_customer(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        created.name,
        format!("partners/{partner}/customers/{tenant}")
    );
    assert_eq!(created.partner_role(), pb::PartnerRole::DirectBillPartner);
    assert_eq!(created.acquisition(), pb::Acquisition::DirectBill);
    assert_eq!(
        created.available_actions,
        [
            pb::CustomerAction::AddProducts as i32,
            pb::CustomerAction::ViewProducts as i32,
            pb::CustomerAction::ManageBillingProfile as i32,
        ]
    );
}

#[tokio::test]
async fn the_billing_profile_is_updated_whole_or_field_by_field_under_its_etag() {
    let services = start().await;
    let service = &services.relationship;
    let partner = services.partner().await;
    let mut client = service.relationship(&Actor::admin_agent(partner));
    let created = client
        .create_customer(create(partner))
        .await
        .unwrap()
        .into_inner();

    let mut whole = created.clone();
    whole.billing_profile = Some(billing_profile());
    let request = update(&whole, &["billing_profile"]);
    let updated = client
        .update_customer(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.billing_profile, Some(billing_profile()));
    assert_eq!(updated.etag, "2");
    // A retry replays the answer and changes nothing more.
    assert_eq!(
        client.update_customer(request).await.unwrap().into_inner(),
        updated
    );

    let mut moved = updated.clone();
    moved.billing_profile = Some(pb::BillingProfile {
        city: "Bellevue".into(),
        ..Default::default()
    });
    let relocated = client
        .update_customer(update(&moved, &["billing_profile.city"]))
        .await
        .unwrap()
        .into_inner();
    let profile = relocated.billing_profile.clone().unwrap();
    assert_eq!(
        (profile.city.as_str(), profile.postal_code.as_str()),
        ("Bellevue", "98052")
    );

    // The etag read before the last change is stale.
    let stale = client
        .update_customer(update(&moved, &["billing_profile.city"]))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert_eq!(reason(&stale), "ETAG_MISMATCH");

    // A field emptied that the profile needs, an unknown path: each named, nothing written.
    let mut emptied = relocated.clone();
    emptied.billing_profile = Some(pb::BillingProfile::default());
    let refused = client
        .update_customer(update(
            &emptied,
            &["billing_profile.contact_email", "domain"],
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&refused), ["update_mask"]);
    let refused = client
        .update_customer(update(&emptied, &["billing_profile.contact_email"]))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&refused),
        ["customer.billing_profile.contact_email"]
    );
    let name = created.name.clone();
    assert_eq!(
        service.database.audit_trail(&name).await,
        [
            ("CreateCustomer".to_owned(), false, true),
            ("UpdateCustomer".to_owned(), true, true),
            ("UpdateCustomer".to_owned(), true, true),
        ]
    );
}

#[tokio::test]
async fn a_customers_own_admin_lists_every_partner_it_has_and_nobody_else_does() {
    let services = start().await;
    let (provider, reseller) =
        active_partnership(&services.enrollment, &services.relationship).await;
    let tenant = Uuid::new_v4();
    provider_creates_customer(&services.relationship, provider, reseller, tenant).await;

    let list = pb::ListCustomerPartnersRequest {
        parent: format!("customers/{tenant}"),
        ..Default::default()
    };
    let partners = services
        .relationship
        .relationship(&Actor::global_admin(tenant))
        .list_customer_partners(list.clone())
        .await
        .unwrap()
        .into_inner()
        .partners;
    let seen: Vec<_> = partners
        .iter()
        .map(|p| (p.partner.clone(), p.partner_role(), p.acquisition()))
        .collect();
    assert_eq!(
        seen,
        [
            (
                format!("partners/{provider}"),
                pb::PartnerRole::IndirectProvider,
                pb::Acquisition::CreatedByProvider
            ),
            (
                format!("partners/{reseller}"),
                pb::PartnerRole::IndirectReseller,
                pb::Acquisition::CreatedByProvider
            ),
        ]
    );

    for outsider in [
        Actor::user(provider, &[Role::GlobalAdmin, Role::AdminAgent]),
        Actor::user(tenant, &[Role::AdminAgent]),
        Actor::global_admin(Uuid::new_v4()),
    ] {
        let refused = services
            .relationship
            .relationship(&outsider)
            .list_customer_partners(list.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{outsider:?}");
    }
}

#[tokio::test]
async fn a_customer_tenant_is_created_once_and_others_invite_it() {
    let services = start().await;
    let (first, second) = (services.partner().await, services.partner().await);
    let request = create(first);
    services
        .relationship
        .relationship(&Actor::admin_agent(first))
        .create_customer(request.clone())
        .await
        .unwrap();
    let mut again = request;
    again.request_id = request_id();
    again.parent = format!("partners/{second}");
    let refused = services
        .relationship
        .relationship(&Actor::admin_agent(second))
        .create_customer(again)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists);
    assert_eq!(reason(&refused), "CUSTOMER_TENANT_EXISTS");
    assert_eq!(services.relationship.count_rows("customers").await, 1);
}

#[tokio::test]
async fn several_partners_are_checked_in_one_call_as_each_single_check() {
    let services = start().await;
    let (holder, other) = (services.partner().await, services.partner().await);
    let tenant = services.customer_of(holder).await;
    let parent = format!("customers/{tenant}");
    let batch = |actor: &Actor, partners: Vec<String>| {
        let mut client = services.relationship.relationship(actor);
        let parent = parent.clone();
        async move {
            client
                .batch_check_customer_relationships(pb::BatchCheckCustomerRelationshipsRequest {
                    parent,
                    partners,
                })
                .await
        }
    };
    let single = |actor: &Actor, partner: Uuid| {
        let mut client = services.relationship.relationship(actor);
        let customer = parent.clone();
        async move {
            client
                .check_customer_relationship(pb::CheckCustomerRelationshipRequest {
                    customer,
                    partner: format!("partners/{partner}"),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };

    // In the order asked, each as the single check answers it, to the transfer service
    // acting for itself, the operator and the customer's own admin.
    for asker in [
        Actor::service("transfer", "relationship"),
        Actor::operator(),
        Actor::global_admin(tenant),
    ] {
        let answer = batch(
            &asker,
            vec![format!("partners/{other}"), format!("partners/{holder}")],
        )
        .await
        .unwrap()
        .into_inner();
        let expected = vec![single(&asker, other).await, single(&asker, holder).await];
        assert_eq!(answer.relationships, expected, "{asker:?}");
        assert!(!expected[0].related && expected[1].related);
    }

    // All or nothing: a partner may ask about itself, not about another beside it.
    let holder_agent = Actor::admin_agent(holder);
    let own = batch(&holder_agent, vec![format!("partners/{holder}")])
        .await
        .unwrap()
        .into_inner();
    assert!(own.relationships[0].related);
    let refused = batch(
        &holder_agent,
        vec![format!("partners/{holder}"), format!("partners/{other}")],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    // Each bad name is refused by its place in the list; an empty or too long list whole.
    let refused = batch(
        &Actor::operator(),
        vec![
            format!("partners/{holder}"),
            "customers/x".into(),
            format!("partners/{holder}"),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&refused), ["partners[1]", "partners[2]"]);
    let too_many = (0..101)
        .map(|_| format!("partners/{}", Uuid::new_v4()))
        .collect();
    for partners in [Vec::new(), too_many] {
        let refused = batch(&Actor::operator(), partners).await.unwrap_err();
        assert_eq!(bad_fields(&refused), ["partners"]);
    }
}

#[tokio::test]
async fn what_a_partner_is_to_a_customer_is_told_to_those_related_to_it() {
    let services = start().await;
    let (holder, other, stranger) = (
        services.partner().await,
        services.partner().await,
        services.partner().await,
    );
    let tenant = services.customer_of(holder).await;
    let check = |partner: Uuid| pb::CheckCustomerRelationshipRequest {
        customer: format!("customers/{tenant}"),
        partner: format!("partners/{partner}"),
    };

    // The partner of record learns its own standing; another partner that it has none.
    let own = services
        .relationship
        .relationship(&Actor::user(holder, &[Role::SalesAgent]))
        .check_customer_relationship(check(holder))
        .await
        .unwrap()
        .into_inner();
    assert!(own.related && own.admin_permissions);
    assert_eq!(
        (own.partner_role(), own.acquisition()),
        (
            pb::PartnerRole::DirectBillPartner,
            pb::Acquisition::DirectBill
        )
    );
    let none = services
        .relationship
        .relationship(&Actor::admin_agent(other))
        .check_customer_relationship(check(other))
        .await
        .unwrap()
        .into_inner();
    assert!(!none.related);
    assert_eq!(none.partner_role(), pb::PartnerRole::Unspecified);

    // The customer's own admin and the operator may ask about any partner.
    for asker in [Actor::global_admin(tenant), Actor::operator()] {
        let told = services
            .relationship
            .relationship(&asker)
            .check_customer_relationship(check(holder))
            .await
            .unwrap()
            .into_inner();
        assert!(told.related, "{asker:?}");
    }
    // Nobody else learns what a partner is to the customer: not another partner (even one
    // of record), not the customer's users without the admin role.
    for (asker, about) in [
        (Actor::admin_agent(stranger), holder),
        (Actor::admin_agent(holder), stranger),
        (Actor::admin_agent(tenant), holder),
    ] {
        let refused = services
            .relationship
            .relationship(&asker)
            .check_customer_relationship(check(about))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{asker:?}");
    }
}
