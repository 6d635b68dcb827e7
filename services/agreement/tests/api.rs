//! The agreement service over real gRPC: an operator-kept catalogue that every partner reads.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_config::PeerUrls;
use suite_proto::agreement::v1 as pb;
use suite_testkit::{Actor, TestService, bad_fields, reason, request_id, spawn_service};
use tonic::Code;
use uuid::Uuid;

async fn agreement() -> TestService {
    // The catalogue never calls a peer; nothing listens on port 1.
    let peers = PeerUrls {
        enrollment: Some("http://127.0.0.1:1".into()),
        relationship: Some("http://127.0.0.1:1".into()),
        ..PeerUrls::default()
    };
    spawn_service(agreement::run, peers).await
}

fn publish(
    template_id: &str,
    agreement_type: pb::AgreementType,
) -> pb::CreateAgreementVersionRequest {
    pb::CreateAgreementVersionRequest {
        request_id: request_id(),
        agreement_version: Some(pb::AgreementVersion {
            template_id: template_id.into(),
            agreement_type: agreement_type as i32,
            display_name: format!("Agreement {template_id}"),
            effective_time: Some(prost_types::Timestamp {
                seconds: 1_767_225_600,
                nanos: 0,
            }),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn operator_publishes_versions_that_partners_list_by_type() {
    let service = agreement().await;
    let mut operator = service.agreement(&Actor::operator());
    operator
        .create_agreement_version(publish("mca-2026-01", pb::AgreementType::Customer))
        .await
        .unwrap();
    operator
        .create_agreement_version(publish(
            "mpa-indirect-2026",
            pb::AgreementType::PartnerIndirectReseller,
        ))
        .await
        .unwrap();

    let mut partner = service.agreement(&Actor::global_admin(Uuid::new_v4()));
    let customer_versions = partner
        .list_agreement_versions(pb::ListAgreementVersionsRequest {
            agreement_type: pb::AgreementType::Customer as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = customer_versions
        .agreement_versions
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(names, ["agreementVersions/mca-2026-01"]);

    let fetched = partner
        .get_agreement_version(pb::GetAgreementVersionRequest {
            name: "agreementVersions/mpa-indirect-2026".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        fetched.agreement_type,
        pb::AgreementType::PartnerIndirectReseller as i32
    );
    assert_eq!(fetched.effective_time.unwrap().seconds, 1_767_225_600);
}

#[tokio::test]
async fn partner_cannot_publish_a_version() {
    let service = agreement().await;
    let mut partner = service.agreement(&Actor::global_admin(Uuid::new_v4()));

    let status = partner
        .create_agreement_version(publish("mca-2026-02", pb::AgreementType::Customer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "OPERATOR_REQUIRED");
    assert_eq!(service.count_rows("agreement_versions").await, 0);
}

#[tokio::test]
async fn unknown_version_is_not_found_and_no_token_is_unauthenticated() {
    let service = agreement().await;
    let status = service
        .agreement(&Actor::global_admin(Uuid::new_v4()))
        .get_agreement_version(pb::GetAgreementVersionRequest {
            name: "agreementVersions/mca-1999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let mut anonymous =
        pb::agreement_service_client::AgreementServiceClient::new(service.anonymous_channel());
    let status = anonymous
        .list_agreement_versions(pb::ListAgreementVersionsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn republishing_with_the_same_request_id_replays_and_a_new_one_already_exists() {
    let service = agreement().await;
    let mut operator = service.agreement(&Actor::operator());
    let request = publish("mca-2026-03", pb::AgreementType::Customer);

    let first = operator
        .create_agreement_version(request.clone())
        .await
        .unwrap()
        .into_inner();
    let replay = operator
        .create_agreement_version(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first, replay);

    let duplicate = operator
        .create_agreement_version(publish("mca-2026-03", pb::AgreementType::Customer))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert_eq!(service.count_rows("agreement_versions").await, 1);
    assert_eq!(service.count_rows("audit_events").await, 1);
}

#[tokio::test]
async fn malformed_version_names_each_field_and_writes_nothing() {
    let service = agreement().await;
    let mut request = publish("MCA 2026", pb::AgreementType::Unspecified);
    request.agreement_version.as_mut().unwrap().effective_time = None;

    let status = service
        .agreement(&Actor::operator())
        .create_agreement_version(request)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        [
            "agreement_version.template_id",
            "agreement_version.agreement_type",
            "agreement_version.effective_time"
        ]
    );
    assert_eq!(service.count_rows("agreement_versions").await, 0);
}
