//! The transfer store's contract, run against the backend `TEST_DATABASE_URL` selects
//! (SQLite when unset); CI runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_db::IdempotencyKey;
use suite_proto::transfer::v1 as pb;
use suite_testkit::{Actor, migrated_database, page_codec, request_id};
use transfer::{CustomerRef, MIGRATIONS, NewSubscription, TransferStore};
use uuid::Uuid;

fn key(actor: &Actor) -> IdempotencyKey {
    let request = pb::CreateSubscriptionRequest {
        request_id: request_id(),
        ..Default::default()
    };
    IdempotencyKey::new(
        &actor.caller(),
        "CreateSubscription",
        &request.request_id,
        &request,
    )
    .unwrap()
}

#[tokio::test]
async fn subscriptions_are_kept_per_customer_with_their_offer() {
    let database = migrated_database(MIGRATIONS).await;
    let store = TransferStore::new(database.database(), page_codec());
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer = CustomerRef {
        partner_tenant_id: agent.tenant_id,
        customer_tenant_id: Uuid::new_v4(),
    };
    let other = CustomerRef {
        partner_tenant_id: agent.tenant_id,
        customer_tenant_id: Uuid::new_v4(),
    };
    let licences = NewSubscription {
        offer_id: "O365-E3".into(),
        offer_kind: pb::OfferKind::LegacyLicense,
        quantity: 25,
    };

    let created = store
        .create_subscription(&agent.caller(), &key(&agent), customer, licences)
        .await
        .unwrap();
    let id = Uuid::parse_str(created.name.rsplit('/').next().unwrap()).unwrap();
    let stored = store.get_subscription(customer, id).await.unwrap().unwrap();
    assert_eq!(
        (stored.offer_kind, stored.quantity),
        (pb::OfferKind::LegacyLicense, 25)
    );
    assert!(store.get_subscription(other, id).await.unwrap().is_none());

    let listed = store
        .list_subscriptions(other, &page_codec().request(10, "", "o").unwrap())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
    assert_eq!(database.count_rows("outbox_messages").await, 1);
}
