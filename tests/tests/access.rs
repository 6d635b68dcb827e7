//! Who may call what, over every RPC of every service: callers whose credentials do not
//! verify are UNAUTHENTICATED everywhere, an app of a transitioned tenant (no API access) is
//! refused everywhere with one reason, and each role, another tenant, an app and the
//! operator get the code the rules give them, RPC by RPC.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::fmt::Write as _;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use prost::Message;
use prost_types::{FieldMask, Timestamp};
use suite_auth::Role;
use suite_proto::agreement::v1 as agreement;
use suite_proto::enrollment::v1 as enrollment;
use suite_proto::relationship::v1 as relationship;
use suite_proto::transfer::v1 as transfer;
use suite_testkit::raw::{Catalog, RawClient, Rpc};
use suite_testkit::{
    Actor, direct_bill_partner, eventually, reason, request_id, restrict_direct_bill,
};
use tonic::Code;
use uuid::Uuid;

/// Resources the table's requests point at.
struct World {
    suite: suite_testkit::Suite,
    /// A partner with ACTIVE direct bill, a customer and a subscription.
    partner: Uuid,
    customer: String,
    subscription: String,
    /// A second subscription of the customer, which the table cancels.
    cancelled_subscription: String,
    /// A transitioned partner (indirect reseller on its restricted direct-bill tenant) with
    /// an accepted partner agreement.
    reseller: Uuid,
    acceptance: String,
    mpa_version: String,
    provider: String,
}

const EPOCH_2026: Timestamp = Timestamp {
    seconds: 1_767_225_600,
    nanos: 0,
};

async fn world() -> World {
    let suite = suite_testkit::Suite::start().await;
    let operator = Actor::operator();

    let partner = direct_bill_partner(&suite.enrollment).await;
    let agent = Actor::admin_agent(partner);
    let customer = suite
        .relationship
        .relationship(&agent)
        .create_customer(relationship::CreateCustomerRequest {
            request_id: request_id(),
            parent: format!("partners/{partner}"),
            customer: Some(relationship::Customer {
                customer_tenant_id: Uuid::new_v4().to_string(),
                display_name: "Contoso Pharmaceuticals".into(),
                domain: "contosopharma.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    let subscription = suite
        .transfer()
        .transfer(&agent)
        .create_subscription(subscription_request(&customer))
        .await
        .unwrap()
        .into_inner()
        .name;
    let cancelled_subscription = suite
        .transfer()
        .transfer(&agent)
        .create_subscription(subscription_request(&customer))
        .await
        .unwrap()
        .into_inner()
        .name;

    let mpa_version = suite
        .agreement()
        .agreement(&operator)
        .create_agreement_version(agreement::CreateAgreementVersionRequest {
            request_id: request_id(),
            agreement_version: Some(agreement::AgreementVersion {
                template_id: "mpa-indirect-2026".into(),
                agreement_type: agreement::AgreementType::PartnerIndirectReseller as i32,
                display_name: "Microsoft Partner Agreement (indirect reseller)".into(),
                effective_time: Some(EPOCH_2026),
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner()
        .name;

    let reseller = direct_bill_partner(&suite.enrollment).await;
    restrict_direct_bill(&suite.enrollment, reseller).await;
    let reseller_admin = Actor::global_admin(reseller);
    let enrolled = suite
        .enrollment
        .enrollment(&reseller_admin)
        .create_enrollment(enrollment::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: format!("partners/{reseller}"),
            program: enrollment::Program::IndirectReseller as i32,
        })
        .await
        .unwrap()
        .into_inner();
    suite
        .enrollment
        .enrollment(&operator)
        .approve_enrollment(enrollment::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: enrolled.name.clone(),
        })
        .await
        .unwrap();
    let acceptance = suite
        .agreement()
        .agreement(&reseller_admin)
        .accept_partner_agreement(agreement::AcceptPartnerAgreementRequest {
            request_id: request_id(),
            parent: format!("partners/{reseller}"),
            agreement_type: agreement::AgreementType::PartnerIndirectReseller as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .name;
    eventually(
        "the reseller is transitioned",
        Duration::from_secs(20),
        || async {
            suite
                .enrollment
                .enrollment(&reseller_admin)
                .get_capabilities(enrollment::GetCapabilitiesRequest {
                    partner: format!("partners/{reseller}"),
                })
                .await
                .unwrap()
                .into_inner()
                .transitioning_partner
        },
    )
    .await;

    let provider = suite
        .enrollment
        .enrollment(&operator)
        .create_indirect_provider(enrollment::CreateIndirectProviderRequest {
            request_id: request_id(),
            indirect_provider: Some(provider("Tailspin Distribution")),
        })
        .await
        .unwrap()
        .into_inner()
        .name;

    World {
        suite,
        partner,
        customer,
        subscription,
        cancelled_subscription,
        reseller,
        acceptance,
        mpa_version,
        provider,
    }
}

fn provider(display_name: &str) -> enrollment::IndirectProvider {
    enrollment::IndirectProvider {
        display_name: display_name.into(),
        provider_tenant_id: Uuid::new_v4().to_string(),
        country_codes: vec!["US".into()],
        offers_technical_support: true,
        ..Default::default()
    }
}

fn subscription_request(customer: &str) -> transfer::CreateSubscriptionRequest {
    transfer::CreateSubscriptionRequest {
        request_id: request_id(),
        parent: customer.to_owned(),
        subscription: Some(transfer::Subscription {
            offer_id: "MS-AZR-0145P".into(),
            offer_kind: transfer::OfferKind::AzurePayAsYouGo as i32,
            quantity: 1,
            billing_period: transfer::BillingPeriod::Usage as i32,
            unit_price: Some(enrollment::Money {
                currency_code: "USD".into(),
                amount_minor: 0,
            }),
            azure_subscription_id: Uuid::new_v4().to_string(),
            ..Default::default()
        }),
    }
}

/// A well-formed request for `method` about the resources of `world`, with a fresh
/// `request_id`; the partner it concerns is `world.partner` except where a row says.
fn request(method: &str, world: &World) -> Vec<u8> {
    let partner = format!("partners/{}", world.partner);
    let reseller = format!("partners/{}", world.reseller);
    // The agreement rows ask about the partner's own customer.
    let customer_tenant = format!(
        "customers/{}",
        world.customer.rsplit('/').next().unwrap_or_default()
    );
    match method {
        "CreatePartner" => enrollment::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(enrollment::Partner {
                legal_name: "Fabrikam Cloud Ltd".into(),
                country_code: "US".into(),
                primary_contact_email: "ops@fabrikam.example".into(),
                ..Default::default()
            }),
        }
        .encode_to_vec(),
        "GetPartner" => enrollment::GetPartnerRequest { name: partner }.encode_to_vec(),
        "ListPartners" => enrollment::ListPartnersRequest::default().encode_to_vec(),
        "UpdatePartner" => enrollment::UpdatePartnerRequest {
            request_id: request_id(),
            partner: Some(enrollment::Partner {
                name: partner,
                legal_name: "Fabrikam Cloud Limited".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["legal_name".into()],
            }),
        }
        .encode_to_vec(),
        "CheckPartnerProfile" => {
            enrollment::CheckPartnerProfileRequest { name: partner }.encode_to_vec()
        }
        "RecordMonthlyRevenue" => enrollment::RecordMonthlyRevenueRequest {
            request_id: request_id(),
            parent: partner,
            revenue: Some(enrollment::MonthlyRevenue {
                month: "2025-01".into(),
                amount: Some(enrollment::Money {
                    currency_code: "USD".into(),
                    amount_minor: 100,
                }),
                ..Default::default()
            }),
        }
        .encode_to_vec(),
        "GetDirectBillEligibility" => {
            enrollment::GetDirectBillEligibilityRequest { partner }.encode_to_vec()
        }
        "CreateEnrollment" => enrollment::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: partner,
            program: enrollment::Program::IndirectReseller as i32,
        }
        .encode_to_vec(),
        "GetEnrollment" => enrollment::GetEnrollmentRequest {
            name: format!("{partner}/enrollments/direct-bill"),
        }
        .encode_to_vec(),
        "GetProgramInformation" => {
            enrollment::GetProgramInformationRequest { partner }.encode_to_vec()
        }
        "ApproveEnrollment" => enrollment::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: format!("{partner}/enrollments/direct-bill"),
        }
        .encode_to_vec(),
        "RejectEnrollment" => enrollment::RejectEnrollmentRequest {
            request_id: request_id(),
            name: format!("{partner}/enrollments/direct-bill"),
            reason: "incomplete".into(),
        }
        .encode_to_vec(),
        "RestrictEnrollment" => enrollment::RestrictEnrollmentRequest {
            request_id: request_id(),
            name: format!("{reseller}/enrollments/direct-bill"),
        }
        .encode_to_vec(),
        "ActivateEnrollment" => enrollment::ActivateEnrollmentRequest {
            request_id: request_id(),
            name: format!("{partner}/enrollments/direct-bill"),
            agreement_version: world.mpa_version.clone(),
            accept_time: Some(EPOCH_2026),
        }
        .encode_to_vec(),
        "GetApprovalPolicy" => enrollment::GetApprovalPolicyRequest {}.encode_to_vec(),
        "UpdateApprovalPolicy" => enrollment::UpdateApprovalPolicyRequest {
            request_id: request_id(),
            policy: Some(enrollment::ApprovalPolicy::default()),
        }
        .encode_to_vec(),
        "GetCapabilities" => enrollment::GetCapabilitiesRequest { partner }.encode_to_vec(),
        "BatchGetCapabilities" => enrollment::BatchGetCapabilitiesRequest {
            partners: vec![partner],
        }
        .encode_to_vec(),
        "ListIncentiveEnrollments" => enrollment::ListIncentiveEnrollmentsRequest {
            parent: partner,
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateIncentiveEnrollment" => enrollment::CreateIncentiveEnrollmentRequest {
            request_id: request_id(),
            parent: partner,
            program: enrollment::IncentiveProgram::DirectBill as i32,
        }
        .encode_to_vec(),
        "CreateIndirectProvider" => enrollment::CreateIndirectProviderRequest {
            request_id: request_id(),
            indirect_provider: Some(provider(&format!("Provider {}", Uuid::new_v4()))),
        }
        .encode_to_vec(),
        "UpdateIndirectProvider" => enrollment::UpdateIndirectProviderRequest {
            request_id: request_id(),
            indirect_provider: Some(enrollment::IndirectProvider {
                name: world.provider.clone(),
                description: "Distribution across North America".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["description".into()],
            }),
        }
        .encode_to_vec(),
        "GetIndirectProvider" => enrollment::GetIndirectProviderRequest {
            name: world.provider.clone(),
        }
        .encode_to_vec(),
        "SearchIndirectProviders" => enrollment::SearchIndirectProvidersRequest {
            country_code: "US".into(),
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateCustomer" => relationship::CreateCustomerRequest {
            request_id: request_id(),
            parent: partner,
            customer: Some(relationship::Customer {
                customer_tenant_id: Uuid::new_v4().to_string(),
                display_name: "Northwind Traders".into(),
                domain: "northwind.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec(),
        "GetCustomer" => relationship::GetCustomerRequest {
            name: world.customer.clone(),
        }
        .encode_to_vec(),
        "ListCustomers" => relationship::ListCustomersRequest {
            parent: partner,
            ..Default::default()
        }
        .encode_to_vec(),
        "UpdateCustomer" => relationship::UpdateCustomerRequest {
            request_id: request_id(),
            customer: Some(relationship::Customer {
                name: world.customer.clone(),
                display_name: "Contoso Pharmaceuticals Ltd".into(),
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
        }
        .encode_to_vec(),
        "ListCustomerPartners" => relationship::ListCustomerPartnersRequest {
            parent: format!(
                "customers/{}",
                world.customer.rsplit('/').next().unwrap_or_default()
            ),
            ..Default::default()
        }
        .encode_to_vec(),
        "CheckCustomerRelationship" => relationship::CheckCustomerRelationshipRequest {
            customer: format!(
                "customers/{}",
                world.customer.rsplit('/').next().unwrap_or_default()
            ),
            partner,
        }
        .encode_to_vec(),
        "BatchCheckCustomerRelationships" => relationship::BatchCheckCustomerRelationshipsRequest {
            parent: format!(
                "customers/{}",
                world.customer.rsplit('/').next().unwrap_or_default()
            ),
            partners: vec![partner],
        }
        .encode_to_vec(),
        // Partnerships: the partner acting as a provider towards the reseller; none exists.
        "InviteIndirectReseller" => relationship::InviteIndirectResellerRequest {
            request_id: request_id(),
            parent: partner.clone(),
            reseller_tenant_id: world.reseller.to_string(),
            invite_email: "admin@reseller.example".into(),
        }
        .encode_to_vec(),
        "AcceptPartnershipInvitation" => relationship::AcceptPartnershipInvitationRequest {
            request_id: request_id(),
            name: format!("{partner}/indirectProviders/{}", world.reseller),
            invitation_token: "0".repeat(64),
        }
        .encode_to_vec(),
        "GetPartnership" => relationship::GetPartnershipRequest {
            name: format!("{partner}/indirectResellers/{}", world.reseller),
        }
        .encode_to_vec(),
        "CheckPartnership" => relationship::CheckPartnershipRequest {
            name: format!("{partner}/indirectResellers/{}", world.reseller),
        }
        .encode_to_vec(),
        "ListIndirectResellers" => relationship::ListIndirectResellersRequest {
            parent: partner,
            ..Default::default()
        }
        .encode_to_vec(),
        "ListIndirectProviders" => relationship::ListIndirectProvidersRequest {
            parent: partner,
            ..Default::default()
        }
        .encode_to_vec(),
        "SuspendPartnership" => relationship::SuspendPartnershipRequest {
            request_id: request_id(),
            name: format!("{partner}/indirectResellers/{}", world.reseller),
            etag: String::new(),
        }
        .encode_to_vec(),
        "ResumePartnership" => relationship::ResumePartnershipRequest {
            request_id: request_id(),
            name: format!("{partner}/indirectResellers/{}", world.reseller),
            etag: String::new(),
        }
        .encode_to_vec(),
        "RevokePartnership" => relationship::RevokePartnershipRequest {
            request_id: request_id(),
            name: format!("{partner}/indirectResellers/{}", world.reseller),
            etag: String::new(),
        }
        .encode_to_vec(),
        // The partner is no transitioning partner: it extends nothing.
        "ExtendResellerRelationship" => relationship::ExtendResellerRelationshipRequest {
            request_id: request_id(),
            customer: world.customer.clone(),
            provider: format!("partners/{}", world.reseller),
            consent: Some(relationship::CustomerConsent {
                consented_by: "Ana Silva".into(),
                consent_time: Some(EPOCH_2026),
                notice_text: "We share your billing details with our provider.".into(),
            }),
        }
        .encode_to_vec(),
        // Customer invitations from the partner as a reseller; it is no indirect reseller.
        "CreateCustomerInvitation" => relationship::CreateCustomerInvitationRequest {
            request_id: request_id(),
            parent: partner.clone(),
            provider: format!("partners/{}", world.reseller),
            customer_tenant_id: String::new(),
            subscriptions: Vec::new(),
        }
        .encode_to_vec(),
        "SendCustomerInvitation" => relationship::SendCustomerInvitationRequest {
            request_id: request_id(),
            name: format!("{partner}/customerInvitations/{}", Uuid::new_v4()),
            to: "it@customer.example".into(),
            subject: "Invitation".into(),
            body: "https://localhost/customers/accept".into(),
            link: "https://localhost/customers/accept".into(),
        }
        .encode_to_vec(),
        "AcceptCustomerInvitation" => relationship::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: format!("{partner}/customerInvitations/{}", Uuid::new_v4()),
            invitation_token: "0".repeat(64),
            customer: Some(relationship::Customer {
                display_name: "Coho Winery".into(),
                domain: "cohowinery.onmicrosoft.com".into(),
                country_code: "US".into(),
                ..Default::default()
            }),
        }
        .encode_to_vec(),
        // GDAP: the partner asks its own customer; the relationship acted on does not exist.
        "CreateDelegatedAdminRelationship" => {
            relationship::CreateDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                parent: world.customer.clone(),
                delegated_admin_relationship: Some(relationship::DelegatedAdminRelationship {
                    display_name: format!("Helpdesk {}", Uuid::new_v4().simple()),
                    roles: vec![relationship::DelegatedAdminRole::UserAdministrator as i32],
                    duration: "P90D".into(),
                    ..Default::default()
                }),
            }
            .encode_to_vec()
        }
        "GetDelegatedAdminRelationship" => relationship::GetDelegatedAdminRelationshipRequest {
            name: format!(
                "{}/delegatedAdminRelationships/{}",
                world.customer,
                Uuid::new_v4()
            ),
        }
        .encode_to_vec(),
        "LockDelegatedAdminRelationshipForApproval" => {
            relationship::LockDelegatedAdminRelationshipForApprovalRequest {
                request_id: request_id(),
                name: format!(
                    "{}/delegatedAdminRelationships/{}",
                    world.customer,
                    Uuid::new_v4()
                ),
                etag: String::new(),
            }
            .encode_to_vec()
        }
        "ApproveDelegatedAdminRelationship" => {
            relationship::ApproveDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                name: format!(
                    "{}/delegatedAdminRelationships/{}",
                    world.customer,
                    Uuid::new_v4()
                ),
                etag: String::new(),
            }
            .encode_to_vec()
        }
        "RejectDelegatedAdminRelationship" => {
            relationship::RejectDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                name: format!(
                    "{}/delegatedAdminRelationships/{}",
                    world.customer,
                    Uuid::new_v4()
                ),
                etag: String::new(),
            }
            .encode_to_vec()
        }
        "TerminateDelegatedAdminRelationship" => {
            relationship::TerminateDelegatedAdminRelationshipRequest {
                request_id: request_id(),
                name: format!(
                    "{}/delegatedAdminRelationships/{}",
                    world.customer,
                    Uuid::new_v4()
                ),
                etag: String::new(),
            }
            .encode_to_vec()
        }
        "CheckDelegatedAdminAccess" => relationship::CheckDelegatedAdminAccessRequest {
            customer: customer_tenant.clone(),
            partner: partner.clone(),
        }
        .encode_to_vec(),
        "ListDelegatedAdminRelationships" => relationship::ListDelegatedAdminRelationshipsRequest {
            parent: world.customer.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateAgreementVersion" => agreement::CreateAgreementVersionRequest {
            request_id: request_id(),
            agreement_version: Some(agreement::AgreementVersion {
                template_id: format!("mca-{}", Uuid::new_v4().simple()),
                agreement_type: agreement::AgreementType::Customer as i32,
                display_name: "Microsoft Customer Agreement".into(),
                effective_time: Some(EPOCH_2026),
                ..Default::default()
            }),
        }
        .encode_to_vec(),
        "GetAgreementVersion" => agreement::GetAgreementVersionRequest {
            name: world.mpa_version.clone(),
        }
        .encode_to_vec(),
        "ListAgreementVersions" => {
            agreement::ListAgreementVersionsRequest::default().encode_to_vec()
        }
        "AcceptPartnerAgreement" => agreement::AcceptPartnerAgreementRequest {
            request_id: request_id(),
            parent: reseller,
            agreement_type: agreement::AgreementType::PartnerIndirectReseller as i32,
        }
        .encode_to_vec(),
        "GetPartnerAgreementAcceptance" => agreement::GetPartnerAgreementAcceptanceRequest {
            name: world.acceptance.clone(),
        }
        .encode_to_vec(),
        "ListPartnerAgreementAcceptances" => agreement::ListPartnerAgreementAcceptancesRequest {
            parent: reseller,
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateCustomerAgreementAcceptance" => {
            agreement::CreateCustomerAgreementAcceptanceRequest {
                request_id: request_id(),
                parent: customer_tenant,
                acceptance: Some(agreement::CustomerAgreementAcceptance {
                    signer: Some(agreement::Signer {
                        first_name: "Ana".into(),
                        last_name: "Silva".into(),
                        email: "ana@fourthcoffee.example".into(),
                        phone_number: "+1 425 555 0100".into(),
                    }),
                    ..Default::default()
                }),
            }
            .encode_to_vec()
        }
        "ListCustomerAgreementAcceptances" => agreement::ListCustomerAgreementAcceptancesRequest {
            parent: customer_tenant,
            ..Default::default()
        }
        .encode_to_vec(),
        "CheckCustomerAgreement" => agreement::CheckCustomerAgreementRequest {
            customer: customer_tenant,
            partner,
        }
        .encode_to_vec(),
        "CreateSubscription" => subscription_request(&world.customer).encode_to_vec(),
        "GetSubscription" => transfer::GetSubscriptionRequest {
            name: world.subscription.clone(),
        }
        .encode_to_vec(),
        "ListSubscriptions" => transfer::ListSubscriptionsRequest {
            parent: world.customer.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "UpdateSubscription" => transfer::UpdateSubscriptionRequest {
            request_id: request_id(),
            subscription: Some(transfer::Subscription {
                name: world.subscription.clone(),
                auto_renew: true,
                ..Default::default()
            }),
            update_mask: Some(FieldMask {
                paths: vec!["auto_renew".into()],
            }),
        }
        .encode_to_vec(),
        "CancelSubscription" => transfer::CancelSubscriptionRequest {
            request_id: request_id(),
            name: world.cancelled_subscription.clone(),
        }
        .encode_to_vec(),
        "ListTransferEligibilities" => transfer::ListTransferEligibilitiesRequest {
            parent: world.customer.clone(),
            ..Default::default()
        }
        .encode_to_vec(),
        "CreateTransferRequest" => transfer::CreateTransferRequestRequest {
            request_id: request_id(),
            parent: world.customer.clone(),
            provider: format!("partners/{}", Uuid::new_v4()),
            subscriptions: vec![world.subscription.clone()],
        }
        .encode_to_vec(),
        "GetTransferRequest" => transfer::GetTransferRequestRequest {
            name: transfer_request(world),
        }
        .encode_to_vec(),
        "ListTransferRequests" => transfer::ListTransferRequestsRequest {
            parent: partner,
            ..Default::default()
        }
        .encode_to_vec(),
        "AcceptTransferRequest" => transfer::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: transfer_request(world),
            etag: String::new(),
        }
        .encode_to_vec(),
        "RejectTransferRequest" => transfer::RejectTransferRequestRequest {
            request_id: request_id(),
            name: transfer_request(world),
            note: String::new(),
        }
        .encode_to_vec(),
        "CreatePartnerTransferRequest" => transfer::CreatePartnerTransferRequestRequest {
            request_id: request_id(),
            parent: partner,
            source: format!("partners/{}", Uuid::new_v4()),
            customer_tenant_id: Uuid::new_v4().to_string(),
            customer_email: "it@fourthcoffee.example".into(),
        }
        .encode_to_vec(),
        "SubmitTransferRequest" => transfer::SubmitTransferRequestRequest {
            request_id: request_id(),
            name: transfer_request(world),
            subscriptions: vec![world.subscription.clone()],
            etag: String::new(),
        }
        .encode_to_vec(),
        "CancelTransferRequest" => transfer::CancelTransferRequestRequest {
            request_id: request_id(),
            name: transfer_request(world),
        }
        .encode_to_vec(),
        other => panic!("the access table has no row for {other}: add one"),
    }
}

/// A transfer request name under the partner's customer. None exists: who may do what with
/// one is tested with real requests in the transfer service's own tests; here every caller
/// must get the same NOT_FOUND, whatever its role, so that nothing tells a request apart.
fn transfer_request(world: &World) -> String {
    format!("{}/transferRequests/{}", world.customer, Uuid::new_v4())
}

/// The callers of the table, in its column order: the owning partner's GLOBAL_ADMIN,
/// ADMIN_AGENT and SALES_AGENT, a user of another tenant with every role, the operator, an
/// app of the owning partner, and a service of the suite acting for itself.
const CALLERS: [&str; 7] = ["GA", "AA", "SA", "other", "operator", "app", "service"];

/// The service that serves `rpc`, by its package (`enrollment.v1` → `enrollment`).
fn service_of(rpc: &Rpc) -> &str {
    rpc.package.trim_end_matches(".v1")
}

fn caller(column: &str, world: &World, rpc: &Rpc) -> Actor {
    let method = rpc.method.as_str();
    // The agreement rows about partner agreements concern the reseller.
    let owner = match method {
        "AcceptPartnerAgreement"
        | "GetPartnerAgreementAcceptance"
        | "ListPartnerAgreementAcceptances" => world.reseller,
        _ => world.partner,
    };
    match column {
        "GA" => Actor::global_admin(owner),
        "AA" => Actor::admin_agent(owner),
        "SA" => Actor::user(owner, &[Role::SalesAgent]),
        "other" => Actor::user(
            Uuid::new_v4(),
            &[Role::GlobalAdmin, Role::AdminAgent, Role::SalesAgent],
        ),
        "operator" => Actor::operator(),
        "app" => Actor::app(owner),
        "service" => Actor::service("agreement", service_of(rpc)),
        other => panic!("unknown column {other}"),
    }
}

/// What each caller gets, by RPC, in the order of [`CALLERS`]: `OK`, or the code's name.
/// The app column concerns the partner with ACTIVE direct bill (API access) except on the
/// rows about the transitioned reseller, whose apps are refused. A refusal the rules give
/// despite the right (a program rule, a state) is a sign the caller was let through.
#[rustfmt::skip]
const EXPECTED: &[(&str, [&str; 7])] = &[
    // Registering: GLOBAL_ADMIN of its own tenant (this one exists already); the operator
    // must name the tenant.
    ("CreatePartner",              ["AlreadyExists", "PermissionDenied", "PermissionDenied", "OK", "InvalidArgument", "PermissionDenied", "PermissionDenied"]),
    ("GetPartner",                 ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListPartners",               ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    ("UpdatePartner",              ["OK", "PermissionDenied", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    ("CheckPartnerProfile",        ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Revenue comes from the operator or the partner's own integration.
    ("RecordMonthlyRevenue",       ["PermissionDenied", "PermissionDenied", "PermissionDenied", "NotFound", "OK", "OK", "NotFound"]),
    ("GetDirectBillEligibility",   ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Indirect reseller on a tenant whose direct bill is ACTIVE: a new tenant is required.
    ("CreateEnrollment",           ["FailedPrecondition", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("GetEnrollment",              ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("GetProgramInformation",      ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Operator actions; this enrollment is past the state each one needs.
    ("ApproveEnrollment",          ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "FailedPrecondition", "PermissionDenied", "PermissionDenied"]),
    ("RejectEnrollment",           ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "FailedPrecondition", "PermissionDenied", "PermissionDenied"]),
    ("RestrictEnrollment",         ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "FailedPrecondition", "PermissionDenied", "PermissionDenied"]),
    // Only the agreement service acting for itself (the service column) activates.
    ("ActivateEnrollment",         ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "FailedPrecondition"]),
    ("GetApprovalPolicy",          ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "OK", "PermissionDenied", "PermissionDenied"]),
    ("UpdateApprovalPolicy",       ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetCapabilities",            ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("BatchGetCapabilities",       ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListIncentiveEnrollments",   ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("CreateIncentiveEnrollment",  ["OK", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    // The directory: kept by the operator, read by everyone.
    ("CreateIndirectProvider",     ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "OK", "PermissionDenied", "PermissionDenied"]),
    ("UpdateIndirectProvider",     ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetIndirectProvider",        ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    ("SearchIndirectProviders",    ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    // Customer records: ADMIN_AGENT of a partner whose programs allow it, or the operator.
    ("CreateCustomer",             ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetCustomer",                ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListCustomers",              ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Keeping a customer's record: ADMIN_AGENT of the partner, or the operator.
    ("UpdateCustomer",             ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    // A customer's partners are its own admin's (a user of the customer tenant) and the
    // operator's; partners see their own views only.
    ("ListCustomerPartners",       ["NotFound", "NotFound", "NotFound", "NotFound", "OK", "NotFound", "NotFound"]),
    // The partner itself, the customer, another partner of record or the operator asks.
    ("CheckCustomerRelationship",  ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("BatchCheckCustomerRelationships", ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Partnerships, with the partner in the provider's place: it is no official provider
    // (ADMIN_AGENT invites), nor a reseller (GLOBAL_ADMIN accepts), and has none to change.
    ("InviteIndirectReseller",     ["PermissionDenied", "FailedPrecondition", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("AcceptPartnershipInvitation", ["FailedPrecondition", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("GetPartnership",             ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    // Either side, the operator, or the transfer service for itself (not this service).
    ("CheckPartnership",           ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListIndirectResellers",      ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListIndirectProviders",      ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("SuspendPartnership",         ["NotFound", "NotFound", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("ResumePartnership",          ["NotFound", "NotFound", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("RevokePartnership",          ["NotFound", "NotFound", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    // The extension: the ADMIN_AGENT of a transitioning partner (this one is not).
    ("ExtendResellerRelationship", ["PermissionDenied", "FailedPrecondition", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    // Customer invitations: the ADMIN_AGENT of an indirect reseller invites (this partner is
    // none) and sends its own invitations; a customer's GLOBAL_ADMIN accepts (none exists).
    ("CreateCustomerInvitation",   ["PermissionDenied", "FailedPrecondition", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("SendCustomerInvitation",     ["PermissionDenied", "NotFound", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("AcceptCustomerInvitation",   ["NotFound", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    // GDAP, by the partner's tenant about its own customer: ADMIN_AGENT (or the operator)
    // asks; a relationship is seen by its partner, its customer and the operator (this one
    // does not exist); the partner locks it for approval (ADMIN_AGENT), only the customer's
    // GLOBAL_ADMIN approves or rejects, either side terminates; the access answer is told as
    // CheckCustomerRelationship's is.
    ("CreateDelegatedAdminRelationship", ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetDelegatedAdminRelationship", ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    ("LockDelegatedAdminRelationshipForApproval", ["PermissionDenied", "NotFound", "PermissionDenied", "NotFound", "NotFound", "PermissionDenied", "NotFound"]),
    ("ApproveDelegatedAdminRelationship", ["PermissionDenied", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "NotFound"]),
    ("RejectDelegatedAdminRelationship", ["PermissionDenied", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "NotFound"]),
    ("TerminateDelegatedAdminRelationship", ["PermissionDenied", "NotFound", "PermissionDenied", "NotFound", "NotFound", "PermissionDenied", "NotFound"]),
    ("CheckDelegatedAdminAccess",  ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListDelegatedAdminRelationships", ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // The agreement catalogue: kept by the operator, read by everyone.
    ("CreateAgreementVersion",     ["PermissionDenied", "PermissionDenied", "PermissionDenied", "PermissionDenied", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetAgreementVersion",        ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    ("ListAgreementVersions",      ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    // Partner agreements of the transitioned reseller: its apps have no API access.
    ("AcceptPartnerAgreement",     ["OK", "PermissionDenied", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("GetPartnerAgreementAcceptance", ["OK", "OK", "OK", "NotFound", "OK", "PermissionDenied", "NotFound"]),
    ("ListPartnerAgreementAcceptances", ["OK", "OK", "OK", "NotFound", "OK", "PermissionDenied", "NotFound"]),
    // MCA attestations by the ADMIN_AGENT of a partner that has the customer; the customer's
    // own acceptance comes from the customer's tenant. A partner without the customer is
    // told it does not exist.
    ("CreateCustomerAgreementAcceptance", ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("ListCustomerAgreementAcceptances", ["OK", "OK", "OK", "OK", "OK", "OK", "OK"]),
    ("CheckCustomerAgreement",     ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Purchases: ADMIN_AGENT of a partner whose programs allow it, or the operator.
    ("CreateSubscription",         ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    ("GetSubscription",            ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("ListSubscriptions",          ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Changing a subscription: ADMIN_AGENT of its partner, or the operator.
    ("UpdateSubscription",         ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "OK", "PermissionDenied", "PermissionDenied"]),
    // Cancelling: the ADMIN_AGENT's cancellation comes first, the operator's finds it done.
    ("CancelSubscription",         ["PermissionDenied", "OK", "PermissionDenied", "NotFound", "FailedPrecondition", "PermissionDenied", "PermissionDenied"]),
    ("ListTransferEligibilities",  ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    // Transfers: ADMIN_AGENT of a transitioning partner asks (this partner is not one), never
    // the operator for it; requests are listed to either side, and one that does not exist
    // is NOT_FOUND to all.
    ("CreateTransferRequest",      ["PermissionDenied", "FailedPrecondition", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("GetTransferRequest",         ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    ("ListTransferRequests",       ["OK", "OK", "OK", "NotFound", "OK", "OK", "NotFound"]),
    ("AcceptTransferRequest",      ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    ("RejectTransferRequest",      ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    ("CancelTransferRequest",      ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
    // Partner-to-partner: the target's ADMIN_AGENT asks (the customer accepted no request
    // from this partner), never the operator for it; the source submits.
    ("CreatePartnerTransferRequest", ["PermissionDenied", "FailedPrecondition", "PermissionDenied", "NotFound", "PermissionDenied", "PermissionDenied", "PermissionDenied"]),
    ("SubmitTransferRequest",      ["NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound", "NotFound"]),
];

fn code_name(result: &Result<Vec<u8>, tonic::Status>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(status) => format!("{:?}", status.code()),
    }
}

#[tokio::test]
async fn every_rpc_answers_each_caller_as_the_rules_say() {
    let world = world().await;
    let catalog = Catalog::suite();
    let mut table = String::new();
    let mut wrong = Vec::new();
    for rpc in catalog.rpcs() {
        let mut client = RawClient::new(world.suite.serving(rpc).channel());
        let mut row = Vec::new();
        for column in CALLERS {
            let token = caller(column, &world, rpc).token();
            let answer = client
                .call(&rpc.path(), &token, request(&rpc.method, &world))
                .await;
            row.push(code_name(&answer));
        }
        let _ = writeln!(table, "{:<34} {}", rpc.method, row.join(" "));
        if row
            .iter()
            .any(|code| code == "Internal" || code == "Unknown")
        {
            wrong.push(format!(
                "{}: a caller got a server error: {row:?}",
                rpc.method
            ));
        }
        let expected = EXPECTED
            .iter()
            .find(|(method, _)| *method == rpc.method)
            .map(|(_, codes)| codes.to_vec());
        if expected.as_deref() != Some(&row.iter().map(String::as_str).collect::<Vec<_>>()[..]) {
            wrong.push(format!(
                "{}: expected {expected:?}, got {row:?}",
                rpc.method
            ));
        }
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Tokens that must not verify: each is refused UNAUTHENTICATED by every RPC, before the
/// request is read.
fn bad_credentials(rpc: &Rpc) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let user = Actor::user(Uuid::new_v4(), &[Role::GlobalAdmin, Role::AdminAgent]);
    let bearer = |token: String| vec![("authorization", format!("Bearer {token}"))];
    let mut expired = user.claims();
    (expired.iat, expired.exp) = (expired.iat - 7_200, expired.iat - 3_600);
    let mut not_yet_valid = user.claims();
    not_yet_valid.nbf = Some(not_yet_valid.iat + 3_600);
    let mut wrong_audience = user.claims();
    wrong_audience.aud = "another-api".into();
    let genuine = user.token();
    let (signed_part, signature) = genuine.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let bad_signature = format!("{signed_part}.{flipped}{}", &signature[1..]);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"identity","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json_claims(&user.claims())),
    );
    let other_service = if service_of(rpc) == "enrollment" {
        "relationship"
    } else {
        "enrollment"
    };
    let service_elsewhere = Actor::service("transfer", other_service).token();
    vec![
        ("no token", vec![]),
        ("expired", bearer(user.sign(&expired))),
        ("not yet valid", bearer(user.sign(&not_yet_valid))),
        ("bad signature", bearer(bad_signature)),
        ("alg none", bearer(unsigned)),
        ("wrong audience", bearer(user.sign(&wrong_audience))),
        (
            "service token for another service",
            bearer(service_elsewhere),
        ),
        (
            "user forwarding a token",
            vec![
                ("authorization", format!("Bearer {genuine}")),
                ("x-on-behalf-of", Actor::operator().token()),
            ],
        ),
    ]
}

fn serde_json_claims(claims: &suite_auth::Claims) -> Vec<u8> {
    serde_json::to_vec(claims).unwrap()
}

#[tokio::test]
async fn every_rpc_refuses_credentials_that_do_not_verify() {
    let suite = suite_testkit::Suite::start().await;
    let mut wrong = Vec::new();
    let mut calls = 0;
    for rpc in Catalog::suite().rpcs() {
        let mut client = RawClient::new(suite.serving(rpc).channel());
        for (what, metadata) in bad_credentials(rpc) {
            let metadata: Vec<(&'static str, &str)> =
                metadata.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let answer = client
                .call_with_metadata(&rpc.path(), &metadata, Vec::new())
                .await;
            calls += 1;
            match answer {
                Err(status) if status.code() == Code::Unauthenticated => {}
                other => wrong.push(format!(
                    "{} with {what}: {:?}",
                    rpc.method,
                    other.map(|_| "OK")
                )),
            }
        }
    }
    println!("{calls} calls with credentials that do not verify: all UNAUTHENTICATED");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn an_app_of_a_transitioned_tenant_is_refused_by_every_rpc_with_one_reason() {
    let world = world().await;
    let app = Actor::app(world.reseller).token();
    let mut wrong = Vec::new();
    for rpc in Catalog::suite().rpcs() {
        let answer = RawClient::new(world.suite.serving(rpc).channel())
            .call(&rpc.path(), &app, request(&rpc.method, &world))
            .await;
        match answer {
            Err(status)
                if status.code() == Code::PermissionDenied
                    && reason(&status) == "API_ACCESS_NOT_ALLOWED" => {}
            other => wrong.push(format!("{}: {other:?}", rpc.method)),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
