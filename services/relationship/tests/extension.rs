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
    /// The customer's partners as its own admin lists them.
    async fn partners_of(
        &self,
        customer: Uuid,
    ) -> Vec<(String, pb::PartnerRole, pb::Acquisition, bool)> {
        self.relationship
            .relationship(&Actor::global_admin(customer))
            .list_customer_partners(pb::ListCustomerPartnersRequest {
                parent: format!("customers/{customer}"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .partners
            .iter()
            .map(|p| {
                (
                    p.partner.clone(),
                    p.partner_role(),
                    p.acquisition(),
                    p.admin_permissions,
                )
            })
            .collect()
    }

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

    // The provider now shows among the customer's partners, and the partner as its indirect
    // reseller, still by direct bill and with its admin permissions.
    assert_eq!(
        suite.partners_of(customer).await,
        [
            (
                format!("partners/{partner}"),
                pb::PartnerRole::IndirectReseller,
                pb::Acquisition::DirectBill,
                true
            ),
            (
                format!("partners/{provider}"),
                pb::PartnerRole::IndirectProvider,
                pb::Acquisition::RelationshipExtension,
                false
            ),
        ]
    );
    let standing = suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .check_customer_relationship(pb::CheckCustomerRelationshipRequest {
            customer: format!("customers/{customer}"),
            partner: format!("partners/{partner}"),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(standing.related && standing.admin_permissions);
    assert_eq!(
        (standing.partner_role(), standing.acquisition()),
        (
            pb::PartnerRole::IndirectReseller,
            pb::Acquisition::DirectBill
        )
    );
    let partner_view = format!("partners/{partner}/customers/{customer}");
    assert_eq!(
        suite
            .relationship
            .database
            .audit_actions(&partner_view)
            .await,
        ["CreateCustomer", "ExtendResellerRelationship"]
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

/// `reseller` invites `customer` to itself and `provider`; the customer's GLOBAL_ADMIN
/// accepts with the link's token and its company details.
async fn customer_accepts_invitation(
    relationship: &TestService,
    reseller: Uuid,
    provider: Uuid,
    customer: Uuid,
) -> Result<pb::CustomerInvitation, tonic::Status> {
    let invitation = relationship
        .relationship(&Actor::admin_agent(reseller))
        .create_customer_invitation(pb::CreateCustomerInvitationRequest {
            request_id: request_id(),
            parent: format!("partners/{reseller}"),
            provider: format!("partners/{provider}"),
            customer_tenant_id: customer.to_string(),
            subscriptions: Vec::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let token = invitation.link.rsplit_once("&token=").unwrap().1.to_owned();
    relationship
        .relationship(&Actor::global_admin(customer))
        .accept_customer_invitation(pb::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name,
            invitation_token: token,
            customer: Some(pb::Customer {
                display_name: "Fourth Coffee".into(),
                domain: "fourthcoffee.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
        })
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn a_customer_already_served_indirectly_is_not_extended_and_nobody_is_named() {
    let suite = start().await;
    let (partner, customer, provider) = suite.transitioning_partner().await;
    // Another reseller and its provider serve the customer already.
    let (other_provider, other_reseller) =
        suite_testkit::active_partnership(&suite.enrollment, &suite.relationship).await;
    customer_accepts_invitation(
        &suite.relationship,
        other_reseller,
        other_provider,
        customer,
    )
    .await
    .unwrap();
    let customers = suite.relationship.count_rows("customers").await;

    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .extend_reseller_relationship(extend(partner, customer, provider))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CUSTOMER_ALREADY_SERVED_INDIRECTLY");
    for other in [other_provider, other_reseller] {
        assert!(
            !format!("{refused:?}").contains(&other.to_string()),
            "the refusal names another partner: {refused:?}"
        );
    }
    assert_eq!(suite.relationship.count_rows("customers").await, customers);
    assert_eq!(
        suite
            .relationship
            .count_rows("relationship_extensions")
            .await,
        0
    );

    // Nor is a customer extended twice.
    let (partner, customer, provider) = suite.transitioning_partner().await;
    let second_provider = official_indirect_provider(&suite.enrollment).await;
    partnership_between(&suite.relationship, second_provider, partner).await;
    let mut client = suite
        .relationship
        .relationship(&Actor::admin_agent(partner));
    client
        .extend_reseller_relationship(extend(partner, customer, provider))
        .await
        .unwrap();
    let refused = client
        .extend_reseller_relationship(extend(partner, customer, second_provider))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(
        suite
            .relationship
            .count_rows("relationship_extensions")
            .await,
        1
    );
}

#[tokio::test]
async fn an_extension_and_an_acceptance_for_one_customer_take_turns() {
    let suite = start().await;
    for _ in 0..3 {
        let (partner, customer, provider) = suite.transitioning_partner().await;
        // The partner, now an indirect reseller, also invites its customer to the provider;
        // the customer accepts while the partner extends.
        let (extended, accepted) = tokio::join!(
            async {
                suite
                    .relationship
                    .relationship(&Actor::admin_agent(partner))
                    .extend_reseller_relationship(extend(partner, customer, provider))
                    .await
            },
            customer_accepts_invitation(&suite.relationship, partner, provider, customer)
        );
        accepted.unwrap();
        if let Err(refused) = extended {
            // The acceptance came first: before the extension read the partner's view, or
            // while it was working on it.
            assert!(
                matches!(
                    (refused.code(), reason(&refused).as_str()),
                    (Code::Aborted, "CONCURRENT_CHANGE")
                        | (Code::FailedPrecondition, "DIRECT_BILL_CUSTOMER_REQUIRED")
                ),
                "{refused:?}"
            );
        }
        // Either way the invitation's relationships stand, with admin permissions for both.
        assert_eq!(
            suite.partners_of(customer).await,
            [
                (
                    format!("partners/{partner}"),
                    pb::PartnerRole::IndirectReseller,
                    pb::Acquisition::Invitation,
                    true
                ),
                (
                    format!("partners/{provider}"),
                    pb::PartnerRole::IndirectProvider,
                    pb::Acquisition::Invitation,
                    true
                ),
            ]
        );
    }
}
