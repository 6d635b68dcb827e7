//! The reseller relationship extension over real gRPC: a transitioning partner extends its
//! relationship with a direct-bill customer to its provider, with the customer's consent;
//! the provider gets the billing profile and no admin privileges.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_config::PeerUrls;
use suite_proto::relationship::v1 as pb;
use suite_testkit::{
    Actor, TestService, direct_bill_partner, enroll_indirect_reseller, official_indirect_provider,
    partnership_between, reason, record_customer, request_id, restrict_direct_bill, spawn_service,
};
use tonic::Code;
use uuid::Uuid;

struct Suite {
    enrollment: TestService,
    relationship: TestService,
}

async fn start() -> Suite {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let relationship = spawn_service(
        relationship::run,
        PeerUrls {
            enrollment: Some(enrollment.url()),
            ..PeerUrls::default()
        },
    )
    .await;
    Suite {
        enrollment,
        relationship,
    }
}

impl Suite {
    /// A transitioning partner with a direct-bill customer, in an ACTIVE partnership with a
    /// provider. Returns (partner, customer, provider).
    async fn transitioning_partner(&self) -> (Uuid, Uuid, Uuid) {
        let partner = direct_bill_partner(&self.enrollment).await;
        let customer = Uuid::new_v4();
        record_customer(&self.relationship, partner, customer).await;
        restrict_direct_bill(&self.enrollment, partner).await;
        enroll_indirect_reseller(&self.enrollment, partner).await;
        let provider = official_indirect_provider(&self.enrollment).await;
        partnership_between(&self.relationship, provider, partner).await;
        (partner, customer, provider)
    }
}

fn extend(partner: Uuid, customer: Uuid, provider: Uuid) -> pb::ExtendResellerRelationshipRequest {
    pb::ExtendResellerRelationshipRequest {
        request_id: request_id(),
        customer: format!("partners/{partner}/customers/{customer}"),
        provider: format!("partners/{provider}"),
        consent: Some(pb::CustomerConsent {
            consented_by: "Ana Silva, IT director".into(),
            consent_time: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            notice_text: "We share your billing details with our indirect provider.".into(),
        }),
    }
}

#[tokio::test]
async fn the_provider_receives_the_customer_without_admin_privileges() {
    let suite = start().await;
    let (partner, customer, provider) = suite.transitioning_partner().await;
    let view = suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .extend_reseller_relationship(extend(partner, customer, provider))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        view.name,
        format!("partners/{provider}/customers/{customer}")
    );
    assert_eq!(view.partner_role(), pb::PartnerRole::IndirectProvider);
    assert_eq!(view.acquisition(), pb::Acquisition::RelationshipExtension);
    assert!(!view.admin_permissions);
    assert_eq!(
        suite
            .relationship
            .count_rows("relationship_extensions")
            .await,
        1
    );

    // The provider now shows among the customer's partners.
    let partners = suite
        .relationship
        .relationship(&Actor::global_admin(customer))
        .list_customer_partners(pb::ListCustomerPartnersRequest {
            parent: format!("customers/{customer}"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .partners;
    assert!(
        partners
            .iter()
            .any(|p| p.partner == format!("partners/{provider}")
                && p.partner_role() == pb::PartnerRole::IndirectProvider
                && !p.admin_permissions)
    );

    // Delegated admin comes only through an invitation.
    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(provider))
        .create_delegated_admin_relationship(pb::CreateDelegatedAdminRelationshipRequest {
            request_id: request_id(),
            parent: format!("partners/{provider}/customers/{customer}"),
            delegated_admin_relationship: Some(pb::DelegatedAdminRelationship {
                display_name: "Provider support".into(),
                roles: vec![pb::DelegatedAdminRole::UserAdministrator as i32],
                duration: "P90D".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "INVITATION_REQUIRED_FOR_ADMIN");
}

#[tokio::test]
async fn only_a_transitioning_partner_extends_only_its_direct_bill_customers_with_consent() {
    let suite = start().await;
    let (partner, customer, provider) = suite.transitioning_partner().await;
    let customers = suite.relationship.count_rows("customers").await;
    let mut client = suite
        .relationship
        .relationship(&Actor::admin_agent(partner));

    let mut no_consent = extend(partner, customer, provider);
    no_consent.consent = None;
    let refused = client
        .extend_reseller_relationship(no_consent)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // A direct-bill partner that is not transitioning holds no extension capability.
    let direct = direct_bill_partner(&suite.enrollment).await;
    let other_customer = Uuid::new_v4();
    record_customer(&suite.relationship, direct, other_customer).await;
    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(direct))
        .extend_reseller_relationship(extend(direct, other_customer, provider))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "CAPABILITY_REQUIRED");

    // A customer the partner serves as indirect reseller is not extended.
    let indirect = Uuid::new_v4();
    suite_testkit::provider_creates_customer(&suite.relationship, provider, partner, indirect)
        .await;
    let refused = client
        .extend_reseller_relationship(extend(partner, indirect, provider))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "DIRECT_BILL_CUSTOMER_REQUIRED");

    // Nor to a provider without an ACTIVE partnership; nor someone else's customer.
    let stranger = official_indirect_provider(&suite.enrollment).await;
    let refused = client
        .extend_reseller_relationship(extend(partner, customer, stranger))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PARTNERSHIP_NOT_ACTIVE");
    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(direct))
        .extend_reseller_relationship(extend(partner, customer, provider))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);

    assert_eq!(
        suite.relationship.count_rows("customers").await,
        customers + 3,
        "only the records the set-up made"
    );
    assert_eq!(
        suite
            .relationship
            .count_rows("relationship_extensions")
            .await,
        0
    );
}
