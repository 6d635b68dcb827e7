//! Partner profiles (etag, verification, staleness) and the direct-bill revenue requirement.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use common::{DAY, start};
use suite_proto::enrollment::v1 as pb;
use suite_testkit::{Actor, bad_fields, reason};
use tonic::Code;
use tonic_types::StatusExt;

async fn check(suite: &common::Suite, partner: &common::Partner) -> pb::PartnerProfileCheck {
    let request = pb::CheckPartnerProfileRequest {
        name: partner.name(),
    };
    suite
        .client(&partner.admin)
        .check_partner_profile(request)
        .await
        .unwrap()
        .into_inner()
}

fn issues(check: &pb::PartnerProfileCheck) -> Vec<(String, String)> {
    check
        .issues
        .iter()
        .map(|i| (i.field.clone(), i.kind.clone()))
        .collect()
}

#[tokio::test]
async fn profile_check_names_what_is_missing_unverified_or_stale() {
    let suite = start().await;
    let partner = suite.new_partner().await;
    let missing = check(&suite, &partner).await;
    assert!(!missing.current);
    assert_eq!(
        issues(&missing),
        [("partner_program_id".into(), "MISSING".into())]
    );

    suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner {
                partner_program_id: "4312345".into(),
                ..Default::default()
            },
            &["partner_program_id"],
        )
        .await
        .unwrap();
    assert_eq!(
        issues(&check(&suite, &partner).await),
        [("partner_program_id".into(), "UNVERIFIED".into())]
    );

    suite
        .update(
            &Actor::operator(),
            &partner,
            pb::Partner {
                partner_program_id_verified: true,
                ..Default::default()
            },
            &["partner_program_id_verified"],
        )
        .await
        .unwrap();
    assert!(check(&suite, &partner).await.current);

    suite.clock.advance(DAY * 400);
    assert_eq!(
        issues(&check(&suite, &partner).await),
        [("profile".into(), "STALE".into())]
    );
    let refused = suite
        .enroll(&partner, pb::Program::IndirectProvider)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PROFILE_NOT_CURRENT");
    let violations = refused
        .get_error_details()
        .precondition_failure()
        .unwrap()
        .violations
        .clone();
    assert_eq!(violations[0].r#type, "PROFILE_STALE");

    // Saving the profile again makes it current.
    suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner {
                legal_name: "Contoso Cloud Limited".into(),
                ..Default::default()
            },
            &["legal_name"],
        )
        .await
        .unwrap();
    assert!(check(&suite, &partner).await.current);
}

#[tokio::test]
async fn profile_updates_are_optimistic_and_verification_is_the_operators() {
    let suite = start().await;
    let partner = suite.verified_partner().await;
    let current = suite
        .client(&partner.admin)
        .get_partner(pb::GetPartnerRequest {
            name: partner.name(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(current.partner_program_id_verified);

    let stale = pb::Partner {
        legal_name: "Late Writer".into(),
        etag: "1".into(),
        ..Default::default()
    };
    let status = suite
        .update(&partner.admin, &partner, stale, &["legal_name"])
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    assert_eq!(reason(&status), "ETAG_MISMATCH");

    let fresh = pb::Partner {
        legal_name: "On Time".into(),
        etag: current.etag.clone(),
        ..Default::default()
    };
    let updated = suite
        .update(&partner.admin, &partner, fresh, &["legal_name"])
        .await
        .unwrap();
    assert_eq!(updated.legal_name, "On Time");
    assert_ne!(updated.etag, current.etag);

    let self_verify = suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner {
                partner_program_id_verified: true,
                ..Default::default()
            },
            &["partner_program_id_verified"],
        )
        .await
        .unwrap_err();
    assert_eq!(self_verify.code(), Code::PermissionDenied);
    assert_eq!(reason(&self_verify), "OPERATOR_REQUIRED");

    let changed_id = suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner {
                partner_program_id: "9999999".into(),
                ..Default::default()
            },
            &["partner_program_id"],
        )
        .await
        .unwrap();
    assert!(
        !changed_id.partner_program_id_verified,
        "a new PartnerID needs verifying again"
    );

    let bad_mask = suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner::default(),
            &["tenant_id"],
        )
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad_mask), ["update_mask"]);
    let cleared = suite
        .update(
            &partner.admin,
            &partner,
            pb::Partner::default(),
            &["legal_name"],
        )
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&cleared), ["partner.legal_name"]);
}

#[tokio::test]
async fn eligibility_reports_the_figure_and_the_trailing_window() {
    let suite = start().await;
    let partner = suite.verified_partner().await;
    suite.record_year_of_revenue(&partner, 24_999).await;
    // Revenue of the current month and before the window does not count.
    suite
        .record_revenue(&Actor::operator(), &partner, "2026-11", 90_000_000, "USD")
        .await
        .unwrap();
    suite
        .record_revenue(&Actor::operator(), &partner, "2025-10", 90_000_000, "USD")
        .await
        .unwrap();

    let request = pb::GetDirectBillEligibilityRequest {
        partner: partner.name(),
    };
    let short = suite
        .client(&partner.admin)
        .get_direct_bill_eligibility(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(!short.eligible);
    assert_eq!(
        short.trailing_revenue.as_ref().unwrap().amount_minor,
        12 * 2_499_900
    );
    assert_eq!(short.threshold.as_ref().unwrap().amount_minor, 30_000_000);
    assert_eq!(
        (
            short.window_start_month.as_str(),
            short.window_end_month.as_str()
        ),
        ("2025-11", "2026-10")
    );
    assert_eq!(short.months_recorded, 12);

    let refused = suite
        .enroll(&partner, pb::Program::DirectBill)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "REVENUE_BELOW_THRESHOLD");
    assert!(
        refused.message().contains("299,988"),
        "{}",
        refused.message()
    );
    assert_eq!(suite.service.count_rows("enrollments").await, 0);

    // Correcting one month replaces its figure and meets the requirement.
    suite
        .record_revenue(&Actor::operator(), &partner, "2026-10", 2_512_000, "USD")
        .await
        .unwrap();
    let met = suite
        .client(&partner.admin)
        .get_direct_bill_eligibility(request)
        .await
        .unwrap()
        .into_inner();
    assert!(met.eligible);
    assert_eq!(
        met.trailing_revenue.unwrap().amount_minor,
        11 * 2_499_900 + 2_512_000
    );
}

#[tokio::test]
async fn revenue_is_recorded_by_the_operator_or_an_app_with_api_access_and_validated() {
    let suite = start().await;
    let partner = suite.verified_partner().await;

    let by_user = suite
        .record_revenue(&partner.admin, &partner, "2026-10", 100, "USD")
        .await
        .unwrap_err();
    assert_eq!(by_user.code(), Code::PermissionDenied);
    assert_eq!(reason(&by_user), "OPERATOR_OR_APP_REQUIRED");

    // An app of a tenant without direct bill has no API access.
    let app = Actor::app(partner.tenant);
    let no_api = suite
        .record_revenue(&app, &partner, "2026-10", 100, "USD")
        .await
        .unwrap_err();
    assert_eq!(reason(&no_api), "API_ACCESS_NOT_ALLOWED");

    let read_by_app = suite
        .client(&app)
        .get_partner(pb::GetPartnerRequest {
            name: partner.name(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        reason(&read_by_app),
        "API_ACCESS_NOT_ALLOWED",
        "apps are refused everywhere without API access"
    );

    let direct = suite.direct_bill_partner().await;
    let direct_app = Actor::app(direct.tenant);
    suite
        .client(&direct_app)
        .get_partner(pb::GetPartnerRequest {
            name: direct.name(),
        })
        .await
        .unwrap();
    let recorded = suite
        .record_revenue(&Actor::app(direct.tenant), &direct, "2026-10", 100, "USD")
        .await
        .unwrap();
    assert_eq!(recorded.name, format!("{}/revenue/2026-10", direct.name()));

    let future = suite
        .record_revenue(&Actor::operator(), &partner, "2026-12", 100, "USD")
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&future), ["revenue.month"]);
    let euros = suite
        .record_revenue(&Actor::operator(), &partner, "2026-10", 100, "EUR")
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&euros), ["revenue.amount.currency_code"]);
    let negative = suite
        .record_revenue(&Actor::operator(), &partner, "2026-10", -1, "USD")
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&negative), ["revenue.amount.amount_minor"]);
    // The direct partner's year, with 2026-10 replaced by the app's figure; nothing for the refused ones.
    assert_eq!(suite.service.count_rows("monthly_revenue").await, 12);
}
