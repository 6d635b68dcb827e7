//! Partners in a given standing, made the way a partner and the operator make them over
//! gRPC, for tests of services that check capabilities with the enrollment service.

use prost_types::FieldMask;
use suite_proto::enrollment::v1 as pb;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Actor, TestService, request_id};

/// Registers a partner tenant with a verified PartnerID and a year of revenue, and takes it
/// through direct bill to ACTIVE (the agreement service's activation included); returns its
/// tenant.
pub async fn direct_bill_partner(enrollment: &TestService) -> Uuid {
    direct_bill_tenant(enrollment, false).await
}

/// As [`direct_bill_partner`], for a tenant registered as an integration sandbox.
pub async fn direct_bill_sandbox_partner(enrollment: &TestService) -> Uuid {
    direct_bill_tenant(enrollment, true).await
}

async fn direct_bill_tenant(enrollment: &TestService, integration_sandbox: bool) -> Uuid {
    let tenant = Uuid::new_v4();
    let admin = Actor::global_admin(tenant);
    let operator = Actor::operator();
    let name = format!("partners/{tenant}");
    let program_id = (Uuid::new_v4().as_u128() % 90_000_000 + 10_000_000).to_string();

    // The operator registers integration sandboxes; partners register themselves.
    let registrar = if integration_sandbox {
        &operator
    } else {
        &admin
    };
    enrollment
        .enrollment(registrar)
        .create_partner(pb::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(pb::Partner {
                tenant_id: tenant.to_string(),
                legal_name: "Fabrikam Cloud Ltd".into(),
                country_code: "US".into(),
                primary_contact_email: "ops@fabrikam.example".into(),
                program_account_email: "partner-program@fabrikam.example".into(),
                partner_program_id: program_id,
                integration_sandbox,
                ..Default::default()
            }),
        })
        .await
        .expect("create partner");
    enrollment
        .enrollment(&operator)
        .update_partner(pb::UpdatePartnerRequest {
            request_id: request_id(),
            partner: Some(pb::Partner {
                name: name.clone(),
                partner_program_id_verified: true,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["partner_program_id_verified".into()],
            }),
        })
        .await
        .expect("verify the PartnerID");
    for month in trailing_months() {
        enrollment
            .enrollment(&operator)
            .record_monthly_revenue(pb::RecordMonthlyRevenueRequest {
                request_id: request_id(),
                parent: name.clone(),
                revenue: Some(pb::MonthlyRevenue {
                    month,
                    amount: Some(pb::Money {
                        currency_code: "USD".into(),
                        amount_minor: 3_000_000, // USD 30,000 a month
                    }),
                    ..Default::default()
                }),
            })
            .await
            .expect("record revenue");
    }
    let created = enrollment
        .enrollment(&admin)
        .create_enrollment(pb::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: name,
            program: pb::Program::DirectBill as i32,
        })
        .await
        .expect("enroll in direct bill")
        .into_inner();
    enrollment
        .enrollment(&operator)
        .approve_enrollment(pb::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: created.name.clone(),
        })
        .await
        .expect("approve direct bill");
    enrollment
        .enrollment(&Actor::service("agreement", "enrollment"))
        .activate_enrollment(pb::ActivateEnrollmentRequest {
            request_id: request_id(),
            name: created.name,
            agreement_version: "agreementVersions/mpa-direct-2026".into(),
            accept_time: None,
        })
        .await
        .expect("activate direct bill");
    tenant
}

/// The operator restricts the tenant's direct-bill enrollment.
pub async fn restrict_direct_bill(enrollment: &TestService, tenant: Uuid) {
    let program = enrollment
        .enrollment(&Actor::global_admin(tenant))
        .get_program_information(pb::GetProgramInformationRequest {
            partner: format!("partners/{tenant}"),
        })
        .await
        .expect("program information")
        .into_inner();
    let direct_bill = program
        .enrollments
        .iter()
        .find(|e| e.program == pb::Program::DirectBill as i32)
        .expect("a direct-bill enrollment");
    enrollment
        .enrollment(&Actor::operator())
        .restrict_enrollment(pb::RestrictEnrollmentRequest {
            request_id: request_id(),
            name: direct_bill.name.clone(),
        })
        .await
        .expect("restrict direct bill");
}

/// The twelve complete months before the current one, as `YYYY-MM`.
fn trailing_months() -> Vec<String> {
    let now = OffsetDateTime::now_utc();
    let current = now.year() * 12 + i32::from(u8::from(now.month())) - 1;
    (current - 12..current)
        .map(|index| format!("{}-{:02}", index.div_euclid(12), index.rem_euclid(12) + 1))
        .collect()
}

/// Registers a partner tenant with a verified PartnerID and no revenue; returns its tenant.
async fn verified_partner(enrollment: &TestService, legal_name: &str) -> Uuid {
    let tenant = Uuid::new_v4();
    let program_id = (Uuid::new_v4().as_u128() % 90_000_000 + 10_000_000).to_string();
    enrollment
        .enrollment(&Actor::global_admin(tenant))
        .create_partner(pb::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(pb::Partner {
                legal_name: legal_name.into(),
                country_code: "US".into(),
                primary_contact_email: "ops@partner.example".into(),
                program_account_email: "partner-program@partner.example".into(),
                partner_program_id: program_id,
                ..Default::default()
            }),
        })
        .await
        .expect("create partner");
    enrollment
        .enrollment(&Actor::operator())
        .update_partner(pb::UpdatePartnerRequest {
            request_id: request_id(),
            partner: Some(pb::Partner {
                name: format!("partners/{tenant}"),
                partner_program_id_verified: true,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["partner_program_id_verified".into()],
            }),
        })
        .await
        .expect("verify the PartnerID");
    tenant
}

/// Registers a partner tenant and takes it through the indirect reseller program to ACTIVE
/// (so it holds `CAPABILITY_REQUEST_PROVIDER_ORDERS`); returns its tenant.
pub async fn indirect_reseller_partner(enrollment: &TestService) -> Uuid {
    let tenant = verified_partner(enrollment, "Contoso Resale Ltd").await;
    enroll_indirect_reseller(enrollment, tenant).await;
    tenant
}

/// Partner `tenant` enrolls as indirect reseller, is approved and activated. On a tenant
/// whose direct bill is RESTRICTED this makes it a transitioning partner.
pub async fn enroll_indirect_reseller(enrollment: &TestService, tenant: Uuid) {
    let created = enrollment
        .enrollment(&Actor::global_admin(tenant))
        .create_enrollment(pb::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: format!("partners/{tenant}"),
            program: pb::Program::IndirectReseller as i32,
        })
        .await
        .expect("enroll as indirect reseller")
        .into_inner();
    enrollment
        .enrollment(&Actor::operator())
        .approve_enrollment(pb::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: created.name.clone(),
        })
        .await
        .expect("approve indirect reseller");
    enrollment
        .enrollment(&Actor::service("agreement", "enrollment"))
        .activate_enrollment(pb::ActivateEnrollmentRequest {
            request_id: request_id(),
            name: created.name,
            agreement_version: "agreementVersions/mpa-indirect-reseller-2026".into(),
            accept_time: None,
        })
        .await
        .expect("activate indirect reseller");
}

/// Registers a partner tenant and has the operator list it in the directory of indirect
/// providers, which makes it an official indirect provider; returns its tenant.
pub async fn official_indirect_provider(enrollment: &TestService) -> Uuid {
    let tenant = verified_partner(enrollment, "Tailspin Distribution Inc").await;
    list_as_indirect_provider(enrollment, tenant).await;
    tenant
}

/// The operator lists partner `tenant` in the directory of indirect providers.
pub async fn list_as_indirect_provider(enrollment: &TestService, tenant: Uuid) {
    enrollment
        .enrollment(&Actor::operator())
        .create_indirect_provider(pb::CreateIndirectProviderRequest {
            request_id: request_id(),
            indirect_provider: Some(pb::IndirectProvider {
                display_name: format!("Tailspin Distribution {tenant}"),
                provider_tenant_id: tenant.to_string(),
                country_codes: vec!["US".into()],
                ..Default::default()
            }),
        })
        .await
        .expect("list in the directory of indirect providers");
}

/// `partner` (a direct-bill partner) records `customer_tenant` as its customer, so that it
/// becomes one of the customer's partners of record.
pub async fn record_customer(relationship: &TestService, partner: Uuid, customer_tenant: Uuid) {
    relationship
        .relationship(&Actor::admin_agent(partner))
        .create_customer(new_customer(partner, customer_tenant, None))
        .await
        .expect("record the customer");
}

/// A customer record of `partner` for `customer_tenant`, created for `reseller` when the
/// partner is its provider.
fn new_customer(
    partner: Uuid,
    customer_tenant: Uuid,
    reseller: Option<Uuid>,
) -> suite_proto::relationship::v1::CreateCustomerRequest {
    suite_proto::relationship::v1::CreateCustomerRequest {
        request_id: request_id(),
        parent: format!("partners/{partner}"),
        customer: Some(suite_proto::relationship::v1::Customer {
            customer_tenant_id: customer_tenant.to_string(),
            display_name: "Fourth Coffee".into(),
            domain: "fourthcoffee.onmicrosoft.com".into(),
            country_code: "US".into(),
            ..Default::default()
        }),
        indirect_reseller: reseller
            .map(|r| format!("partners/{r}"))
            .unwrap_or_default(),
    }
}

/// An ACTIVE partnership between a new official indirect provider and a new indirect
/// reseller, made as partners make it: the provider invites, the reseller's GLOBAL_ADMIN
/// accepts with the token of the e-mailed link (read from the outbox). Returns (provider,
/// reseller).
pub async fn active_partnership(
    enrollment: &TestService,
    relationship: &TestService,
) -> (Uuid, Uuid) {
    let provider = official_indirect_provider(enrollment).await;
    let reseller = indirect_reseller_partner(enrollment).await;
    partnership_between(relationship, provider, reseller).await;
    (provider, reseller)
}

/// Official indirect provider `provider` invites indirect reseller `reseller`, whose
/// GLOBAL_ADMIN accepts with the token of the e-mailed link (read from the outbox).
pub async fn partnership_between(relationship: &TestService, provider: Uuid, reseller: Uuid) {
    use suite_proto::relationship::v1 as rel;
    relationship
        .relationship(&Actor::admin_agent(provider))
        .invite_indirect_reseller(rel::InviteIndirectResellerRequest {
            request_id: request_id(),
            parent: format!("partners/{provider}"),
            reseller_tenant_id: reseller.to_string(),
            invite_email: "admin@reseller.example".into(),
        })
        .await
        .expect("invite the reseller");
    let email = relationship
        .database
        .outbox("email")
        .await
        .pop()
        .expect("the invitation e-mail");
    let email = String::from_utf8(email).expect("a text e-mail");
    let after = |marker: &str| -> String {
        let start = email.find(marker).expect("the invitation link") + marker.len();
        email[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-'))
            .collect()
    };
    relationship
        .relationship(&Actor::global_admin(reseller))
        .accept_partnership_invitation(rel::AcceptPartnershipInvitationRequest {
            request_id: request_id(),
            name: after("?name="),
            invitation_token: after("&token="),
        })
        .await
        .expect("accept the invitation");
}

/// `provider` creates `customer_tenant` for `reseller` (their partnership must be ACTIVE):
/// both become its partners of record.
pub async fn provider_creates_customer(
    relationship: &TestService,
    provider: Uuid,
    reseller: Uuid,
    customer_tenant: Uuid,
) {
    relationship
        .relationship(&Actor::admin_agent(provider))
        .create_customer(new_customer(provider, customer_tenant, Some(reseller)))
        .await
        .expect("the provider creates the customer");
}

/// `reseller` invites its customer `customer_tenant` to reseller relationships with itself
/// and `provider` at once; the customer's GLOBAL_ADMIN accepts with the link's token. The
/// reseller is then listed as the customer's indirect reseller, the provider as its indirect
/// provider.
pub async fn customer_joins_reseller_and_provider(
    relationship: &TestService,
    reseller: Uuid,
    provider: Uuid,
    customer_tenant: Uuid,
) {
    let invitation =
        invite_customer(relationship, reseller, Some(provider), customer_tenant, &[]).await;
    accept_customer_invitation(relationship, customer_tenant, &invitation).await;
}

/// `partner`, which bills customers (a direct-bill partner or an indirect provider), sends
/// customer `customer_tenant` a reseller relationship request for itself alone naming
/// `subscriptions`; the customer's GLOBAL_ADMIN accepts. Returns the accepted request.
pub async fn customer_accepts_relationship_request(
    relationship: &TestService,
    partner: Uuid,
    customer_tenant: Uuid,
    subscriptions: &[&str],
) -> suite_proto::relationship::v1::CustomerInvitation {
    let request =
        invite_customer(relationship, partner, None, customer_tenant, subscriptions).await;
    accept_customer_invitation(relationship, customer_tenant, &request).await
}

async fn invite_customer(
    relationship: &TestService,
    partner: Uuid,
    provider: Option<Uuid>,
    customer_tenant: Uuid,
    subscriptions: &[&str],
) -> suite_proto::relationship::v1::CustomerInvitation {
    use suite_proto::relationship::v1 as rel;
    relationship
        .relationship(&Actor::admin_agent(partner))
        .create_customer_invitation(rel::CreateCustomerInvitationRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}"),
            provider: provider
                .map(|p| format!("partners/{p}"))
                .unwrap_or_default(),
            customer_tenant_id: customer_tenant.to_string(),
            subscriptions: subscriptions.iter().map(|s| (*s).to_owned()).collect(),
        })
        .await
        .expect("invite the customer")
        .into_inner()
}

/// The GLOBAL_ADMIN of `customer_tenant` accepts `invitation` with its link's token.
async fn accept_customer_invitation(
    relationship: &TestService,
    customer_tenant: Uuid,
    invitation: &suite_proto::relationship::v1::CustomerInvitation,
) -> suite_proto::relationship::v1::CustomerInvitation {
    use suite_proto::relationship::v1 as rel;
    let token = invitation
        .link
        .rsplit_once("&token=")
        .map(|(_, token)| token.to_owned())
        .expect("a token in the link");
    relationship
        .relationship(&Actor::global_admin(customer_tenant))
        .accept_customer_invitation(rel::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name.clone(),
            invitation_token: token,
            customer: Some(rel::Customer {
                display_name: "Fourth Coffee".into(),
                domain: "fourthcoffee.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("the customer accepts")
        .into_inner()
}

/// The operator publishes the Microsoft Customer Agreement (`mca-2026-01`).
pub async fn publish_customer_agreement(agreement: &TestService) {
    use suite_proto::agreement::v1 as agr;
    agreement
        .agreement(&Actor::operator())
        .create_agreement_version(agr::CreateAgreementVersionRequest {
            request_id: request_id(),
            agreement_version: Some(agr::AgreementVersion {
                template_id: "mca-2026-01".into(),
                agreement_type: agr::AgreementType::Customer as i32,
                display_name: "Microsoft Customer Agreement".into(),
                effective_time: Some(prost_types::Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("publish the MCA");
}

/// `partner`, a partner of record of `customer_tenant`, attests that the customer accepted
/// the published MCA: it is then valid with that partner.
pub async fn attest_customer_agreement(
    agreement: &TestService,
    partner: Uuid,
    customer_tenant: Uuid,
) {
    use suite_proto::agreement::v1 as agr;
    agreement
        .agreement(&Actor::admin_agent(partner))
        .create_customer_agreement_acceptance(agr::CreateCustomerAgreementAcceptanceRequest {
            request_id: request_id(),
            parent: format!("customers/{customer_tenant}"),
            acceptance: Some(agr::CustomerAgreementAcceptance {
                signer: Some(agr::Signer {
                    first_name: "Ana".into(),
                    last_name: "Silva".into(),
                    email: "ana@fourthcoffee.example".into(),
                    phone_number: "+44 20 7946 0000".into(),
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("attest the customer's MCA");
}

/// An Azure pay-as-you-go (`MS-AZR-0145P`) subscription to order, with a new Azure
/// subscription id.
pub fn azure_pay_as_you_go() -> suite_proto::transfer::v1::Subscription {
    use suite_proto::transfer::v1 as tr;
    tr::Subscription {
        offer_id: "MS-AZR-0145P".into(),
        offer_kind: tr::OfferKind::AzurePayAsYouGo as i32,
        quantity: 1,
        billing_period: tr::BillingPeriod::Usage as i32,
        unit_price: Some(pb::Money {
            currency_code: "USD".into(),
            amount_minor: 0,
        }),
        azure_subscription_id: Uuid::new_v4().to_string(),
        ..Default::default()
    }
}

/// A monthly licence-based subscription of `kind` to order: `quantity` licences of `offer`,
/// renewing, an add-on of `base` when `base` is a subscription name (empty for none).
pub fn licence_based(
    kind: suite_proto::transfer::v1::OfferKind,
    offer: &str,
    quantity: i32,
    base: &str,
) -> suite_proto::transfer::v1::Subscription {
    use suite_proto::transfer::v1 as tr;
    tr::Subscription {
        offer_id: offer.into(),
        offer_kind: kind as i32,
        quantity,
        billing_period: tr::BillingPeriod::Monthly as i32,
        unit_price: Some(pb::Money {
            currency_code: "USD".into(),
            amount_minor: 2_300,
        }),
        auto_renew: true,
        base_subscription: base.into(),
        ..Default::default()
    }
}

/// `partner`'s ADMIN_AGENT orders `subscription` for `customer_tenant`; the order must be
/// taken.
pub async fn order_subscription(
    transfer: &TestService,
    partner: Uuid,
    customer_tenant: Uuid,
    subscription: suite_proto::transfer::v1::Subscription,
) -> suite_proto::transfer::v1::Subscription {
    use suite_proto::transfer::v1 as tr;
    transfer
        .transfer(&Actor::admin_agent(partner))
        .create_subscription(tr::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}/customers/{customer_tenant}"),
            subscription: Some(subscription),
        })
        .await
        .expect("order a subscription")
        .into_inner()
}
