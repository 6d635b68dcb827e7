//! The article "Transition from direct bill partner to Cloud Solution Provider indirect
//! reseller", played over real gRPC with the four services running. The first test follows
//! the story in order, each section headed by the article's step; every other test is a
//! refusal a partner meets on the way, with the exact gRPC code and reason it gets, then
//! what the partner does next, as the refusal advises, and that it then succeeds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use suite_auth::Role;
use suite_proto::agreement::v1 as agr;
use suite_proto::enrollment::v1 as en;
use suite_proto::relationship::v1 as rel;
use suite_proto::transfer::v1 as tr;
use suite_testkit::{
    Actor, Suite, TestService, attest_customer_agreement, azure_pay_as_you_go,
    customer_joins_reseller_and_provider, direct_bill_partner, enroll_indirect_reseller,
    eventually, licence_based, official_indirect_provider, order_subscription, partnership_between,
    preconditions, provider_creates_customer, reason, record_customer, request_id,
    restrict_direct_bill,
};
use tonic::Code;
use uuid::Uuid;

/// How long a step the services finish in the background (an activation relayed by the
/// agreement service, a transfer run by the transfer service) may take.
const WAIT: Duration = Duration::from_secs(20);
const DAY_SECONDS: i64 = 86_400;

// ---------------------------------------------------------------------------------------------
// The story, in order
// ---------------------------------------------------------------------------------------------

/// The whole transition, as the article tells it: Fabrikam, a direct-bill partner, becomes an
/// indirect reseller on the same tenant, partners with an indirect provider, wins a new
/// customer through it, moves its direct-bill customers to it (by the relationship extension
/// and by invitation) with their Microsoft Customer Agreements in order, and transfers a
/// customer's subscriptions to the provider by self-service.
#[tokio::test]
async fn a_direct_bill_partner_becomes_an_indirect_reseller_and_hands_its_customers_to_a_provider()
{
    let suite = Suite::start().await;

    // "Direct bill partners need at least USD 300K of CSP revenue over the trailing 12
    // months." Fabrikam is one: registered, PartnerID verified, a year of revenue, direct bill
    // ACTIVE.
    let partner = direct_bill_partner(&suite.enrollment).await;
    let partner_admin = Actor::global_admin(partner);
    let partner_agent = Actor::admin_agent(partner);
    let eligibility = suite
        .enrollment
        .enrollment(&partner_admin)
        .get_direct_bill_eligibility(en::GetDirectBillEligibilityRequest {
            partner: partner_name(partner),
        })
        .await
        .expect("direct-bill eligibility")
        .into_inner();
    let threshold = eligibility.threshold.clone().expect("a threshold");
    let trailing = eligibility
        .trailing_revenue
        .clone()
        .expect("a revenue figure");
    assert_eq!(
        (threshold.currency_code.as_str(), threshold.amount_minor),
        ("USD", 30_000_000),
        "the article's USD 300K"
    );
    assert!(eligibility.eligible, "{eligibility:?}");
    assert!(trailing.amount_minor >= threshold.amount_minor);
    assert_eq!(eligibility.months_recorded, 12);
    // "Make sure the partner profile and PartnerID in Partner Center are current."
    let profile_check = suite
        .enrollment
        .enrollment(&partner_admin)
        .check_partner_profile(en::CheckPartnerProfileRequest {
            name: partner_name(partner),
        })
        .await
        .expect("profile check")
        .into_inner();
    assert!(profile_check.current, "{:?}", profile_check.issues);
    let profile = suite
        .enrollment
        .enrollment(&partner_admin)
        .get_partner(en::GetPartnerRequest {
            name: partner_name(partner),
        })
        .await
        .expect("the partner profile")
        .into_inner();
    // The same tenant may also be in the direct bill incentive program.
    let direct_incentive = join_incentive(&suite, partner, en::IncentiveProgram::DirectBill)
        .await
        .expect("join the direct bill incentive program");
    assert_eq!(direct_incentive.state(), en::IncentiveState::Enrolled);
    // Direct bill keeps the sandbox and Partner Center API/SDK access.
    let direct = capabilities(&suite, partner).await;
    assert!(direct.app_access);

    // Direct bill today: Fourth Coffee, with a mixed set of subscriptions and an MCA Fabrikam
    // attested for it; Northwind, with its billing profile on Fabrikam's books.
    let fourth_coffee = Uuid::new_v4();
    record_customer(&suite.relationship, partner, fourth_coffee).await;
    let northwind = Uuid::new_v4();
    let northwind_billing = billing_profile("Northwind Traders");
    record_customer_with_billing(&suite, partner, northwind, &northwind_billing).await;
    let bought = buy_a_mixed_set(&suite, partner, fourth_coffee).await;
    attest_customer_agreement(suite.agreement(), partner, fourth_coffee).await;
    let fabrikam_attestation = own_attestations(&suite, partner, fourth_coffee).await;
    assert_eq!(fabrikam_attestation.len(), 1);
    // "Identify customers acquired as a direct bill partner": add or view products.
    let view = customer_view(&suite, partner, fourth_coffee).await;
    assert_eq!(view.partner_role(), rel::PartnerRole::DirectBillPartner);
    assert!(offers_products(&view), "{:?}", view.available_actions);

    // "After the direct bill enrollment is in the Restricted state, you can enroll in the
    // indirect reseller program using the existing direct bill tenant."
    restrict_direct_bill(&suite.enrollment, partner).await;
    let information = program_information(&suite, partner).await;
    assert_eq!(
        enrollment_in(&information, en::Program::DirectBill).state(),
        en::EnrollmentState::Restricted
    );
    // "Select Get started for the indirect reseller program ... Select Enroll now."
    let submitted = suite
        .enrollment
        .enrollment(&partner_admin)
        .create_enrollment(en::CreateEnrollmentRequest {
            request_id: request_id(),
            parent: partner_name(partner),
            program: en::Program::IndirectReseller as i32,
        })
        .await
        .expect("enroll as indirect reseller on the same tenant")
        .into_inner();
    assert_eq!(submitted.state(), en::EnrollmentState::PendingApproval);
    assert!(submitted.transitioning);
    // "Approval usually happens immediately but can take up to five business days."
    let created = seconds(&submitted.create_time);
    let due = seconds(&submitted.approval_due_time);
    assert!(
        due > created && due - created <= 7 * DAY_SECONDS,
        "five business days after {created}: {due}"
    );

    // "Once approved, the primary contact e-mail address given at enrollment is notified."
    let approved = suite
        .enrollment
        .enrollment(&Actor::operator())
        .approve_enrollment(en::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: submitted.name.clone(),
        })
        .await
        .expect("the operator approves")
        .into_inner();
    assert_eq!(approved.state(), en::EnrollmentState::Approved);
    let program_slug = submitted.name.rsplit('/').next().expect("a program slug");
    let mails = emails(&suite.enrollment).await;
    let approval = mails
        .iter()
        .find(|m| m.subject.contains(program_slug))
        .unwrap_or_else(|| panic!("no approval e-mail for {program_slug}: {mails:?}"));
    assert_eq!(approval.to, profile.primary_contact_email);
    assert!(approval.subject.contains("approved"), "{approval:?}");
    assert!(approval.body.contains(&partner.to_string()), "{approval:?}");

    // "The Agreements page shows the indirect reseller agreement. Select the Accept link of the
    // corresponding Microsoft Partner Agreement. This enables the indirect reseller
    // capabilities."
    publish_indirect_reseller_mpa(suite.agreement()).await;
    let agreements_page = suite
        .agreement()
        .agreement(&partner_admin)
        .list_agreement_versions(agr::ListAgreementVersionsRequest {
            agreement_type: agr::AgreementType::PartnerIndirectReseller as i32,
            ..Default::default()
        })
        .await
        .expect("the Agreements page")
        .into_inner()
        .agreement_versions;
    assert_eq!(agreements_page.len(), 1);
    let acceptance = suite
        .agreement()
        .agreement(&partner_admin)
        .accept_partner_agreement(agr::AcceptPartnerAgreementRequest {
            request_id: request_id(),
            parent: partner_name(partner),
            agreement_type: agr::AgreementType::PartnerIndirectReseller as i32,
        })
        .await
        .expect("accept the indirect reseller MPA")
        .into_inner();
    assert_eq!(acceptance.enrollment, submitted.name);
    assert_eq!(acceptance.agreement_version, agreements_page[0].name);
    eventually(
        "the indirect reseller enrollment is ACTIVE",
        WAIT,
        || async {
            enrollment_state(&suite, partner, &submitted.name).await == en::EnrollmentState::Active
        },
    )
    .await;

    // "Settings > Account settings > Legal info > Program information": after accepting, the
    // profile shows both programs, each with its own status.
    let information = program_information(&suite, partner).await;
    assert_eq!(information.enrollments.len(), 2, "{information:?}");
    assert_eq!(
        enrollment_in(&information, en::Program::DirectBill).state(),
        en::EnrollmentState::Restricted
    );
    let reseller = enrollment_in(&information, en::Program::IndirectReseller);
    assert_eq!(reseller.state(), en::EnrollmentState::Active);
    assert_eq!(reseller.agreement_version, acceptance.agreement_version);
    assert!(information.transitioning_partner);
    // "Sandbox and Partner Center API/SDK capabilities are available only to direct bill
    // partners": the transitioned tenant loses them and gains the indirect reseller's.
    let transitioned = capabilities(&suite, partner).await;
    assert!(transitioned.transitioning_partner);
    assert!(!transitioned.app_access);
    for lost in [en::Capability::SandboxAccess, en::Capability::ApiSdkAccess] {
        assert!(!has(&transitioned, lost), "{lost:?} kept");
    }
    for gained in [
        en::Capability::RequestProviderOrders,
        en::Capability::ManageCustomerLicensesAndUsers,
        en::Capability::ResellerRelationshipExtension,
        en::Capability::SelfServiceTransfer,
    ] {
        assert!(has(&transitioned, gained), "{gained:?} missing");
    }

    // "Within 30 days of enrolling as indirect reseller on the existing direct bill tenant,
    // you receive an invitation to the indirect reseller incentive, at the e-mail of your AI
    // Cloud Partner Program account." The two incentive programs are managed separately.
    let incentives = incentive_enrollments(&suite, partner).await;
    let invitation = incentives
        .iter()
        .find(|i| i.program() == en::IncentiveProgram::IndirectReseller)
        .expect("an indirect reseller incentive invitation");
    assert_eq!(invitation.state(), en::IncentiveState::Invited);
    assert_eq!(invitation.invite_email, profile.program_account_email);
    let invited = seconds(&invitation.invite_time);
    assert!(invited >= created && invited - created <= 30 * DAY_SECONDS);
    let mails = emails(&suite.enrollment).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to == profile.program_account_email && m.subject.contains("incentive")),
        "{mails:?}"
    );
    let joined = join_incentive(&suite, partner, en::IncentiveProgram::IndirectReseller)
        .await
        .expect("join the indirect reseller incentive program");
    assert_eq!(joined.state(), en::IncentiveState::Enrolled);
    let incentives = incentive_enrollments(&suite, partner).await;
    assert_eq!(incentives.len(), 2);
    assert!(
        incentives
            .iter()
            .all(|i| i.state() == en::IncentiveState::Enrolled)
    );

    // "Find an indirect provider by searching the official list of Microsoft indirect
    // providers", in your region.
    let provider = official_indirect_provider(&suite.enrollment).await;
    let provider_agent = Actor::admin_agent(provider);
    let found = suite
        .enrollment
        .enrollment(&partner_admin)
        .search_indirect_providers(en::SearchIndirectProvidersRequest {
            country_code: profile.country_code.clone(),
            ..Default::default()
        })
        .await
        .expect("search the directory")
        .into_inner()
        .indirect_providers;
    let tailspin = found
        .iter()
        .find(|p| p.provider_tenant_id == provider.to_string())
        .unwrap_or_else(|| panic!("the provider is not found in the directory: {found:?}"));
    assert!(tailspin.country_codes.contains(&profile.country_code));

    // "Accept an invitation to partner from an indirect provider": the provider e-mails a
    // link; a global admin follows it; the provider is then listed among the indirect
    // providers.
    partnership_between(&suite.relationship, provider, partner).await;
    let providers = suite
        .relationship
        .relationship(&partner_admin)
        .list_indirect_providers(rel::ListIndirectProvidersRequest {
            parent: partner_name(partner),
            ..Default::default()
        })
        .await
        .expect("the indirect providers list")
        .into_inner()
        .partnerships;
    assert_eq!(providers.len(), 1);
    let partnership = &providers[0];
    assert_eq!(partnership.provider_tenant_id, provider.to_string());
    assert_eq!(partnership.state(), rel::PartnershipState::Active);
    assert!(partnership.accept_time.is_some());
    let mails = emails(&suite.relationship).await;
    assert!(
        mails
            .iter()
            .any(|m| m.to == partnership.invite_email && m.body.contains(&partnership.name)),
        "no invitation link to {} in {mails:?}",
        partnership.invite_email
    );
    let resellers = suite
        .relationship
        .relationship(&provider_agent)
        .list_indirect_resellers(rel::ListIndirectResellersRequest {
            parent: partner_name(provider),
            ..Default::default()
        })
        .await
        .expect("the provider's indirect resellers")
        .into_inner()
        .partnerships;
    assert_eq!(resellers.len(), 1);
    assert_eq!(resellers[0].reseller_tenant_id, partner.to_string());

    // "Acquire new customers as an indirect reseller": invite a customer with an existing
    // tenant to reseller relationships with you and the provider at once. "Review the draft
    // e-mail message ... you can edit the text, but be sure to include the link."
    let coho = Uuid::new_v4();
    let invitation = invite_customer(&suite, partner, provider, None).await;
    assert_eq!(invitation.state(), rel::CustomerInvitationState::Pending);
    assert!(!invitation.email_subject.is_empty());
    assert!(invitation.email_body.contains(&invitation.link));
    let edited = format!(
        "Dear Coho Winery team,\n\n{}\n\nKind regards,\nFabrikam",
        invitation.email_body
    );
    send_invitation(
        &suite,
        partner,
        &invitation,
        "it@cohowinery.example",
        &edited,
    )
    .await;
    let mails = emails(&suite.relationship).await;
    let sent = mails
        .iter()
        .find(|m| m.to == "it@cohowinery.example")
        .expect("the invitation e-mail");
    assert_eq!(sent.subject, invitation.email_subject);
    assert!(sent.body.contains(&invitation.link));
    let accepted = customer_accepts(
        &suite,
        coho,
        &invitation,
        Some(company("Coho Winery", "cohowinery.onmicrosoft.com")),
    )
    .await;
    assert_eq!(accepted.state(), rel::CustomerInvitationState::Accepted);
    assert_eq!(accepted.customer, format!("customers/{coho}"));
    assert_eq!(
        partners_of(&suite, coho).await,
        [
            (
                partner_name(partner),
                rel::PartnerRole::IndirectReseller,
                rel::Acquisition::Invitation,
                true
            ),
            (
                partner_name(provider),
                rel::PartnerRole::IndirectProvider,
                rel::Acquisition::Invitation,
                true
            ),
        ]
    );
    // "If the customer has an indirect reseller relationship, these options are not
    // available."
    let view = customer_view(&suite, partner, coho).await;
    assert!(!offers_products(&view), "{:?}", view.available_actions);

    // "Request granular delegated admin privileges (GDAP) to manage the customer's
    // subscriptions, licences and users"; the customer approves.
    let gdap = suite
        .relationship
        .relationship(&partner_agent)
        .create_delegated_admin_relationship(rel::CreateDelegatedAdminRelationshipRequest {
            request_id: request_id(),
            parent: customer_of(partner, coho),
            delegated_admin_relationship: Some(rel::DelegatedAdminRelationship {
                display_name: "Fabrikam support".into(),
                roles: vec![
                    rel::DelegatedAdminRole::UserAdministrator as i32,
                    rel::DelegatedAdminRole::LicenseAdministrator as i32,
                ],
                duration: "P730D".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("ask for GDAP")
        .into_inner();
    assert_eq!(gdap.status(), rel::DelegatedAdminStatus::Created);
    assert!(
        !gdap_access(&suite, partner, coho)
            .await
            .manages_users_and_licenses
    );
    let locked = suite
        .relationship
        .relationship(&partner_agent)
        .lock_delegated_admin_relationship_for_approval(
            rel::LockDelegatedAdminRelationshipForApprovalRequest {
                request_id: request_id(),
                name: gdap.name.clone(),
                etag: gdap.etag.clone(),
            },
        )
        .await
        .expect("lock for approval")
        .into_inner();
    assert_eq!(locked.status(), rel::DelegatedAdminStatus::ApprovalPending);
    let approved = suite
        .relationship
        .relationship(&Actor::global_admin(coho))
        .approve_delegated_admin_relationship(rel::ApproveDelegatedAdminRelationshipRequest {
            request_id: request_id(),
            name: gdap.name.clone(),
            etag: locked.etag.clone(),
        })
        .await
        .expect("the customer approves")
        .into_inner();
    assert_eq!(approved.status(), rel::DelegatedAdminStatus::Active);
    assert_eq!(
        seconds(&approved.end_time) - seconds(&approved.activate_time),
        730 * DAY_SECONDS
    );
    let access = gdap_access(&suite, partner, coho).await;
    assert!(access.manages_users_and_licenses);
    assert_eq!(access.relationship, gdap.name);
    assert_eq!(access.end_time, approved.end_time);

    // "Move direct bill customers to an indirect provider" by the reseller relationship
    // extension: having notified Northwind and obtained its consent, Fabrikam extends its
    // relationship; the provider gets a copy of the billing information and no admin
    // privileges, and shows as the customer's CSP partner.
    let extended = extend_to_provider(&suite, partner, northwind, provider)
        .await
        .expect("extend the reseller relationship");
    assert_eq!(extended.name, customer_of(provider, northwind));
    assert_eq!(
        extended.acquisition(),
        rel::Acquisition::RelationshipExtension
    );
    assert!(!extended.admin_permissions);
    assert_eq!(extended.billing_profile.as_ref(), Some(&northwind_billing));
    assert_eq!(
        partners_of(&suite, northwind).await,
        [
            (
                partner_name(partner),
                rel::PartnerRole::IndirectReseller,
                rel::Acquisition::DirectBill,
                true
            ),
            (
                partner_name(provider),
                rel::PartnerRole::IndirectProvider,
                rel::Acquisition::RelationshipExtension,
                false
            ),
        ]
    );

    // ... and by "sending an indirect reseller invitation to a direct bill customer": once
    // Fourth Coffee accepts, Fabrikam and the provider are its resellers of record with admin
    // permissions.
    let invitation = invite_customer(&suite, partner, provider, Some(fourth_coffee)).await;
    send_invitation(
        &suite,
        partner,
        &invitation,
        "it@fourthcoffee.example",
        &invitation.email_body,
    )
    .await;
    customer_accepts(&suite, fourth_coffee, &invitation, None).await;
    let fourth_coffee_partners = partners_of(&suite, fourth_coffee).await;
    assert_eq!(
        fourth_coffee_partners.len(),
        2,
        "{fourth_coffee_partners:?}"
    );
    assert_eq!(
        (&fourth_coffee_partners[0].0, fourth_coffee_partners[0].1),
        (&partner_name(partner), rel::PartnerRole::IndirectReseller)
    );
    assert_eq!(
        fourth_coffee_partners[1],
        (
            partner_name(provider),
            rel::PartnerRole::IndirectProvider,
            rel::Acquisition::Invitation,
            true
        )
    );
    let view = customer_view(&suite, partner, fourth_coffee).await;
    assert!(!offers_products(&view), "{:?}", view.available_actions);

    // "Microsoft Customer Agreement": every customer must have signed it for the move.
    // Not yet accepted (Northwind): work with the provider to have the customer accept it.
    let northwind_mca = mca_with(&suite, northwind, provider).await;
    assert!(!northwind_mca.valid);
    assert_eq!(
        northwind_mca.required_action(),
        agr::RequiredAction::AcceptMca
    );
    let own = customer_accepts_mca(&suite, northwind).await;
    assert_eq!(own.method(), agr::AcceptanceMethod::Customer);
    assert_eq!(
        mca_with(&suite, northwind, provider)
            .await
            .required_action(),
        agr::RequiredAction::None
    );
    // Accepted through a partner's attestation (Fourth Coffee, attested by Fabrikam): valid
    // with Fabrikam, not retained for the provider, which must update the acceptance.
    let with_fabrikam = mca_with(&suite, fourth_coffee, partner).await;
    assert_eq!(with_fabrikam.required_action(), agr::RequiredAction::None);
    assert_eq!(with_fabrikam.basis, fabrikam_attestation[0].name);
    let with_provider = mca_with(&suite, fourth_coffee, provider).await;
    assert!(!with_provider.valid);
    assert_eq!(
        with_provider.required_action(),
        agr::RequiredAction::ReattestWithProvider
    );
    attest_customer_agreement(suite.agreement(), provider, fourth_coffee).await;
    assert!(mca_with(&suite, fourth_coffee, provider).await.valid);
    // Accepted by the customer itself, in the Microsoft 365 admin center (Coho Winery): no
    // action for anyone; it is retained with every partner.
    let own = customer_accepts_mca(&suite, coho).await;
    for party in [partner, provider] {
        let validity = mca_with(&suite, coho, party).await;
        assert_eq!(validity.required_action(), agr::RequiredAction::None);
        assert_eq!(validity.basis, own.name);
    }

    // "Only Microsoft 365 subscriptions and Azure PAYG subscriptions (MS-AZR-0145P) can be
    // transferred ... the reason a subscription can't be transferred is shown."
    let eligibilities = suite
        .transfer()
        .transfer(&partner_agent)
        .list_transfer_eligibilities(tr::ListTransferEligibilitiesRequest {
            parent: customer_of(partner, fourth_coffee),
            ..Default::default()
        })
        .await
        .expect("the transfer eligibilities")
        .into_inner()
        .eligibilities;
    assert_eq!(eligibilities.len(), bought.all().len());
    for subscription in bought.all() {
        let answer = eligibilities
            .iter()
            .find(|e| e.subscription == subscription.name)
            .expect("an answer per subscription");
        match ineligible_kind(subscription.offer_kind()) {
            None => assert!(answer.eligible, "{answer:?}"),
            Some(why) => {
                assert!(!answer.eligible, "{answer:?}");
                assert_eq!(answer.reason(), why);
                assert!(!answer.advice.is_empty(), "{answer:?}");
            }
        }
    }
    let add_on = eligibilities
        .iter()
        .find(|e| e.subscription == bought.add_on.name)
        .expect("the add-on's answer");
    assert_eq!(add_on.base_subscription, bought.licences.name);

    // Step 1: "The transitioning partner creates a transfer request" for Azure and the
    // Microsoft 365 licences; "the add-ons are automatically included".
    let request = request_transfer(
        &suite,
        partner,
        fourth_coffee,
        provider,
        &[&bought.azure, &bought.licences],
    )
    .await
    .expect("the transfer request is created");
    assert_eq!(request.state(), tr::TransferRequestState::Active);
    let items: Vec<_> = request
        .line_items
        .iter()
        .map(|i| (i.subscription.as_str(), i.included_with_base, i.quantity))
        .collect();
    assert_eq!(
        items,
        [
            (bought.azure.name.as_str(), false, bought.azure.quantity),
            (
                bought.licences.name.as_str(),
                false,
                bought.licences.quantity
            ),
            (bought.add_on.name.as_str(), true, bought.add_on.quantity),
        ]
    );

    // "Notify the indirect provider that you created a subscription transfer request."
    assert_eq!(
        suite
            .transfer()
            .database
            .outbox("transfer.v1.transfer_request.created")
            .await
            .len(),
        1
    );

    // Step 2: "The indirect provider accepts the transfer request", as a sales agent, from
    // its active requests.
    let provider_sales = Actor::user(provider, &[Role::SalesAgent]);
    let waiting = transfer_requests(
        &suite,
        &provider_sales,
        provider,
        tr::TransferRole::Provider,
        tr::TransferRequestState::Active,
    )
    .await;
    assert_eq!(names(&waiting), [request.name.as_str()]);
    let accepted = suite
        .transfer()
        .transfer(&provider_sales)
        .accept_transfer_request(tr::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: request.name.clone(),
            etag: request.etag.clone(),
        })
        .await
        .expect("the provider accepts")
        .into_inner();
    assert_eq!(accepted.state(), tr::TransferRequestState::Accepted);

    // Step 3: "The indirect provider verifies the transfer request is complete": the
    // subscriptions appear under its Subscriptions. Azure gets a new subscription id but
    // keeps its Azure subscription id; the quantities are those of the request.
    let completed = completed_transfer(&suite, &partner_agent, &request.name).await;
    let at_provider = subscriptions(&suite, provider, fourth_coffee).await;
    assert_eq!(at_provider.len(), completed.line_items.len());
    for item in &completed.line_items {
        let moved = at_provider
            .iter()
            .find(|s| s.name == item.transferred_subscription)
            .unwrap_or_else(|| panic!("{item:?} not under the provider"));
        assert_eq!(moved.transferred_from, item.subscription);
        assert_eq!(moved.quantity, item.quantity);
        assert_eq!(moved.status(), tr::SubscriptionStatus::Active);
    }
    let azure = moved_from(&at_provider, &bought.azure);
    assert_ne!(azure.name, bought.azure.name);
    assert_eq!(
        azure.azure_subscription_id,
        bought.azure.azure_subscription_id
    );
    let base = moved_from(&at_provider, &bought.licences);
    assert_eq!(
        moved_from(&at_provider, &bought.add_on).base_subscription,
        base.name
    );

    // Step 4: "The transitioning partner verifies the transfer request is complete": marked
    // Completed; Azure (MS-AZR-0145P) no longer listed; licence-based ones listed as
    // Suspended. What could not move is still the partner's.
    let done = transfer_requests(
        &suite,
        &partner_agent,
        partner,
        tr::TransferRole::Source,
        tr::TransferRequestState::Completed,
    )
    .await;
    assert_eq!(names(&done), [request.name.as_str()]);
    let at_partner = subscriptions(&suite, partner, fourth_coffee).await;
    assert!(at_partner.iter().all(|s| s.name != bought.azure.name));
    for licence in [&bought.licences, &bought.add_on] {
        let left = at_partner
            .iter()
            .find(|s| s.name == licence.name)
            .expect("a licence-based subscription stays listed");
        assert_eq!(left.status(), tr::SubscriptionStatus::Suspended);
        assert_eq!(left.transferred_to, moved_from(&at_provider, licence).name);
    }
    for stays in &bought.not_transferable {
        let kept = at_partner
            .iter()
            .find(|s| s.name == stays.name)
            .expect("an ineligible subscription stays");
        assert_eq!(kept.status(), tr::SubscriptionStatus::Active);
    }

    // The customer sees both partners: Fabrikam as its indirect reseller, the provider as
    // the indirect provider that now bills it.
    let partners = partners_of(&suite, fourth_coffee).await;
    let roles: Vec<_> = partners.iter().map(|p| (p.0.as_str(), p.1)).collect();
    assert_eq!(
        roles,
        [
            (
                partner_name(partner).as_str(),
                rel::PartnerRole::IndirectReseller
            ),
            (
                partner_name(provider).as_str(),
                rel::PartnerRole::IndirectProvider
            ),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// What a partner meets on the way, and what it does next
// ---------------------------------------------------------------------------------------------

/// "The indirect provider can't submit orders or existing subscription transfers for existing
/// direct bill customers until a reseller relationship exists."
#[tokio::test]
async fn a_provider_without_a_reseller_relationship_neither_orders_nor_receives_a_transfer() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;

    let order = suite
        .transfer()
        .transfer(&Actor::admin_agent(story.provider))
        .create_subscription(tr::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: customer_of(story.provider, story.customer),
            subscription: Some(azure_pay_as_you_go()),
        })
        .await
        .expect_err("the provider has no relationship with the customer");
    assert_eq!(order.code(), Code::NotFound);
    assert_eq!(reason(&order), "RESOURCE_NOT_FOUND");

    let refused = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect_err("no reseller relationship with the provider");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "RESELLER_RELATIONSHIP_REQUIRED");
    assert!(
        refused.message().contains("relationship extension"),
        "{}",
        refused.message()
    );
    let customer = format!("customers/{}", story.customer);
    assert_eq!(
        preconditions(&refused),
        [
            (
                "RESELLER_RELATIONSHIP_REQUIRED".to_owned(),
                customer.clone()
            ),
            ("INDIRECT_RESELLER_REQUIRED".to_owned(), customer.clone()),
            ("CUSTOMER_AGREEMENT_REQUIRED".to_owned(), customer.clone()),
        ]
    );

    // As advised: move the customer to the provider (here by the relationship extension).
    extend_to_provider(&suite, story.partner, story.customer, story.provider)
        .await
        .expect("extend the reseller relationship");
    let ordered = order_subscription(
        suite.transfer(),
        story.provider,
        story.customer,
        azure_pay_as_you_go(),
    )
    .await;
    assert_eq!(ordered.status(), tr::SubscriptionStatus::Active);
    assert_eq!(
        subscriptions(&suite, story.provider, story.customer)
            .await
            .len(),
        1
    );
    // The relationship is there; what is left is the customer's MCA, which it accepts.
    let refused = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect_err("the customer has not accepted the MCA");
    assert_eq!(reason(&refused), "CUSTOMER_AGREEMENT_REQUIRED");
    assert_eq!(
        preconditions(&refused),
        [("CUSTOMER_AGREEMENT_REQUIRED".to_owned(), customer)]
    );
    assert!(
        refused
            .message()
            .contains(agr::RequiredAction::AcceptMca.as_str_name()),
        "{}",
        refused.message()
    );
    customer_accepts_mca(&suite, story.customer).await;
    let created = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect("the transfer request is created");
    assert_eq!(created.state(), tr::TransferRequestState::Active);
}

/// "The same subscription can't be referenced by more than one transfer request ... until
/// the first request is canceled."
#[tokio::test]
async fn a_second_request_for_a_subscription_already_in_one_waits_for_the_first_to_be_cancelled() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;
    story.moves_by_invitation_with_the_mca(&suite).await;
    let first = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect("the first request");

    let refused = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect_err("the subscription is in an open request");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "SUBSCRIPTION_NOT_TRANSFERABLE");
    assert_eq!(
        preconditions(&refused),
        [(
            tr::IneligibilityReason::InOpenTransferRequest
                .as_str_name()
                .to_owned(),
            story.azure.name.clone()
        )]
    );
    assert!(
        advice_in(&refused).iter().any(|a| a.contains("cancel")),
        "{:?}",
        advice_in(&refused)
    );

    // As advised: cancel the first request; the subscription is free for a new one.
    let cancelled = suite
        .transfer()
        .transfer(&Actor::admin_agent(story.partner))
        .cancel_transfer_request(tr::CancelTransferRequestRequest {
            request_id: request_id(),
            name: first.name.clone(),
        })
        .await
        .expect("cancel the first request")
        .into_inner();
    assert_eq!(cancelled.state(), tr::TransferRequestState::Cancelled);
    let second = story
        .request_transfer(&suite, &[&story.azure])
        .await
        .expect("the new request");
    assert_eq!(second.state(), tr::TransferRequestState::Active);
    assert_ne!(second.name, first.name);
}

/// "Subscription transfers aren't available for New Commerce license-based subscriptions ...
/// make sure the subscription doesn't auto-renew at the end of its term, then acquire it
/// from the new partner."
#[tokio::test]
async fn a_new_commerce_subscription_stays_out_of_the_request_and_is_bought_from_the_provider() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;
    story.moves_by_invitation_with_the_mca(&suite).await;

    let refused = story
        .request_transfer(&suite, &[&story.licences, &story.new_commerce])
        .await
        .expect_err("New Commerce does not move by self-service");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "SUBSCRIPTION_NOT_TRANSFERABLE");
    assert_eq!(
        preconditions(&refused),
        [(
            tr::IneligibilityReason::NewCommerceLicense
                .as_str_name()
                .to_owned(),
            story.new_commerce.name.clone()
        )]
    );
    assert!(
        advice_in(&refused)
            .iter()
            .any(|a| a.contains("auto-renew off")),
        "{:?}",
        advice_in(&refused)
    );
    assert!(
        transfer_requests(
            &suite,
            &Actor::admin_agent(story.partner),
            story.partner,
            tr::TransferRole::Source,
            tr::TransferRequestState::Unspecified,
        )
        .await
        .is_empty()
    );

    // As advised: auto-renew off at Fabrikam, the same offer bought from the provider, and
    // the rest requested without it.
    let renewal_off = suite
        .transfer()
        .transfer(&Actor::admin_agent(story.partner))
        .update_subscription(tr::UpdateSubscriptionRequest {
            request_id: request_id(),
            subscription: Some(tr::Subscription {
                name: story.new_commerce.name.clone(),
                auto_renew: false,
                etag: story.new_commerce.etag.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["auto_renew".into()],
            }),
        })
        .await
        .expect("turn auto-renew off")
        .into_inner();
    assert!(!renewal_off.auto_renew);
    assert_eq!(renewal_off.status(), tr::SubscriptionStatus::Active);
    let from_provider = order_subscription(
        suite.transfer(),
        story.provider,
        story.customer,
        licence_based(
            tr::OfferKind::NewCommerceLicense,
            &story.new_commerce.offer_id,
            story.new_commerce.quantity,
            "",
        ),
    )
    .await;
    assert_eq!(from_provider.status(), tr::SubscriptionStatus::Active);
    let created = story
        .request_transfer(&suite, &[&story.licences])
        .await
        .expect("the request without the New Commerce subscription");
    assert_eq!(created.state(), tr::TransferRequestState::Active);
}

/// "Unlike direct bill partners, indirect resellers can't create a new customer's Microsoft
/// Entra tenant in Partner Center. The provider creates the tenant and designates you as the
/// customer's indirect reseller", so the customer appears in your customer list.
#[tokio::test]
async fn an_indirect_reseller_creates_no_customer_tenant_its_provider_does() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;
    let newcomer = Uuid::new_v4();

    let refused = suite
        .relationship
        .relationship(&Actor::admin_agent(story.partner))
        .create_customer(rel::CreateCustomerRequest {
            request_id: request_id(),
            parent: partner_name(story.partner),
            customer: Some(rel::Customer {
                customer_tenant_id: newcomer.to_string(),
                ..company("Alpine Ski House", "alpineskihouse.onmicrosoft.com")
            }),
            indirect_reseller: String::new(),
        })
        .await
        .expect_err("an indirect reseller creates no customer tenant");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PROVIDER_CREATES_CUSTOMER");
    assert!(
        refused.message().contains("provider creates it"),
        "{}",
        refused.message()
    );

    // As advised: the provider creates the tenant and designates Fabrikam.
    provider_creates_customer(&suite.relationship, story.provider, story.partner, newcomer).await;
    let view = customer_view(&suite, story.partner, newcomer).await;
    assert_eq!(view.partner_role(), rel::PartnerRole::IndirectReseller);
    assert_eq!(view.acquisition(), rel::Acquisition::CreatedByProvider);
    let listed = suite
        .relationship
        .relationship(&Actor::admin_agent(story.partner))
        .list_customers(rel::ListCustomersRequest {
            parent: partner_name(story.partner),
            ..Default::default()
        })
        .await
        .expect("the partner's customers")
        .into_inner()
        .customers;
    assert!(
        listed.iter().any(|c| c.name == view.name),
        "{:?}",
        listed.iter().map(|c| &c.name).collect::<Vec<_>>()
    );
}

/// "You can't use direct bill capabilities to create purchases for customers that you
/// acquired as an indirect reseller": the indirect provider submits the orders.
#[tokio::test]
async fn direct_bill_buys_nothing_for_a_customer_acquired_as_indirect_reseller() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;
    let newcomer = Uuid::new_v4();
    customer_joins_reseller_and_provider(
        &suite.relationship,
        story.partner,
        story.provider,
        newcomer,
    )
    .await;

    let refused = suite
        .transfer()
        .transfer(&Actor::admin_agent(story.partner))
        .create_subscription(tr::CreateSubscriptionRequest {
            request_id: request_id(),
            parent: customer_of(story.partner, newcomer),
            subscription: Some(licence_based(
                tr::OfferKind::LegacyLicense,
                "O365-E3",
                10,
                "",
            )),
        })
        .await
        .expect_err("no direct-bill purchase for an indirect customer");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PROVIDER_ORDERS_REQUIRED");
    assert!(
        refused.message().contains("provider orders"),
        "{}",
        refused.message()
    );
    assert!(
        subscriptions(&suite, story.partner, newcomer)
            .await
            .is_empty()
    );

    // As advised: the provider orders on the customer's behalf.
    let ordered = order_subscription(
        suite.transfer(),
        story.provider,
        newcomer,
        licence_based(tr::OfferKind::LegacyLicense, "O365-E3", 10, ""),
    )
    .await;
    let at_provider = subscriptions(&suite, story.provider, newcomer).await;
    assert_eq!(names_of(&at_provider), [ordered.name.as_str()]);
}

/// "Accepted the MCA through partner attestation: acceptance isn't retained. Work with the
/// indirect provider to update the customer's acceptance."
#[tokio::test]
async fn a_transfer_waits_until_the_provider_reattests_the_customer_agreement() {
    let suite = Suite::start().await;
    let story = transitioning_partner(&suite).await;
    // Fabrikam attested the customer's MCA while it billed the customer directly.
    attest_customer_agreement(suite.agreement(), story.partner, story.customer).await;
    customer_joins_reseller_and_provider(
        &suite.relationship,
        story.partner,
        story.provider,
        story.customer,
    )
    .await;

    let refused = story
        .request_transfer(&suite, &[&story.azure, &story.licences])
        .await
        .expect_err("the attestation is not retained for the provider");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CUSTOMER_AGREEMENT_REQUIRED");
    assert_eq!(
        preconditions(&refused),
        [(
            "CUSTOMER_AGREEMENT_REQUIRED".to_owned(),
            format!("customers/{}", story.customer)
        )]
    );
    let action = agr::RequiredAction::ReattestWithProvider.as_str_name();
    assert!(refused.message().contains(action), "{}", refused.message());
    assert_eq!(
        mca_with(&suite, story.customer, story.provider)
            .await
            .required_action(),
        agr::RequiredAction::ReattestWithProvider
    );

    // As advised: the provider updates the customer's acceptance; the transfer goes through.
    attest_customer_agreement(suite.agreement(), story.provider, story.customer).await;
    let created = story
        .request_transfer(&suite, &[&story.azure, &story.licences])
        .await
        .expect("the transfer request is created");
    let accepted = suite
        .transfer()
        .transfer(&Actor::admin_agent(story.provider))
        .accept_transfer_request(tr::AcceptTransferRequestRequest {
            request_id: request_id(),
            name: created.name.clone(),
            etag: String::new(),
        })
        .await
        .expect("the provider accepts")
        .into_inner();
    assert_eq!(accepted.state(), tr::TransferRequestState::Accepted);
    let completed =
        completed_transfer(&suite, &Actor::admin_agent(story.partner), &created.name).await;
    assert_eq!(completed.line_items.len(), 3, "the add-on travels too");
}

// ---------------------------------------------------------------------------------------------
// The steps, one helper each
// ---------------------------------------------------------------------------------------------

fn partner_name(tenant: Uuid) -> String {
    format!("partners/{tenant}")
}

fn customer_of(partner: Uuid, customer: Uuid) -> String {
    format!("partners/{partner}/customers/{customer}")
}

fn seconds(timestamp: &Option<prost_types::Timestamp>) -> i64 {
    timestamp.as_ref().expect("a timestamp").seconds
}

/// A transitioning partner (Fabrikam) in an ACTIVE partnership with an official indirect
/// provider, and one of its direct-bill customers with the subscriptions it bought while
/// direct bill; the customer is not moved yet.
struct Transitioning {
    partner: Uuid,
    provider: Uuid,
    customer: Uuid,
    azure: tr::Subscription,
    licences: tr::Subscription,
    new_commerce: tr::Subscription,
}

async fn transitioning_partner(suite: &Suite) -> Transitioning {
    let partner = direct_bill_partner(&suite.enrollment).await;
    let customer = Uuid::new_v4();
    record_customer(&suite.relationship, partner, customer).await;
    let azure =
        order_subscription(suite.transfer(), partner, customer, azure_pay_as_you_go()).await;
    let licences = order_subscription(
        suite.transfer(),
        partner,
        customer,
        licence_based(tr::OfferKind::LegacyLicense, "O365-E3", 25, ""),
    )
    .await;
    order_subscription(
        suite.transfer(),
        partner,
        customer,
        licence_based(
            tr::OfferKind::LegacyLicense,
            "O365-AUDIO-CONF",
            25,
            &licences.name,
        ),
    )
    .await;
    let new_commerce = order_subscription(
        suite.transfer(),
        partner,
        customer,
        licence_based(tr::OfferKind::NewCommerceLicense, "CFQ7TTC0LF8R", 10, ""),
    )
    .await;
    restrict_direct_bill(&suite.enrollment, partner).await;
    enroll_indirect_reseller(&suite.enrollment, partner).await;
    let provider = official_indirect_provider(&suite.enrollment).await;
    partnership_between(&suite.relationship, provider, partner).await;
    Transitioning {
        partner,
        provider,
        customer,
        azure,
        licences,
        new_commerce,
    }
}

impl Transitioning {
    /// Step 1 as the partner's ADMIN_AGENT: its customer's `subscriptions` to the provider.
    async fn request_transfer(
        &self,
        suite: &Suite,
        subscriptions: &[&tr::Subscription],
    ) -> Result<tr::TransferRequest, tonic::Status> {
        request_transfer(
            suite,
            self.partner,
            self.customer,
            self.provider,
            subscriptions,
        )
        .await
    }

    /// The customer accepts the invitation to Fabrikam and the provider; the provider attests
    /// its MCA.
    async fn moves_by_invitation_with_the_mca(&self, suite: &Suite) {
        customer_joins_reseller_and_provider(
            &suite.relationship,
            self.partner,
            self.provider,
            self.customer,
        )
        .await;
        attest_customer_agreement(suite.agreement(), self.provider, self.customer).await;
    }
}

/// What Fabrikam bought for Fourth Coffee while direct bill.
struct MixedSet {
    azure: tr::Subscription,
    licences: tr::Subscription,
    add_on: tr::Subscription,
    /// One of each kind self-service transfer does not move.
    not_transferable: Vec<tr::Subscription>,
}

impl MixedSet {
    fn all(&self) -> Vec<&tr::Subscription> {
        [&self.azure, &self.licences, &self.add_on]
            .into_iter()
            .chain(&self.not_transferable)
            .collect()
    }
}

async fn buy_a_mixed_set(suite: &Suite, partner: Uuid, customer: Uuid) -> MixedSet {
    let buy = |subscription: tr::Subscription| {
        order_subscription(suite.transfer(), partner, customer, subscription)
    };
    let azure = buy(azure_pay_as_you_go()).await;
    let licences = buy(licence_based(
        tr::OfferKind::LegacyLicense,
        "O365-E3",
        25,
        "",
    ))
    .await;
    let add_on = buy(licence_based(
        tr::OfferKind::LegacyLicense,
        "O365-AUDIO-CONF",
        25,
        &licences.name,
    ))
    .await;
    let mut not_transferable = vec![
        buy(licence_based(
            tr::OfferKind::NewCommerceLicense,
            "CFQ7TTC0LF8R",
            10,
            "",
        ))
        .await,
    ];
    let mut azure_plan = azure_pay_as_you_go();
    azure_plan.offer_id = "DZH318Z0BPS6".into();
    azure_plan.offer_kind = tr::OfferKind::AzurePlan as i32;
    not_transferable.push(buy(azure_plan).await);
    for (kind, offer) in [
        (tr::OfferKind::AzureReservedInstance, "DZH318Z0BQ3Q"),
        (tr::OfferKind::Marketplace, "DZH318Z0BNZJ"),
        (tr::OfferKind::Saas, "DZH318Z08M4G"),
        (tr::OfferKind::TermBased, "DG7GMGF0FKZV"),
    ] {
        let mut subscription = licence_based(kind, offer, 1, "");
        subscription.auto_renew = false;
        not_transferable.push(buy(subscription).await);
    }
    MixedSet {
        azure,
        licences,
        add_on,
        not_transferable,
    }
}

/// Why the article says a subscription of `kind` does not move by self-service, if it does
/// not.
fn ineligible_kind(kind: tr::OfferKind) -> Option<tr::IneligibilityReason> {
    use tr::IneligibilityReason as Why;
    match kind {
        tr::OfferKind::LegacyLicense | tr::OfferKind::AzurePayAsYouGo => None,
        tr::OfferKind::NewCommerceLicense => Some(Why::NewCommerceLicense),
        tr::OfferKind::AzurePlan => Some(Why::AzurePlan),
        tr::OfferKind::AzureReservedInstance => Some(Why::AzureReservedInstance),
        tr::OfferKind::Marketplace => Some(Why::Marketplace),
        tr::OfferKind::Saas => Some(Why::Saas),
        tr::OfferKind::TermBased => Some(Why::TermBased),
        tr::OfferKind::Unspecified => panic!("no subscription is of an unspecified kind"),
    }
}

fn billing_profile(company: &str) -> rel::BillingProfile {
    rel::BillingProfile {
        company_name: company.into(),
        address_line1: "1 Main St".into(),
        city: "Seattle".into(),
        region: "WA".into(),
        postal_code: "98101".into(),
        country_code: "US".into(),
        contact_first_name: "Ana".into(),
        contact_last_name: "Silva".into(),
        contact_email: "billing@northwind.example".into(),
        contact_phone: "+1 206 555 0100".into(),
        ..Default::default()
    }
}

fn company(display_name: &str, domain: &str) -> rel::Customer {
    rel::Customer {
        display_name: display_name.into(),
        domain: domain.into(),
        country_code: "US".into(),
        ..Default::default()
    }
}

/// The direct-bill partner adds a customer record with its billing profile.
async fn record_customer_with_billing(
    suite: &Suite,
    partner: Uuid,
    customer: Uuid,
    billing: &rel::BillingProfile,
) {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .create_customer(rel::CreateCustomerRequest {
            request_id: request_id(),
            parent: partner_name(partner),
            customer: Some(rel::Customer {
                customer_tenant_id: customer.to_string(),
                billing_profile: Some(billing.clone()),
                ..company("Northwind Traders", "northwind.onmicrosoft.com")
            }),
            indirect_reseller: String::new(),
        })
        .await
        .expect("record the customer");
}

async fn customer_view(suite: &Suite, partner: Uuid, customer: Uuid) -> rel::Customer {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .get_customer(rel::GetCustomerRequest {
            name: customer_of(partner, customer),
        })
        .await
        .expect("the partner's view of the customer")
        .into_inner()
}

/// "Add or view products": offered only for a direct-bill customer.
fn offers_products(view: &rel::Customer) -> bool {
    [
        rel::CustomerAction::AddProducts,
        rel::CustomerAction::ViewProducts,
    ]
    .iter()
    .all(|action| view.available_actions.contains(&(*action as i32)))
}

async fn program_information(suite: &Suite, partner: Uuid) -> en::ProgramInformation {
    suite
        .enrollment
        .enrollment(&Actor::global_admin(partner))
        .get_program_information(en::GetProgramInformationRequest {
            partner: partner_name(partner),
        })
        .await
        .expect("program information")
        .into_inner()
}

fn enrollment_in(information: &en::ProgramInformation, program: en::Program) -> &en::Enrollment {
    information
        .enrollments
        .iter()
        .find(|e| e.program() == program)
        .unwrap_or_else(|| panic!("no {program:?} enrollment in {information:?}"))
}

async fn enrollment_state(suite: &Suite, partner: Uuid, name: &str) -> en::EnrollmentState {
    suite
        .enrollment
        .enrollment(&Actor::global_admin(partner))
        .get_enrollment(en::GetEnrollmentRequest { name: name.into() })
        .await
        .expect("the enrollment")
        .into_inner()
        .state()
}

async fn capabilities(suite: &Suite, partner: Uuid) -> en::Capabilities {
    suite
        .enrollment
        .enrollment(&Actor::global_admin(partner))
        .get_capabilities(en::GetCapabilitiesRequest {
            partner: partner_name(partner),
        })
        .await
        .expect("capabilities")
        .into_inner()
}

fn has(capabilities: &en::Capabilities, capability: en::Capability) -> bool {
    capabilities.capabilities.contains(&(capability as i32))
}

async fn join_incentive(
    suite: &Suite,
    partner: Uuid,
    program: en::IncentiveProgram,
) -> Result<en::IncentiveEnrollment, tonic::Status> {
    suite
        .enrollment
        .enrollment(&Actor::global_admin(partner))
        .create_incentive_enrollment(en::CreateIncentiveEnrollmentRequest {
            request_id: request_id(),
            parent: partner_name(partner),
            program: program as i32,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn incentive_enrollments(suite: &Suite, partner: Uuid) -> Vec<en::IncentiveEnrollment> {
    suite
        .enrollment
        .enrollment(&Actor::global_admin(partner))
        .list_incentive_enrollments(en::ListIncentiveEnrollmentsRequest {
            parent: partner_name(partner),
            ..Default::default()
        })
        .await
        .expect("incentive programs")
        .into_inner()
        .incentive_enrollments
}

/// The operator publishes the Microsoft Partner Agreement of the indirect reseller program.
async fn publish_indirect_reseller_mpa(agreement: &TestService) {
    agreement
        .agreement(&Actor::operator())
        .create_agreement_version(agr::CreateAgreementVersionRequest {
            request_id: request_id(),
            agreement_version: Some(agr::AgreementVersion {
                template_id: "mpa-indirect-reseller-2026".into(),
                agreement_type: agr::AgreementType::PartnerIndirectReseller as i32,
                display_name: "Microsoft Partner Agreement (indirect reseller)".into(),
                effective_time: Some(prost_types::Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 0,
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("publish the indirect reseller MPA");
}

/// One e-mail waiting in a service's outbox.
#[derive(Debug)]
struct Mail {
    to: String,
    subject: String,
    body: String,
}

async fn emails(service: &TestService) -> Vec<Mail> {
    service
        .database
        .outbox("email")
        .await
        .iter()
        .map(|payload| {
            let email: serde_json::Value = serde_json::from_slice(payload).expect("an e-mail");
            let field = |name: &str| email[name].as_str().expect("a text field").to_owned();
            Mail {
                to: field("to"),
                subject: field("subject"),
                body: field("body"),
            }
        })
        .collect()
}

/// "Invite a new customer" (or, with its tenant, an existing one) to Fabrikam and the
/// provider at once: the link and a draft e-mail.
async fn invite_customer(
    suite: &Suite,
    partner: Uuid,
    provider: Uuid,
    customer: Option<Uuid>,
) -> rel::CustomerInvitation {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .create_customer_invitation(rel::CreateCustomerInvitationRequest {
            request_id: request_id(),
            parent: partner_name(partner),
            provider: partner_name(provider),
            customer_tenant_id: customer.map(|c| c.to_string()).unwrap_or_default(),
            subscriptions: Vec::new(),
        })
        .await
        .expect("invite the customer")
        .into_inner()
}

async fn send_invitation(
    suite: &Suite,
    partner: Uuid,
    invitation: &rel::CustomerInvitation,
    to: &str,
    body: &str,
) {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .send_customer_invitation(rel::SendCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name.clone(),
            to: to.into(),
            subject: invitation.email_subject.clone(),
            body: body.into(),
            link: invitation.link.clone(),
        })
        .await
        .expect("send the invitation");
}

/// The customer's admin follows the link and accepts.
async fn customer_accepts(
    suite: &Suite,
    customer: Uuid,
    invitation: &rel::CustomerInvitation,
    details: Option<rel::Customer>,
) -> rel::CustomerInvitation {
    let token = invitation
        .link
        .rsplit_once("&token=")
        .map(|(_, token)| token.to_owned())
        .expect("a token in the link");
    suite
        .relationship
        .relationship(&Actor::global_admin(customer))
        .accept_customer_invitation(rel::AcceptCustomerInvitationRequest {
            request_id: request_id(),
            name: invitation.name.clone(),
            invitation_token: token,
            customer: details,
        })
        .await
        .expect("the customer accepts")
        .into_inner()
}

/// The customer's partners as its own admin sees them: (partner, role, how, admin).
async fn partners_of(
    suite: &Suite,
    customer: Uuid,
) -> Vec<(String, rel::PartnerRole, rel::Acquisition, bool)> {
    suite
        .relationship
        .relationship(&Actor::global_admin(customer))
        .list_customer_partners(rel::ListCustomerPartnersRequest {
            parent: format!("customers/{customer}"),
            ..Default::default()
        })
        .await
        .expect("the customer's partners")
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

async fn gdap_access(suite: &Suite, partner: Uuid, customer: Uuid) -> rel::DelegatedAdminAccess {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .check_delegated_admin_access(rel::CheckDelegatedAdminAccessRequest {
            customer: format!("customers/{customer}"),
            partner: partner_name(partner),
        })
        .await
        .expect("the GDAP access check")
        .into_inner()
}

/// "Use the reseller relationship extension", with the customer's recorded consent.
async fn extend_to_provider(
    suite: &Suite,
    partner: Uuid,
    customer: Uuid,
    provider: Uuid,
) -> Result<rel::Customer, tonic::Status> {
    suite
        .relationship
        .relationship(&Actor::admin_agent(partner))
        .extend_reseller_relationship(rel::ExtendResellerRelationshipRequest {
            request_id: request_id(),
            customer: customer_of(partner, customer),
            provider: partner_name(provider),
            consent: Some(rel::CustomerConsent {
                consented_by: "Ana Silva, IT director".into(),
                consent_time: Some(prost_types::Timestamp {
                    seconds: 1_767_225_600,
                    nanos: 0,
                }),
                notice_text: "We share your billing details with our indirect provider.".into(),
            }),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// Whether the customer's MCA is valid with `partner`, as that partner asks.
async fn mca_with(suite: &Suite, customer: Uuid, partner: Uuid) -> agr::CustomerAgreementValidity {
    suite
        .agreement()
        .agreement(&Actor::admin_agent(partner))
        .check_customer_agreement(agr::CheckCustomerAgreementRequest {
            customer: format!("customers/{customer}"),
            partner: partner_name(partner),
        })
        .await
        .expect("the MCA check")
        .into_inner()
}

/// The customer's admin accepts the MCA itself (the Microsoft 365 admin center).
async fn customer_accepts_mca(suite: &Suite, customer: Uuid) -> agr::CustomerAgreementAcceptance {
    suite
        .agreement()
        .agreement(&Actor::global_admin(customer))
        .create_customer_agreement_acceptance(agr::CreateCustomerAgreementAcceptanceRequest {
            request_id: request_id(),
            parent: format!("customers/{customer}"),
            acceptance: Some(agr::CustomerAgreementAcceptance {
                signer: Some(agr::Signer {
                    first_name: "Ana".into(),
                    last_name: "Silva".into(),
                    email: "ana@customer.example".into(),
                    phone_number: String::new(),
                }),
                ..Default::default()
            }),
        })
        .await
        .expect("the customer accepts the MCA")
        .into_inner()
}

/// The attestations `partner` made for the customer.
async fn own_attestations(
    suite: &Suite,
    partner: Uuid,
    customer: Uuid,
) -> Vec<agr::CustomerAgreementAcceptance> {
    suite
        .agreement()
        .agreement(&Actor::admin_agent(partner))
        .list_customer_agreement_acceptances(agr::ListCustomerAgreementAcceptancesRequest {
            parent: format!("customers/{customer}"),
            ..Default::default()
        })
        .await
        .expect("the partner's attestations")
        .into_inner()
        .acceptances
}

async fn subscriptions(suite: &Suite, partner: Uuid, customer: Uuid) -> Vec<tr::Subscription> {
    suite
        .transfer()
        .transfer(&Actor::admin_agent(partner))
        .list_subscriptions(tr::ListSubscriptionsRequest {
            parent: customer_of(partner, customer),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("the customer's subscriptions")
        .into_inner()
        .subscriptions
}

/// The provider's subscription that replaced `original`.
fn moved_from<'a>(
    at_provider: &'a [tr::Subscription],
    original: &tr::Subscription,
) -> &'a tr::Subscription {
    at_provider
        .iter()
        .find(|s| s.transferred_from == original.name)
        .unwrap_or_else(|| panic!("{} did not move to the provider", original.name))
}

/// Step 1, as the partner's ADMIN_AGENT.
async fn request_transfer(
    suite: &Suite,
    partner: Uuid,
    customer: Uuid,
    provider: Uuid,
    subscriptions: &[&tr::Subscription],
) -> Result<tr::TransferRequest, tonic::Status> {
    suite
        .transfer()
        .transfer(&Actor::admin_agent(partner))
        .create_transfer_request(tr::CreateTransferRequestRequest {
            request_id: request_id(),
            parent: customer_of(partner, customer),
            provider: partner_name(provider),
            subscriptions: subscriptions.iter().map(|s| s.name.clone()).collect(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn transfer_requests(
    suite: &Suite,
    actor: &Actor,
    partner: Uuid,
    role: tr::TransferRole,
    state: tr::TransferRequestState,
) -> Vec<tr::TransferRequest> {
    suite
        .transfer()
        .transfer(actor)
        .list_transfer_requests(tr::ListTransferRequestsRequest {
            parent: partner_name(partner),
            role: role as i32,
            state: state as i32,
            ..Default::default()
        })
        .await
        .expect("the transfer requests")
        .into_inner()
        .transfer_requests
}

fn names_of(subscriptions: &[tr::Subscription]) -> Vec<&str> {
    subscriptions.iter().map(|s| s.name.as_str()).collect()
}

fn names(requests: &[tr::TransferRequest]) -> Vec<&str> {
    requests.iter().map(|r| r.name.as_str()).collect()
}

/// Waits until the request named `name` is COMPLETED, and reads it.
async fn completed_transfer(suite: &Suite, actor: &Actor, name: &str) -> tr::TransferRequest {
    let read = || async {
        suite
            .transfer()
            .transfer(actor)
            .get_transfer_request(tr::GetTransferRequestRequest { name: name.into() })
            .await
            .expect("the transfer request")
            .into_inner()
    };
    eventually(&format!("{name} COMPLETED"), WAIT, || async {
        read().await.state() == tr::TransferRequestState::Completed
    })
    .await;
    let completed = read().await;
    assert_eq!(
        completed.execution.as_ref().map(|e| e.step()),
        Some(tr::TransferStep::Done)
    );
    completed
}

/// What each refused subscription's violation advises.
fn advice_in(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .precondition_failure()
        .map(|failure| {
            failure
                .violations
                .iter()
                .map(|v| v.description.clone())
                .collect()
        })
        .unwrap_or_default()
}
