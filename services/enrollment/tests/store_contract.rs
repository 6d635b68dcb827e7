//! The enrollment store's contract, run against the backend `TEST_DATABASE_URL` selects
//! (SQLite when unset); CI runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use enrollment::{EnrollmentStore, MIGRATIONS};
use suite_db::IdempotencyKey;
use suite_proto::enrollment::v1 as pb;
use suite_testkit::{Actor, TestDatabase, migrated_database, page_codec, request_id};
use uuid::Uuid;

/// 2026-11-20 09:00 UTC.
const NOW: i64 = 1_795_165_200_000_000;

async fn store() -> (EnrollmentStore, TestDatabase) {
    let database = migrated_database(MIGRATIONS).await;
    (
        EnrollmentStore::new(database.database(), page_codec()),
        database,
    )
}

fn new_partner(name: &str) -> enrollment::NewPartner {
    enrollment::NewPartner {
        tenant_id: None,
        legal_name: name.into(),
        country_code: "FR".into(),
        primary_contact_email: "admin@example.fr".into(),
        partner_program_id: None,
        program_account_email: None,
        integration_sandbox: false,
    }
}

fn key(actor: &Actor, request_id: &str, legal_name: &str) -> IdempotencyKey {
    let request = pb::CreatePartnerRequest {
        request_id: request_id.into(),
        partner: Some(pb::Partner {
            legal_name: legal_name.into(),
            ..Default::default()
        }),
    };
    IdempotencyKey::new(&actor.caller(), "CreatePartner", request_id, &request).unwrap()
}

#[tokio::test]
async fn created_partner_reads_back_with_every_field() {
    let (store, _db) = store().await;
    let actor = Actor::global_admin(Uuid::new_v4());
    let created = store
        .create_partner(
            &actor.caller(),
            &key(&actor, &request_id(), "A"),
            actor.tenant_id,
            new_partner("A"),
            NOW,
        )
        .await
        .unwrap();

    let stored = store.get_partner(actor.tenant_id).await.unwrap().unwrap();
    assert_eq!(pb::Partner::from(&stored), created);
    assert_eq!(stored.partner_program_id, None);
    assert!(store.get_partner(Uuid::new_v4()).await.unwrap().is_none());
}

#[tokio::test]
async fn second_partner_for_a_tenant_is_refused_and_rolled_back() {
    let (store, db) = store().await;
    let actor = Actor::global_admin(Uuid::new_v4());
    store
        .create_partner(
            &actor.caller(),
            &key(&actor, &request_id(), "A"),
            actor.tenant_id,
            new_partner("A"),
            NOW,
        )
        .await
        .unwrap();

    let error = store
        .create_partner(
            &actor.caller(),
            &key(&actor, &request_id(), "B"),
            actor.tenant_id,
            new_partner("B"),
            NOW,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, enrollment::Error::PartnerExists(_)),
        "{error:?}"
    );
    for table in [
        "partners",
        "audit_events",
        "outbox_messages",
        "idempotency_keys",
    ] {
        assert_eq!(db.count_rows(table).await, 1, "{table}");
    }
}

#[tokio::test]
async fn concurrent_retries_of_one_request_create_one_partner() {
    let (store, db) = store().await;
    let actor = Actor::global_admin(Uuid::new_v4());
    let id = request_id();
    let attempts = (0..4).map(|_| {
        let store = store.clone();
        let actor = actor.clone();
        let key = key(&actor, &id, "A");
        tokio::spawn(async move {
            store
                .create_partner(
                    &actor.caller(),
                    &key,
                    actor.tenant_id,
                    new_partner("A"),
                    NOW,
                )
                .await
        })
    });
    let mut responses = Vec::new();
    for attempt in attempts {
        responses.push(attempt.await.unwrap().unwrap());
    }
    assert!(responses.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(db.count_rows("partners").await, 1);
    assert_eq!(db.count_rows("audit_events").await, 1);
}

#[tokio::test]
async fn listing_pages_by_tenant_id_and_filters_to_one_tenant() {
    let (store, _db) = store().await;
    let mut tenants = Vec::new();
    for _ in 0..3 {
        let actor = Actor::global_admin(Uuid::new_v4());
        store
            .create_partner(
                &actor.caller(),
                &key(&actor, &request_id(), "A"),
                actor.tenant_id,
                new_partner("A"),
                NOW,
            )
            .await
            .unwrap();
        tenants.push(actor.tenant_id);
    }
    tenants.sort_by_key(Uuid::to_string);
    let codec = page_codec();

    let first = store
        .list_partners(None, &codec.request(2, "", "").unwrap())
        .await
        .unwrap();
    let second = store
        .list_partners(None, &codec.request(2, &first.next_page_token, "").unwrap())
        .await
        .unwrap();
    let listed: Vec<Uuid> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|p| p.tenant_id)
        .collect();
    assert_eq!(listed, tenants);
    assert!(second.next_page_token.is_empty());

    let only = store
        .list_partners(Some(tenants[1]), &codec.request(10, "", "x").unwrap())
        .await
        .unwrap();
    assert_eq!(
        only.items.iter().map(|p| p.tenant_id).collect::<Vec<_>>(),
        [tenants[1]]
    );
}
