//! The Microsoft Customer Agreement over real gRPC: each row of the article's table, a
//! history that is only ever added to, and partners that attest for and ask about only the
//! customers they have (asked of the relationship service).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_auth::Role;
use suite_config::PeerUrls;
use suite_proto::agreement::v1 as pb;
use suite_testkit::{
    Actor, TestService, active_partnership, bad_fields, direct_bill_partner,
    provider_creates_customer, reason, record_customer, request_id, spawn_service,
};
use tonic::Code;
use uuid::Uuid;

struct Services {
    enrollment: TestService,
    relationship: TestService,
    agreement: TestService,
}

impl Services {
    /// A direct-bill partner that creates `customer`.
    async fn partner_of(&self, customer: Uuid) -> Uuid {
        let partner = direct_bill_partner(&self.enrollment).await;
        record_customer(&self.relationship, partner, customer).await;
        partner
    }

    /// An indirect reseller and its provider, both partners of record of `customer`, which
    /// the provider created for the reseller. Returns (reseller, provider).
    async fn reseller_and_provider_of(&self, customer: Uuid) -> (Uuid, Uuid) {
        let (provider, reseller) = active_partnership(&self.enrollment, &self.relationship).await;
        provider_creates_customer(&self.relationship, provider, reseller, customer).await;
        (reseller, provider)
    }
}

async fn start() -> Services {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let peers = PeerUrls {
        enrollment: Some(enrollment.url()),
        ..PeerUrls::default()
    };
    let relationship = spawn_service(relationship::run, peers.clone()).await;
    let peers = PeerUrls {
        relationship: Some(relationship.url()),
        ..peers
    };
    let service = spawn_service(agreement::run, peers).await;
    let version = pb::CreateAgreementVersionRequest {
        request_id: request_id(),
        agreement_version: Some(pb::AgreementVersion {
            template_id: "mca-2026-01".into(),
            agreement_type: pb::AgreementType::Customer as i32,
            display_name: "Microsoft Customer Agreement".into(),
            effective_time: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            ..Default::default()
        }),
    };
    service
        .agreement(&Actor::operator())
        .create_agreement_version(version)
        .await
        .unwrap();
    Services {
        enrollment,
        relationship,
        agreement: service,
    }
}

fn signer(phone: &str) -> pb::Signer {
    pb::Signer {
        first_name: "Ana".into(),
        last_name: "Silva".into(),
        email: "ana@fourthcoffee.example".into(),
        phone_number: phone.into(),
    }
}

fn accept(customer: Uuid, phone: &str) -> pb::CreateCustomerAgreementAcceptanceRequest {
    pb::CreateCustomerAgreementAcceptanceRequest {
        request_id: request_id(),
        parent: format!("customers/{customer}"),
        acceptance: Some(pb::CustomerAgreementAcceptance {
            signer: Some(signer(phone)),
            ..Default::default()
        }),
    }
}

async fn check(
    service: &TestService,
    customer: Uuid,
    partner: Uuid,
) -> pb::CustomerAgreementValidity {
    let request = pb::CheckCustomerAgreementRequest {
        customer: format!("customers/{customer}"),
        partner: format!("partners/{partner}"),
    };
    service
        .agreement(&Actor::admin_agent(partner))
        .check_customer_agreement(request)
        .await
        .unwrap()
        .into_inner()
}

fn action(validity: &pb::CustomerAgreementValidity) -> pb::RequiredAction {
    pb::RequiredAction::try_from(validity.required_action).unwrap()
}

#[tokio::test]
async fn never_accepted_means_work_with_the_provider_to_have_the_customer_accept() {
    let services = start().await;
    let customer = Uuid::new_v4();
    let partner = services.partner_of(customer).await;
    let validity = check(&services.agreement, customer, partner).await;
    assert!(!validity.valid);
    assert_eq!(action(&validity), pb::RequiredAction::AcceptMca);
    assert!(
        validity.explanation.contains("have the customer accept"),
        "{}",
        validity.explanation
    );
}

#[tokio::test]
async fn another_partners_attestation_is_not_retained_and_must_be_redone_with_the_provider() {
    let services = start().await;
    let service = &services.agreement;
    let customer = Uuid::new_v4();
    let (direct_partner, provider) = services.reseller_and_provider_of(customer).await;
    let attested = service
        .agreement(&Actor::admin_agent(direct_partner))
        .create_customer_agreement_acceptance(accept(customer, "+44 20 7946 0000"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        attested.method,
        pb::AcceptanceMethod::PartnerAttestation as i32
    );
    assert_eq!(
        attested.attesting_partner,
        format!("partners/{direct_partner}")
    );
    assert_eq!(attested.agreement_version, "agreementVersions/mca-2026-01");

    let for_attester = check(service, customer, direct_partner).await;
    assert!(for_attester.valid);
    assert_eq!(for_attester.basis, attested.name);

    let for_provider = check(service, customer, provider).await;
    assert!(!for_provider.valid);
    assert_eq!(
        action(&for_provider),
        pb::RequiredAction::ReattestWithProvider
    );

    // The provider re-attests: now valid with it too, and both attestations stay in history.
    service
        .agreement(&Actor::admin_agent(provider))
        .create_customer_agreement_acceptance(accept(customer, "+44 20 7946 0001"))
        .await
        .unwrap();
    assert!(check(service, customer, provider).await.valid);
    assert_eq!(service.count_rows("customer_acceptances").await, 2);
}

#[tokio::test]
async fn customers_own_acceptance_is_retained_with_every_partner() {
    let services = start().await;
    let service = &services.agreement;
    let customer = Uuid::new_v4();
    let admin = Actor::global_admin(customer);
    let own = service
        .agreement(&admin)
        .create_customer_agreement_acceptance(accept(customer, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own.method, pb::AcceptanceMethod::Customer as i32);
    assert!(own.attesting_partner.is_empty());

    let (reseller, provider) = services.reseller_and_provider_of(customer).await;
    for partner in [reseller, provider] {
        let validity = check(service, customer, partner).await;
        assert!(validity.valid);
        assert_eq!(action(&validity), pb::RequiredAction::None);
        assert_eq!(validity.basis, own.name);
    }
}

#[tokio::test]
async fn attestations_need_an_admin_agent_and_a_phone_and_partners_see_only_their_own() {
    let services = start().await;
    let service = &services.agreement;
    let customer = Uuid::new_v4();
    let (alpha, beta) = services.reseller_and_provider_of(customer).await;

    let sales = service
        .agreement(&Actor::user(alpha, &[Role::SalesAgent]))
        .create_customer_agreement_acceptance(accept(customer, "+1 425 555 0100"))
        .await
        .unwrap_err();
    assert_eq!(sales.code(), Code::PermissionDenied);
    assert!(
        sales.message().contains("ADMIN_AGENT"),
        "{}",
        sales.message()
    );

    let no_phone = service
        .agreement(&Actor::admin_agent(alpha))
        .create_customer_agreement_acceptance(accept(customer, ""))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&no_phone), ["acceptance.signer.phone_number"]);
    let mut unknown_version = accept(customer, "+1 425 555 0100");
    unknown_version
        .acceptance
        .as_mut()
        .unwrap()
        .agreement_version = "agreementVersions/mca-1999".into();
    let refused = service
        .agreement(&Actor::admin_agent(alpha))
        .create_customer_agreement_acceptance(unknown_version)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "NO_CUSTOMER_AGREEMENT_VERSION");
    assert_eq!(service.count_rows("customer_acceptances").await, 0);

    service
        .agreement(&Actor::admin_agent(alpha))
        .create_customer_agreement_acceptance(accept(customer, "+1 425 555 0100"))
        .await
        .unwrap();
    service
        .agreement(&Actor::admin_agent(beta))
        .create_customer_agreement_acceptance(accept(customer, "+1 425 555 0101"))
        .await
        .unwrap();
    let list = pb::ListCustomerAgreementAcceptancesRequest {
        parent: format!("customers/{customer}"),
        ..Default::default()
    };
    let seen_by_alpha = service
        .agreement(&Actor::admin_agent(alpha))
        .list_customer_agreement_acceptances(list.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen_by_alpha.acceptances.len(), 1);
    assert_eq!(
        seen_by_alpha.acceptances[0].attesting_partner,
        format!("partners/{alpha}")
    );
    service
        .agreement(&Actor::global_admin(customer))
        .create_customer_agreement_acceptance(accept(customer, ""))
        .await
        .unwrap();
    let still_alphas_only = service
        .agreement(&Actor::admin_agent(alpha))
        .list_customer_agreement_acceptances(list.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        still_alphas_only.acceptances.len(),
        1,
        "a partner does not see the customer's signer"
    );
    let seen_by_customer = service
        .agreement(&Actor::global_admin(customer))
        .list_customer_agreement_acceptances(list)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen_by_customer.acceptances.len(),
        3,
        "the customer sees its whole history"
    );

    // A partner asks about itself only, and only for a customer it has; the customer's own
    // admin asks about any of its partners; a partner without the customer may neither ask
    // nor attest.
    let probe = pb::CheckCustomerAgreementRequest {
        customer: format!("customers/{customer}"),
        partner: format!("partners/{beta}"),
    };
    let status = service
        .agreement(&Actor::admin_agent(alpha))
        .check_customer_agreement(probe.clone())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        service
            .agreement(&Actor::global_admin(customer))
            .check_customer_agreement(probe.clone())
            .await
            .unwrap()
            .into_inner()
            .valid
    );
    let outsider = direct_bill_partner(&services.enrollment).await;
    let status = service
        .agreement(&Actor::admin_agent(outsider))
        .check_customer_agreement(probe)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let attested = service.count_rows("customer_acceptances").await;
    let status = service
        .agreement(&Actor::admin_agent(outsider))
        .create_customer_agreement_acceptance(accept(customer, "+1 425 555 0102"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(service.count_rows("customer_acceptances").await, attested);
}
