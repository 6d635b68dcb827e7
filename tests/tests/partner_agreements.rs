//! Accepting a Microsoft Partner Agreement in the agreement service activates the program's
//! enrollment in the enrollment service, over gRPC, exactly once, even across an outage.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::time::Duration;

use agreement::AgreementOptions;
use prost_types::FieldMask;
use suite_config::PeerUrls;
use suite_db::RelaySettings;
use suite_proto::agreement::v1 as agreement_pb;
use suite_proto::enrollment::v1 as enrollment_pb;
use suite_testkit::{
    Actor, TestService, eventually, reason, request_id, spawn_service, spawn_service_with,
};
use tonic::Code;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(20);

fn fast_relay() -> AgreementOptions {
    let relay = RelaySettings {
        interval: Duration::from_millis(20),
        first_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RelaySettings::default()
    };
    AgreementOptions { relay }
}

async fn start_agreement(enrollment_url: String) -> TestService {
    // Partner agreements never ask the relationship service; nothing listens on port 1.
    let peers = PeerUrls {
        enrollment: Some(enrollment_url),
        relationship: Some("http://127.0.0.1:1".into()),
        ..PeerUrls::default()
    };
    let service = spawn_service(
        |config, listener, shutdown| agreement::run_with(fast_relay(), config, listener, shutdown),
        peers,
    )
    .await;
    let version = agreement_pb::CreateAgreementVersionRequest {
        request_id: request_id(),
        agreement_version: Some(agreement_pb::AgreementVersion {
            template_id: "mpa-indirect-2026".into(),
            agreement_type: agreement_pb::AgreementType::PartnerIndirectReseller as i32,
            display_name: "Microsoft Partner Agreement (indirect reseller)".into(),
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
    service
}

/// A verified partner with an indirect reseller enrollment, approved when `approve`.
async fn reseller(enrollment: &TestService, approve: bool) -> (Actor, String) {
    let tenant = Uuid::new_v4();
    let admin = Actor::global_admin(tenant);
    let partner = enrollment_pb::Partner {
        legal_name: "Adventure Works Cloud".into(),
        country_code: "NL".into(),
        primary_contact_email: "it@adventure-works.example".into(),
        partner_program_id: "5551234".into(),
        ..Default::default()
    };
    let mut client = enrollment.enrollment(&admin);
    client
        .create_partner(enrollment_pb::CreatePartnerRequest {
            request_id: request_id(),
            partner: Some(partner),
        })
        .await
        .unwrap();
    let verify = enrollment_pb::UpdatePartnerRequest {
        request_id: request_id(),
        partner: Some(enrollment_pb::Partner {
            name: format!("partners/{tenant}"),
            partner_program_id_verified: true,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: vec!["partner_program_id_verified".into()],
        }),
    };
    enrollment
        .enrollment(&Actor::operator())
        .update_partner(verify)
        .await
        .unwrap();
    let enroll = enrollment_pb::CreateEnrollmentRequest {
        request_id: request_id(),
        parent: format!("partners/{tenant}"),
        program: enrollment_pb::Program::IndirectReseller as i32,
    };
    let enrolled = client.create_enrollment(enroll).await.unwrap().into_inner();
    if approve {
        let request = enrollment_pb::ApproveEnrollmentRequest {
            request_id: request_id(),
            name: enrolled.name.clone(),
        };
        enrollment
            .enrollment(&Actor::operator())
            .approve_enrollment(request)
            .await
            .unwrap();
    }
    (admin, enrolled.name)
}

fn accept(admin: &Actor) -> agreement_pb::AcceptPartnerAgreementRequest {
    agreement_pb::AcceptPartnerAgreementRequest {
        request_id: request_id(),
        parent: format!("partners/{}", admin.tenant_id),
        agreement_type: agreement_pb::AgreementType::PartnerIndirectReseller as i32,
    }
}

async fn enrollment_state(
    enrollment: &TestService,
    admin: &Actor,
    name: &str,
) -> enrollment_pb::EnrollmentState {
    let request = enrollment_pb::GetEnrollmentRequest { name: name.into() };
    let state = enrollment
        .enrollment(admin)
        .get_enrollment(request)
        .await
        .unwrap()
        .into_inner()
        .state;
    enrollment_pb::EnrollmentState::try_from(state).unwrap()
}

/// Waits until acceptance `name` reports its enrollment activated.
async fn acceptance_activated(agreement: &TestService, admin: &Actor, name: &str) {
    let request = agreement_pb::GetPartnerAgreementAcceptanceRequest { name: name.into() };
    eventually("the acceptance shows the activation", DEADLINE, || {
        let request = request.clone();
        async move {
            let acceptance = agreement
                .agreement(admin)
                .get_partner_agreement_acceptance(request)
                .await
                .unwrap()
                .into_inner();
            acceptance.activation_state == agreement_pb::ActivationState::Activated as i32
        }
    })
    .await;
}

#[tokio::test]
async fn accepting_the_mpa_activates_the_approved_enrollment() {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let agreement = start_agreement(enrollment.url()).await;
    let (admin, enrollment_name) = reseller(&enrollment, true).await;

    let accepted = agreement
        .agreement(&admin)
        .accept_partner_agreement(accept(&admin))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.agreement_version,
        "agreementVersions/mpa-indirect-2026"
    );
    assert_eq!(accepted.enrollment, enrollment_name);

    eventually("the enrollment is ACTIVE", DEADLINE, || async {
        enrollment_state(&enrollment, &admin, &enrollment_name).await
            == enrollment_pb::EnrollmentState::Active
    })
    .await;
    acceptance_activated(&agreement, &admin, &accepted.name).await;

    let page = agreement
        .agreement(&admin)
        .list_partner_agreement_acceptances(agreement_pb::ListPartnerAgreementAcceptancesRequest {
            parent: format!("partners/{}", admin.tenant_id),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        page.acceptances.len(),
        1,
        "the agreements page lists the acceptance"
    );
    let activated = enrollment_pb::GetEnrollmentRequest {
        name: enrollment_name.clone(),
    };
    let active = enrollment
        .enrollment(&admin)
        .get_enrollment(activated)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        active.agreement_version,
        "agreementVersions/mpa-indirect-2026"
    );
}

#[tokio::test]
async fn accepting_on_an_enrollment_that_is_not_approved_is_refused_with_its_reason() {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let agreement = start_agreement(enrollment.url()).await;
    let (admin, enrollment_name) = reseller(&enrollment, false).await;

    let status = agreement
        .agreement(&admin)
        .accept_partner_agreement(accept(&admin))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ENROLLMENT_NOT_APPROVED");
    assert!(
        status.message().contains(&enrollment_name),
        "{}",
        status.message()
    );
    assert_eq!(agreement.count_rows("partner_acceptances").await, 0);
    assert_eq!(
        agreement.count_rows("outbox_messages").await,
        1,
        "only the version's own event"
    );

    let sales = Actor::user(admin.tenant_id, &[suite_auth::Role::SalesAgent]);
    let denied = agreement
        .agreement(&sales)
        .accept_partner_agreement(accept(&admin))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("GLOBAL_ADMIN"),
        "{}",
        denied.message()
    );
}

#[tokio::test]
async fn acceptance_while_the_enrollment_service_is_down_completes_once_it_is_back_exactly_once() {
    let enrollment = spawn_service(enrollment::run, PeerUrls::default()).await;
    let agreement = start_agreement(enrollment.url()).await;
    let (admin, enrollment_name) = reseller(&enrollment, true).await;

    let (addr, database) = enrollment.stop_keeping_database().await;
    let request = accept(&admin);
    let accepted = agreement
        .agreement(&admin)
        .accept_partner_agreement(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.activation_state,
        agreement_pb::ActivationState::Pending as i32
    );
    // A client retry while the enrollment service is still down replays the first answer.
    let retried = agreement
        .agreement(&admin)
        .accept_partner_agreement(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried, accepted);
    assert_eq!(agreement.count_rows("partner_acceptances").await, 1);

    // Wait until the relay has tried and failed against the closed port at least once.
    eventually("a delivery attempt failed", DEADLINE, || async {
        let attempts: i64 = agreement.count_rows("outbox_messages").await;
        attempts > 0
            && agreement
                .database
                .outbox_attempts("agreement.v1.enrollment_activation")
                .await
                > 0
    })
    .await;

    let enrollment = spawn_service_with(enrollment::run, PeerUrls::default(), database, addr).await;
    eventually("the enrollment is ACTIVE", DEADLINE, || async {
        enrollment_state(&enrollment, &admin, &enrollment_name).await
            == enrollment_pb::EnrollmentState::Active
    })
    .await;
    acceptance_activated(&agreement, &admin, &accepted.name).await;

    let actions = enrollment.database.audit_actions(&enrollment_name).await;
    assert_eq!(
        actions,
        [
            "CreateEnrollment",
            "ApproveEnrollment",
            "ActivateEnrollment"
        ],
        "activated exactly once"
    );
    assert_eq!(
        agreement.count_rows("partner_acceptances").await,
        1,
        "recorded exactly once"
    );
}
