//! Program enrollment over real gRPC: the lifecycle, the transition from direct bill to
//! indirect reseller, capabilities, and the direct-bill override of indirect reseller access.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::time::Duration;

use common::{DAY, FRIDAY, GRACE_DAYS, sales_agent, start, state};
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::{Capability as C, EnrollmentState as S};
use suite_testkit::{Actor, bad_fields, list_as_indirect_provider, reason, request_id};
use tonic::Code;
use uuid::Uuid;

const DAY_MICROS: i64 = 86_400_000_000;

fn due_offset_days(enrollment: &pb::Enrollment, submitted: i64) -> i64 {
    let due = enrollment.approval_due_time.as_ref().unwrap();
    (due.seconds * 1_000_000 - submitted) / DAY_MICROS
}

#[tokio::test]
async fn approval_is_due_five_business_days_later_skipping_the_weekend() {
    let suite = start().await;
    // Friday: Mon, Tue, Wed, Thu, Fri → due a week later.
    let friday = suite.verified_partner().await;
    let enrollment = suite
        .enroll(&friday, pb::Program::IndirectProvider)
        .await
        .unwrap();
    assert_eq!(state(&enrollment), S::PendingApproval);
    assert_eq!(due_offset_days(&enrollment, FRIDAY), 7);

    // Saturday: the weekend adds nothing → due the next Friday, six days later.
    let saturday = suite.verified_partner().await;
    suite.clock.set(FRIDAY + DAY_MICROS);
    let enrollment = suite
        .enroll(&saturday, pb::Program::IndirectProvider)
        .await
        .unwrap();
    assert_eq!(due_offset_days(&enrollment, FRIDAY + DAY_MICROS), 6);

    // Tuesday: Wed, Thu, Fri, Mon, Tue → across one weekend, seven days.
    let tuesday = suite.verified_partner().await;
    suite.clock.set(FRIDAY + 4 * DAY_MICROS);
    let enrollment = suite
        .enroll(&tuesday, pb::Program::IndirectProvider)
        .await
        .unwrap();
    assert_eq!(due_offset_days(&enrollment, FRIDAY + 4 * DAY_MICROS), 7);
}

#[tokio::test]
async fn operator_approves_the_primary_contact_is_mailed_and_only_the_agreement_service_activates()
{
    let suite = start().await;
    let partner = suite.verified_partner().await;
    suite.record_year_of_revenue(&partner, 25_000).await;
    let submitted = suite
        .enroll(&partner, pb::Program::DirectBill)
        .await
        .unwrap();
    assert_eq!(submitted.name, partner.enrollment("direct-bill"));

    let by_partner = suite
        .client(&partner.admin)
        .approve_enrollment(pb::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: submitted.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(by_partner.code(), Code::PermissionDenied);
    assert_eq!(reason(&by_partner), "OPERATOR_REQUIRED");
    assert!(suite.emails().await.is_empty());

    let too_early = suite.activate(&submitted.name).await.unwrap_err();
    assert_eq!(too_early.code(), Code::FailedPrecondition);
    assert_eq!(reason(&too_early), "ENROLLMENT_STATE_CONFLICT");

    let approved = suite.approve(&submitted.name).await.unwrap();
    assert_eq!(state(&approved), S::Approved);
    assert_eq!(
        suite.emails().await,
        [(
            "ops@contoso.example".to_owned(),
            "Your direct-bill enrollment is approved".to_owned()
        )]
    );

    let by_user = suite
        .client(&partner.admin)
        .activate_enrollment(pb::ActivateEnrollmentRequest {
            request_id: request_id(),
            name: submitted.name.clone(),
            agreement_version: "agreementVersions/mpa-2026".into(),
            accept_time: None,
        })
        .await
        .unwrap_err();
    assert_eq!(by_user.code(), Code::PermissionDenied);
    assert_eq!(reason(&by_user), "SERVICE_REQUIRED");

    let active = suite.activate(&submitted.name).await.unwrap();
    assert_eq!(state(&active), S::Active);
    assert_eq!(active.agreement_version, "agreementVersions/mpa-2026");
    assert_eq!(
        suite.service.database.audit_actions(&submitted.name).await,
        [
            "CreateEnrollment",
            "ApproveEnrollment",
            "ActivateEnrollment"
        ]
    );

    let again = suite
        .enroll(&partner, pb::Program::DirectBill)
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
}

#[tokio::test]
async fn auto_approval_policy_approves_on_submission_and_rejection_allows_a_new_attempt() {
    let suite = start().await;
    let policy = pb::ApprovalPolicy {
        auto_approved_programs: vec![pb::Program::IndirectProvider as i32],
        etag: String::new(),
    };
    suite
        .operator()
        .update_approval_policy(pb::UpdateApprovalPolicyRequest {
            request_id: request_id(),
            policy: Some(policy),
        })
        .await
        .unwrap();
    let missing = suite
        .operator()
        .update_approval_policy(pb::UpdateApprovalPolicyRequest {
            request_id: request_id(),
            policy: None,
        })
        .await
        .unwrap_err();
    assert_eq!(suite_testkit::bad_fields(&missing), ["policy"]);
    let provider = suite.verified_partner().await;
    let enrollment = suite
        .enroll(&provider, pb::Program::IndirectProvider)
        .await
        .unwrap();
    assert_eq!(state(&enrollment), S::Approved);
    assert_eq!(suite.emails().await.len(), 1);

    let reseller = suite.verified_partner().await;
    let pending = suite
        .enroll(&reseller, pb::Program::IndirectReseller)
        .await
        .unwrap();
    assert_eq!(state(&pending), S::PendingApproval);
    let no_reason = suite
        .operator()
        .reject_enrollment(pb::RejectEnrollmentRequest {
            request_id: request_id(),
            name: pending.name.clone(),
            reason: " ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(suite_testkit::bad_fields(&no_reason), ["reason"]);
    let rejected = suite
        .operator()
        .reject_enrollment(pb::RejectEnrollmentRequest {
            request_id: request_id(),
            name: pending.name.clone(),
            reason: "tax registration could not be confirmed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&rejected), S::Rejected);
    assert_eq!(
        rejected.reject_reason,
        "tax registration could not be confirmed"
    );

    let retry = suite
        .enroll(&reseller, pb::Program::IndirectReseller)
        .await
        .unwrap();
    assert_eq!(state(&retry), S::PendingApproval);
}

#[tokio::test]
async fn direct_bill_partner_becomes_a_transitioning_indirect_reseller_once_restricted() {
    let suite = start().await;
    let partner = suite.direct_bill_partner().await;

    let direct = suite.capabilities(&partner.admin, &partner).await;
    let expected_direct = [
        C::PurchaseOrders,
        C::ViewCustomerSubscriptions,
        C::ManageOrderHistory,
        C::BillCustomersDirectly,
        C::ViewPriceList,
        C::SandboxAccess,
        C::ApiSdkAccess,
        C::AddCustomers,
    ];
    assert_eq!(direct.capabilities, expected_direct.map(|c| c as i32));
    assert!(direct.app_access && !direct.transitioning_partner);

    let refused = suite
        .enroll(&partner, pb::Program::IndirectReseller)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "NEW_TENANT_REQUIRED");

    suite
        .restrict(&partner.enrollment("direct-bill"))
        .await
        .unwrap();
    let restricted = suite.capabilities(&partner.admin, &partner).await;
    let expected_restricted = [
        C::ViewCustomerSubscriptions,
        C::ManageOrderHistory,
        C::BillCustomersDirectly,
        C::ViewPriceList,
        C::SandboxAccess,
        C::ApiSdkAccess,
        C::ManageExistingDirectCustomers,
    ];
    assert_eq!(
        restricted.capabilities,
        expected_restricted.map(|c| c as i32),
        "no purchases, no new customers"
    );

    let reseller = suite
        .enroll(&partner, pb::Program::IndirectReseller)
        .await
        .unwrap();
    assert!(reseller.transitioning);
    suite.approve(&reseller.name).await.unwrap();
    let invitation = (
        "partner-program@contoso.example".to_owned(),
        "Invitation: indirect reseller incentive program".to_owned(),
    );
    assert!(
        suite.emails().await.contains(&invitation),
        "{:?}",
        suite.emails().await
    );
    suite.activate(&reseller.name).await.unwrap();

    let information = suite.program_information(&partner).await;
    let states: Vec<_> = information
        .enrollments
        .iter()
        .map(|e| (e.program, e.state))
        .collect();
    assert_eq!(
        states,
        [
            (pb::Program::DirectBill as i32, S::Restricted as i32),
            (pb::Program::IndirectReseller as i32, S::Active as i32)
        ]
    );
    assert!(information.transitioning_partner);

    let transitioned = suite.capabilities(&sales_agent(&partner), &partner).await;
    let expected_transitioned = [
        C::ViewCustomerSubscriptions,
        C::ManageOrderHistory,
        C::BillCustomersDirectly,
        C::ViewPriceList,
        C::ManageExistingDirectCustomers,
        C::RequestProviderOrders,
        C::ManageCustomerLicensesAndUsers,
        C::CreateServiceRequests,
        C::ViewCustomerAnalytics,
        C::ResellerRelationshipExtension,
        C::SelfServiceTransfer,
    ];
    assert_eq!(
        transitioned.capabilities,
        expected_transitioned.map(|c| c as i32),
        "sandbox and API access are gone"
    );
    assert!(!transitioned.app_access && transitioned.transitioning_partner);

    // A stranger learns nothing, nor does a service acting for itself: other services ask
    // on behalf of the partner's own users. The exceptions are the transfer service, which
    // checks a transfer's parties when it runs, long after the requester's token expired,
    // and the relationship service, which checks that a named provider is still official.
    let for_transfers = suite
        .client(&Actor::service("transfer", "enrollment"))
        .get_capabilities(pb::GetCapabilitiesRequest {
            partner: partner.name(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(for_transfers, transitioned);
    for outsider in [
        Actor::global_admin(uuid::Uuid::new_v4()),
        Actor::service("agreement", "enrollment"),
    ] {
        let refused = suite
            .client(&outsider)
            .get_capabilities(pb::GetCapabilitiesRequest {
                partner: partner.name(),
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{outsider:?}");
    }
}

#[tokio::test]
async fn new_tenant_reseller_is_not_transitioning() {
    let suite = start().await;
    let partner = suite.verified_partner().await;
    let reseller = suite
        .enroll(&partner, pb::Program::IndirectReseller)
        .await
        .unwrap();
    assert!(!reseller.transitioning);
    suite.approve(&reseller.name).await.unwrap();
    suite.activate(&reseller.name).await.unwrap();

    let capabilities = suite.capabilities(&partner.admin, &partner).await;
    assert_eq!(
        capabilities.capabilities,
        [
            C::RequestProviderOrders,
            C::ManageCustomerLicensesAndUsers,
            C::CreateServiceRequests,
            C::ViewCustomerAnalytics
        ]
        .map(|c| c as i32)
    );
    assert!(!capabilities.transitioning_partner);
    let no_invitation = suite
        .emails()
        .await
        .iter()
        .all(|(_, subject)| !subject.contains("incentive"));
    assert!(no_invitation);
}

#[tokio::test]
async fn active_direct_bill_overrides_indirect_reseller_access_after_the_grace_period() {
    let suite = start().await;
    let partner = suite.verified_partner().await;
    let reseller = suite
        .enroll(&partner, pb::Program::IndirectReseller)
        .await
        .unwrap();
    suite.approve(&reseller.name).await.unwrap();
    suite.activate(&reseller.name).await.unwrap();

    suite.record_year_of_revenue(&partner, 30_000).await;
    let direct = suite
        .enroll(&partner, pb::Program::DirectBill)
        .await
        .unwrap();
    suite.approve(&direct.name).await.unwrap();
    suite.activate(&direct.name).await.unwrap();

    let warned = suite.program_information(&partner).await;
    assert_eq!(warned.warnings.len(), 1);
    assert!(
        warned.warnings[0].contains(&format!("ends in {GRACE_DAYS} days")),
        "{}",
        warned.warnings[0]
    );
    assert!(
        warned.warnings[0].contains("separate tenants"),
        "{}",
        warned.warnings[0]
    );
    assert!(
        suite
            .emails()
            .await
            .iter()
            .any(|(_, subject)| subject == "Indirect reseller access will end")
    );
    let during_grace = warned
        .enrollments
        .iter()
        .find(|e| e.name == reseller.name)
        .unwrap();
    assert_eq!(state(during_grace), S::Active);
    assert!(
        suite
            .capabilities(&partner.admin, &partner)
            .await
            .capabilities
            .contains(&(C::RequestProviderOrders as i32))
    );

    suite
        .clock
        .advance(DAY * GRACE_DAYS + Duration::from_secs(1));
    let after = suite
        .client(&partner.admin)
        .get_enrollment(pb::GetEnrollmentRequest {
            name: reseller.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state(&after), S::Overridden);
    let capabilities = suite
        .capabilities(&partner.admin, &partner)
        .await
        .capabilities;
    assert!(
        !capabilities.contains(&(C::RequestProviderOrders as i32)),
        "indirect reseller access is gone"
    );
    assert!(capabilities.contains(&(C::PurchaseOrders as i32)));

    // Nobody calls: the sweep records the loss of access in the audit trail.
    suite_testkit::eventually(
        "the override sweep recorded the change",
        Duration::from_secs(10),
        || async {
            suite
                .service
                .database
                .audit_actions(&reseller.name)
                .await
                .contains(&"OverrideIndirectReseller".to_owned())
        },
    )
    .await;
    let trail = suite.service.database.audit_trail(&reseller.name).await;
    assert!(
        trail.contains(&("OverrideIndirectReseller".to_owned(), true, true)),
        "the sweep keeps the state before and after: {trail:?}"
    );
}

#[tokio::test]
async fn partner_reapplies_to_direct_bill_with_a_new_tenant_on_its_indirect_revenue() {
    let suite = start().await;
    let reseller = suite.verified_partner_with_id("7654321").await;
    let enrollment = suite
        .enroll(&reseller, pb::Program::IndirectReseller)
        .await
        .unwrap();
    suite.approve(&enrollment.name).await.unwrap();
    suite.activate(&enrollment.name).await.unwrap();
    suite.record_year_of_revenue(&reseller, 26_000).await;

    // A new tenant of the same organisation (same verified PartnerID) is judged on that revenue.
    let new_tenant = suite.verified_partner_with_id("7654321").await;
    let request = pb::GetDirectBillEligibilityRequest {
        partner: new_tenant.name(),
    };
    let eligibility = suite
        .client(&new_tenant.admin)
        .get_direct_bill_eligibility(request)
        .await
        .unwrap()
        .into_inner();
    assert!(eligibility.eligible);
    assert_eq!(
        eligibility.trailing_revenue.unwrap().amount_minor,
        12 * 2_600_000
    );
    let direct = suite
        .enroll(&new_tenant, pb::Program::DirectBill)
        .await
        .unwrap();
    assert_eq!(state(&direct), S::PendingApproval);

    // Another organisation's tenant is not.
    let stranger = suite.verified_partner().await;
    let refused = suite
        .enroll(&stranger, pb::Program::DirectBill)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "REVENUE_BELOW_THRESHOLD");

    // The reseller tenant keeps its programs: nothing was overridden.
    let information = suite.program_information(&reseller).await;
    assert!(information.warnings.is_empty());
    assert_eq!(information.enrollments.len(), 1);
}

#[tokio::test]
async fn capabilities_carry_the_directory_listing_and_the_sandbox_flag_with_or_without_enrollments()
{
    let suite = start().await;
    let sandbox = Uuid::new_v4();
    suite
        .operator()
        .create_partner(pb::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(pb::Partner {
                tenant_id: sandbox.to_string(),
                legal_name: "Contoso Sandbox".into(),
                country_code: "GB".into(),
                primary_contact_email: "ops@contoso.example".into(),
                integration_sandbox: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    list_as_indirect_provider(&suite.service, sandbox).await;
    let sandbox_name = format!("partners/{sandbox}");
    let ask = |partner: String| {
        let mut client = suite.client(&Actor::service("relationship", "enrollment"));
        async move {
            client
                .get_capabilities(pb::GetCapabilitiesRequest { partner })
                .await
        }
    };

    // No enrollment yet: the partner's flags still come through.
    let listed = ask(sandbox_name.clone()).await.unwrap().into_inner();
    assert_eq!(
        (listed.partner.as_str(), listed.capabilities.len()),
        (sandbox_name.as_str(), 0)
    );
    assert!(listed.official_indirect_provider && listed.integration_sandbox);
    assert!(!listed.transitioning_partner && !listed.app_access);

    // With enrollments (one row each), the flags are the same and the programs count.
    let direct = suite.direct_bill_partner().await;
    let unlisted = ask(direct.name()).await.unwrap().into_inner();
    assert!(!unlisted.official_indirect_provider && !unlisted.integration_sandbox);
    assert!(unlisted.app_access, "{unlisted:?}");

    // Two enrollments and a directory entry: every row carries the listing.
    suite
        .enroll(&direct, pb::Program::IndirectProvider)
        .await
        .unwrap();
    list_as_indirect_provider(&suite.service, direct.tenant).await;
    let listed_with_enrollments = ask(direct.name()).await.unwrap().into_inner();
    assert!(listed_with_enrollments.official_indirect_provider);
    assert_eq!(
        listed_with_enrollments.capabilities, unlisted.capabilities,
        "a pending provider enrollment adds no capability"
    );
    assert_eq!(
        suite.program_information(&direct).await.enrollments.len(),
        2
    );

    let unknown = ask(format!("partners/{}", Uuid::new_v4()))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn several_tenants_capabilities_come_in_one_call_as_each_single_answer() {
    let suite = start().await;
    let (direct, new) = (
        suite.direct_bill_partner().await,
        suite.verified_partner().await,
    );
    list_as_indirect_provider(&suite.service, new.tenant).await;
    let unknown = format!("partners/{}", Uuid::new_v4());
    let transfer = Actor::service("transfer", "enrollment");
    let batch = |actor: &Actor, partners: Vec<String>| {
        let mut client = suite.client(actor);
        async move {
            client
                .batch_get_capabilities(pb::BatchGetCapabilitiesRequest { partners })
                .await
        }
    };

    // In the order asked, each as GetCapabilities answers it; a tenant without a partner
    // account is left out.
    let answer = batch(&transfer, vec![new.name(), unknown.clone(), direct.name()])
        .await
        .unwrap()
        .into_inner();
    let expected = vec![
        suite.capabilities(&transfer, &new).await,
        suite.capabilities(&transfer, &direct).await,
    ];
    assert_eq!(answer.capabilities, expected);
    assert!(expected[0].official_indirect_provider && !expected[1].official_indirect_provider);
    assert!(expected[1].app_access && !expected[0].app_access);

    // A partner may ask about itself, not about another in the same call; a service the
    // enrollment service does not trust with it learns nothing.
    let own = batch(&direct.admin, vec![direct.name()]).await.unwrap();
    assert_eq!(own.into_inner().capabilities, expected[1..]);
    for (asker, partners) in [
        (&direct.admin, vec![direct.name(), new.name()]),
        (
            &Actor::service("agreement", "enrollment"),
            vec![direct.name()],
        ),
    ] {
        let refused = batch(asker, partners.clone()).await.unwrap_err();
        assert_eq!(refused.code(), Code::NotFound, "{asker:?}");
        // The refusal names the partner refused, not one the caller may see.
        let refused_partner = partners.last().unwrap();
        assert!(
            refused.message().contains(refused_partner.as_str()),
            "{refused:?}"
        );
        assert_eq!(refused.message().matches("partners/").count(), 1);
    }

    // Each bad name is refused by its place in the list; an empty or too long list whole.
    let refused = batch(
        &transfer,
        vec![direct.name(), "partners/nope".into(), direct.name()],
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&refused), ["partners[1]", "partners[2]"]);
    let too_many = (0..101)
        .map(|_| format!("partners/{}", Uuid::new_v4()))
        .collect();
    for partners in [Vec::new(), too_many] {
        let refused = batch(&transfer, partners).await.unwrap_err();
        assert_eq!(bad_fields(&refused), ["partners"]);
    }
}
