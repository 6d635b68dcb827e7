//! Concurrent requests on one tenant end as if they had run one after another: each sees
//! the enrollments the previous one left, whichever backend serves them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use common::{Partner, Suite, start, state};
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::EnrollmentState as S;
use suite_testkit::{Actor, reason, request_id};
use tokio::task::JoinSet;
use tonic::{Code, Status};

const CONCURRENT: usize = 8;

type Answer = Result<pb::Enrollment, Status>;

/// The code and reason of an answer, e.g. `AlreadyExists RESOURCE_ALREADY_EXISTS`.
fn outcome(answer: &Answer) -> String {
    match answer {
        Ok(_) => "Ok".into(),
        Err(status) => format!("{:?} {}", status.code(), reason(status)),
    }
}

fn submit(calls: &mut JoinSet<Answer>, suite: &Suite, partner: &Partner, program: pb::Program) {
    let mut client = suite.client(&partner.admin);
    let request = pb::CreateEnrollmentRequest {
        request_id: request_id(),
        parent: partner.name(),
        program: program as i32,
    };
    calls.spawn(async move { Ok(client.create_enrollment(request).await?.into_inner()) });
}

fn restrict(calls: &mut JoinSet<Answer>, suite: &Suite, name: &str) {
    let mut client = suite.operator();
    let request = pb::RestrictEnrollmentRequest {
        request_id: request_id(),
        name: name.into(),
    };
    calls.spawn(async move { Ok(client.restrict_enrollment(request).await?.into_inner()) });
}

async fn enrollment(suite: &Suite, name: &str) -> Answer {
    let request = pb::GetEnrollmentRequest { name: name.into() };
    Ok(suite.operator().get_enrollment(request).await?.into_inner())
}

/// One success and `others` answers of `refusal`, sorted as `outcome`s sort.
fn one_success_and(others: usize, refusal: &str) -> Vec<String> {
    let mut expected = vec!["Ok".to_owned()];
    expected.extend(std::iter::repeat_n(refusal.to_owned(), others));
    expected.sort();
    expected
}

#[tokio::test]
async fn concurrent_submissions_to_one_program_create_one_enrollment() {
    let suite = start().await;
    let partner = suite.verified_partner().await;

    let mut calls = JoinSet::new();
    for _ in 0..CONCURRENT {
        submit(&mut calls, &suite, &partner, pb::Program::IndirectReseller);
    }
    let mut outcomes: Vec<_> = calls.join_all().await.iter().map(outcome).collect();
    outcomes.sort();

    let expected = one_success_and(CONCURRENT - 1, "AlreadyExists RESOURCE_ALREADY_EXISTS");
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn restricting_direct_bill_while_enrolling_as_reseller_keeps_one_order() {
    let suite = start().await;
    let partner = suite.direct_bill_partner().await;
    let direct_bill = partner.enrollment("direct-bill");

    let mut restricts = JoinSet::new();
    let mut submissions = JoinSet::new();
    for _ in 0..CONCURRENT / 2 {
        restrict(&mut restricts, &suite, &direct_bill);
        submit(
            &mut submissions,
            &suite,
            &partner,
            pb::Program::IndirectReseller,
        );
    }
    let (restricts, submissions) = tokio::join!(restricts.join_all(), submissions.join_all());

    // One restriction wins; the others find direct bill already RESTRICTED.
    let mut restrict_outcomes: Vec<_> = restricts.iter().map(outcome).collect();
    restrict_outcomes.sort();
    let expected = one_success_and(
        CONCURRENT / 2 - 1,
        "FailedPrecondition ENROLLMENT_STATE_CONFLICT",
    );
    assert_eq!(restrict_outcomes, expected);

    // A submission before the restriction is refused, the first after it creates a
    // transitioning reseller enrollment, and later ones find that enrollment.
    for outcome in submissions.iter().map(outcome) {
        assert!(
            [
                "Ok",
                "FailedPrecondition NEW_TENANT_REQUIRED",
                "AlreadyExists RESOURCE_ALREADY_EXISTS"
            ]
            .contains(&outcome.as_str()),
            "unexpected {outcome}"
        );
    }
    let created: Vec<&pb::Enrollment> =
        submissions.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert!(created.len() <= 1, "{} reseller enrollments", created.len());
    let stored_direct_bill = enrollment(&suite, &direct_bill).await.unwrap();
    assert_eq!(state(&stored_direct_bill), S::Restricted);
    let reseller = enrollment(&suite, &partner.enrollment("indirect-reseller")).await;
    match created.first() {
        Some(created) => {
            assert!(created.transitioning);
            assert_eq!(&&reseller.unwrap(), created);
        }
        None => assert_eq!(reseller.unwrap_err().code(), Code::NotFound),
    }
}

/// Capabilities asked at the same moment share the database's statements (the store
/// batches them): each caller still gets its own partner's answer, the same as alone.
#[tokio::test]
async fn capabilities_asked_together_each_answer_their_own_partner() {
    let suite = start().await;
    let direct = suite.direct_bill_partner().await;
    let verified = suite.verified_partner().await;
    let transfer = Actor::service("transfer", "enrollment");
    let alone = [
        suite.capabilities(&transfer, &direct).await,
        suite.capabilities(&transfer, &verified).await,
    ];
    assert_ne!(alone[0], alone[1]);

    let mut calls = JoinSet::new();
    for round in 0..64 {
        let (index, partner) = if round % 2 == 0 {
            (0, &direct)
        } else {
            (1, &verified)
        };
        let mut client = suite.client(&transfer);
        let request = pb::GetCapabilitiesRequest {
            partner: partner.name(),
        };
        calls.spawn(async move { (index, client.get_capabilities(request).await) });
    }
    while let Some(call) = calls.join_next().await {
        let (index, answer) = call.unwrap();
        assert_eq!(answer.unwrap().into_inner(), alone[index]);
    }
}

/// A partner whose stored enrollment no longer decodes fails its own capability reads only:
/// the partners whose reads share a statement with it are still answered.
#[tokio::test]
async fn a_corrupt_enrollment_fails_only_its_partners_capabilities() {
    let suite = start().await;
    let (broken, healthy) = (
        suite.direct_bill_partner().await,
        suite.direct_bill_partner().await,
    );
    let transfer = Actor::service("transfer", "enrollment");
    let expected = suite.capabilities(&transfer, &healthy).await;
    sqlx::query("UPDATE enrollments SET state = 'NO_SUCH_STATE' WHERE tenant_id = $1")
        .bind(broken.tenant.to_string())
        .execute(suite.service.database.database().pool())
        .await
        .unwrap();

    let mut calls = JoinSet::new();
    for round in 0..32 {
        let partner = if round % 2 == 0 { &broken } else { &healthy };
        let mut client = suite.client(&transfer);
        let request = pb::GetCapabilitiesRequest {
            partner: partner.name(),
        };
        calls.spawn(async move { (round % 2 == 0, client.get_capabilities(request).await) });
    }
    while let Some(call) = calls.join_next().await {
        match call.unwrap() {
            (true, answer) => assert_eq!(answer.unwrap_err().code(), Code::Internal),
            (false, answer) => assert_eq!(answer.unwrap().into_inner(), expected),
        }
    }
}
