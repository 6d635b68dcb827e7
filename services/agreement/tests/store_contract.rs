//! The agreement store's contract, run against the backend `TEST_DATABASE_URL` selects
//! (SQLite when unset); CI runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use agreement::{AgreementStore, MIGRATIONS, NewAgreementVersion};
use suite_db::IdempotencyKey;
use suite_proto::agreement::v1 as pb;
use suite_testkit::{Actor, migrated_database, page_codec, request_id};

fn version(template_id: &str, agreement_type: pb::AgreementType) -> NewAgreementVersion {
    NewAgreementVersion {
        template_id: template_id.into(),
        agreement_type,
        display_name: "Agreement".into(),
        effective_time: 1_767_225_600_000_000,
    }
}

fn key(actor: &Actor) -> IdempotencyKey {
    let request = pb::CreateAgreementVersionRequest {
        request_id: request_id(),
        ..Default::default()
    };
    IdempotencyKey::new(
        &actor.caller(),
        "CreateAgreementVersion",
        &request.request_id,
        &request,
    )
    .unwrap()
}

#[tokio::test]
async fn versions_filter_by_type_and_page_in_template_order() {
    let database = migrated_database(MIGRATIONS).await;
    let store = AgreementStore::new(database.database(), page_codec());
    let operator = Actor::operator();
    for (id, kind) in [
        ("mca-b", pb::AgreementType::Customer),
        ("mpa-a", pb::AgreementType::PartnerDirectBill),
        ("mca-a", pb::AgreementType::Customer),
    ] {
        store
            .create_version(&operator.caller(), &key(&operator), version(id, kind))
            .await
            .unwrap();
    }
    let codec = page_codec();
    let first = store
        .list_versions(
            Some(pb::AgreementType::Customer),
            &codec.request(1, "", "c").unwrap(),
        )
        .await
        .unwrap();
    let second = store
        .list_versions(
            Some(pb::AgreementType::Customer),
            &codec.request(1, &first.next_page_token, "c").unwrap(),
        )
        .await
        .unwrap();
    let ids: Vec<_> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|v| v.template_id.as_str())
        .collect();
    assert_eq!(ids, ["mca-a", "mca-b"]);

    let stored = store.get_version("mpa-a").await.unwrap().unwrap();
    assert_eq!(stored.agreement_type, pb::AgreementType::PartnerDirectBill);
    assert_eq!(stored.effective_time, 1_767_225_600_000_000);

    let duplicate = store
        .create_version(
            &operator.caller(),
            &key(&operator),
            version("mca-a", pb::AgreementType::Customer),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(duplicate, agreement::Error::VersionExists(_)),
        "{duplicate:?}"
    );
    assert_eq!(database.count_rows("agreement_versions").await, 3);
}
