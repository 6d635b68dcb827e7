//! The official directory of indirect providers and the incentive programs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use common::start;
use prost_types::FieldMask;
use suite_proto::enrollment::v1 as pb;
use suite_testkit::{Actor, bad_fields, reason, request_id};
use tonic::Code;
use uuid::Uuid;

fn provider(
    name: &str,
    countries: &[&str],
    support: bool,
    sales: bool,
    credit: bool,
) -> pb::CreateIndirectProviderRequest {
    pb::CreateIndirectProviderRequest {
        request_id: request_id(),
        indirect_provider: Some(pb::IndirectProvider {
            display_name: name.into(),
            provider_tenant_id: Uuid::new_v4().to_string(),
            country_codes: countries.iter().map(|c| c.to_string()).collect(),
            offers_technical_support: support,
            offers_sales_help: sales,
            offers_credit_terms: credit,
            description: "CSP distributor".into(),
            website_uri: "https://provider.example".into(),
            ..Default::default()
        }),
    }
}

fn names(response: &pb::SearchIndirectProvidersResponse) -> Vec<&str> {
    response
        .indirect_providers
        .iter()
        .map(|p| p.display_name.as_str())
        .collect()
}

#[tokio::test]
async fn partners_search_the_directory_by_country_and_name_and_see_what_each_offers() {
    let suite = start().await;
    let mut operator = suite.operator();
    for request in [
        provider("Northwind Distribution", &["US", "CA"], true, true, false),
        provider("Fabrikam Cloud", &["GB", "FR"], true, false, true),
        provider("Tailspin 100% Cloud", &["US"], false, true, true),
        provider("Wingtip Partners", &["US", "GB"], true, true, true),
    ] {
        operator.create_indirect_provider(request).await.unwrap();
    }
    let mut partner = suite.client(&Actor::user(Uuid::new_v4(), &[]));

    let us = pb::SearchIndirectProvidersRequest {
        country_code: "US".into(),
        page_size: 2,
        ..Default::default()
    };
    let first = partner
        .search_indirect_providers(us.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(&first),
        ["Northwind Distribution", "Tailspin 100% Cloud"]
    );
    let second = partner
        .search_indirect_providers(pb::SearchIndirectProvidersRequest {
            page_token: first.next_page_token.clone(),
            ..us
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&second), ["Wingtip Partners"]);
    assert!(second.next_page_token.is_empty());

    let by_name = pb::SearchIndirectProvidersRequest {
        name_query: "CLOUD".into(),
        ..Default::default()
    };
    let found = partner
        .search_indirect_providers(by_name)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&found), ["Fabrikam Cloud", "Tailspin 100% Cloud"]);
    let fabrikam = &found.indirect_providers[0];
    assert_eq!(fabrikam.country_codes, ["FR", "GB"]);
    assert!(
        fabrikam.offers_technical_support
            && !fabrikam.offers_sales_help
            && fabrikam.offers_credit_terms
    );

    // `%` is searched for literally, not as a wildcard.
    let literal = pb::SearchIndirectProvidersRequest {
        name_query: "100%".into(),
        ..Default::default()
    };
    assert_eq!(
        names(
            &partner
                .search_indirect_providers(literal)
                .await
                .unwrap()
                .into_inner()
        ),
        ["Tailspin 100% Cloud"]
    );

    // A NUL byte is refused as bad input (PostgreSQL text could not hold it).
    let nul = partner
        .search_indirect_providers(pb::SearchIndirectProvidersRequest {
            name_query: "\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(nul.code(), tonic::Code::InvalidArgument);

    let other_filter = partner
        .search_indirect_providers(pb::SearchIndirectProvidersRequest {
            country_code: "GB".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&other_filter), ["page_token"]);
    let bad_country = partner
        .search_indirect_providers(pb::SearchIndirectProvidersRequest {
            country_code: "USA".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad_country), ["country_code"]);
}

#[tokio::test]
async fn only_the_operator_keeps_the_directory_and_updates_are_optimistic() {
    let suite = start().await;
    let by_partner = suite
        .client(&Actor::global_admin(Uuid::new_v4()))
        .create_indirect_provider(provider("Rogue", &["US"], true, true, true))
        .await
        .unwrap_err();
    assert_eq!(by_partner.code(), Code::PermissionDenied);

    let mut operator = suite.operator();
    let request = provider("Contoso Distribution", &["DE"], true, false, false);
    let created = operator
        .create_indirect_provider(request.clone())
        .await
        .unwrap()
        .into_inner();
    let mut same_tenant = request;
    same_tenant.request_id = request_id();
    let duplicate = operator
        .create_indirect_provider(same_tenant)
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let update = |etag: &str| pb::UpdateIndirectProviderRequest {
        request_id: request_id(),
        indirect_provider: Some(pb::IndirectProvider {
            name: created.name.clone(),
            country_codes: vec!["DE".into(), "AT".into()],
            offers_credit_terms: true,
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["country_codes".into(), "offers_credit_terms".into()],
        }),
    };
    let updated = operator
        .update_indirect_provider(update(&created.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.country_codes, ["AT", "DE"]);
    assert!(updated.offers_credit_terms && updated.offers_technical_support);
    let stale = operator
        .update_indirect_provider(update(&created.etag))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let austria = pb::SearchIndirectProvidersRequest {
        country_code: "AT".into(),
        ..Default::default()
    };
    let found = operator
        .search_indirect_providers(austria)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.indirect_providers, [updated]);
}

async fn join(
    suite: &common::Suite,
    partner: &common::Partner,
    program: pb::IncentiveProgram,
) -> Result<pb::IncentiveEnrollment, tonic::Status> {
    let request = pb::CreateIncentiveEnrollmentRequest {
        request_id: request_id(),
        parent: partner.name(),
        program: program as i32,
    };
    suite
        .client(&partner.admin)
        .create_incentive_enrollment(request)
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn incentive_programs_are_kept_separately_on_one_tenant() {
    let suite = start().await;
    let partner = suite.verified_partner().await;
    let uninvited = join(&suite, &partner, pb::IncentiveProgram::IndirectReseller)
        .await
        .unwrap_err();
    assert_eq!(reason(&uninvited), "INVITATION_REQUIRED");
    let no_direct_bill = join(&suite, &partner, pb::IncentiveProgram::DirectBill)
        .await
        .unwrap_err();
    assert_eq!(reason(&no_direct_bill), "DIRECT_BILL_REQUIRED");

    let partner = suite.direct_bill_partner().await;
    let direct = join(&suite, &partner, pb::IncentiveProgram::DirectBill)
        .await
        .unwrap();
    assert_eq!(direct.state, pb::IncentiveState::Enrolled as i32);
    suite
        .restrict(&partner.enrollment("direct-bill"))
        .await
        .unwrap();
    let reseller = suite
        .enroll(&partner, pb::Program::IndirectReseller)
        .await
        .unwrap();
    suite.approve(&reseller.name).await.unwrap();

    let list = |partner: &common::Partner| pb::ListIncentiveEnrollmentsRequest {
        parent: partner.name(),
        ..Default::default()
    };
    let listed = suite
        .client(&partner.admin)
        .list_incentive_enrollments(list(&partner))
        .await
        .unwrap()
        .into_inner();
    let standing: Vec<_> = listed
        .incentive_enrollments
        .iter()
        .map(|i| (i.program, i.state, i.invite_email.as_str()))
        .collect();
    assert_eq!(
        standing,
        [
            (
                pb::IncentiveProgram::DirectBill as i32,
                pb::IncentiveState::Enrolled as i32,
                ""
            ),
            (
                pb::IncentiveProgram::IndirectReseller as i32,
                pb::IncentiveState::Invited as i32,
                "partner-program@contoso.example"
            ),
        ]
    );

    let joined = join(&suite, &partner, pb::IncentiveProgram::IndirectReseller)
        .await
        .unwrap();
    assert_eq!(joined.state, pb::IncentiveState::Enrolled as i32);
    // The invitation, a side effect of the approval, is audited like the request that
    // follows it: (action, state before kept, state after kept).
    assert_eq!(
        suite.service.database.audit_trail(&joined.name).await,
        [
            ("InviteToIncentiveProgram".to_owned(), false, true),
            ("CreateIncentiveEnrollment".to_owned(), true, true),
        ]
    );
    let twice = join(&suite, &partner, pb::IncentiveProgram::IndirectReseller)
        .await
        .unwrap_err();
    assert_eq!(twice.code(), Code::AlreadyExists);

    let stranger = suite
        .client(&Actor::global_admin(Uuid::new_v4()))
        .list_incentive_enrollments(list(&partner))
        .await
        .unwrap_err();
    assert_eq!(stranger.code(), Code::NotFound);
}
