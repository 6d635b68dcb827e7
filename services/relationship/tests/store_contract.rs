//! The relationship store's contract, run against the backend `TEST_DATABASE_URL` selects
//! (SQLite when unset); CI runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use relationship::{MIGRATIONS, NewCustomer, RelationshipStore};
use suite_db::IdempotencyKey;
use suite_proto::relationship::v1 as pb;
use suite_testkit::{Actor, TestDatabase, migrated_database, page_codec, request_id};
use uuid::Uuid;

async fn store() -> (RelationshipStore, TestDatabase) {
    let database = migrated_database(MIGRATIONS).await;
    (
        RelationshipStore::new(database.database(), page_codec()),
        database,
    )
}

/// `partner`'s direct-bill view of `customer_tenant_id`.
fn customer(partner: Uuid, customer_tenant_id: Uuid) -> relationship::Customer {
    NewCustomer {
        customer_tenant_id,
        display_name: "Tailspin Toys".into(),
        domain: "tailspin.onmicrosoft.com".into(),
        country_code: "CA".into(),
        billing: Default::default(),
    }
    .into_direct_bill_view(partner, suite_time::now_micros())
}

fn key(actor: &Actor) -> IdempotencyKey {
    let request = pb::CreateCustomerRequest {
        request_id: request_id(),
        ..Default::default()
    };
    IdempotencyKey::new(
        &actor.caller(),
        "CreateCustomer",
        &request.request_id,
        &request,
    )
    .unwrap()
}

#[tokio::test]
async fn customers_are_kept_per_partner() {
    let (store, _db) = store().await;
    let (alpha, beta) = (
        Actor::admin_agent(Uuid::new_v4()),
        Actor::admin_agent(Uuid::new_v4()),
    );
    let shared_customer = Uuid::new_v4();
    let created = store
        .create_customer(
            &alpha.caller(),
            &key(&alpha),
            customer(alpha.tenant_id, shared_customer),
        )
        .await
        .unwrap();
    // A tenant is created once: another partner cannot record it again.
    let taken = store
        .create_customer(
            &beta.caller(),
            &key(&beta),
            customer(beta.tenant_id, shared_customer),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(taken, relationship::Error::CustomerTenantExists(_)),
        "{taken:?}"
    );

    let listed = store
        .list_customers(alpha.tenant_id, &page_codec().request(10, "", "a").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.items, std::slice::from_ref(&created));
    assert_eq!(
        created.name,
        format!("partners/{}/customers/{shared_customer}", alpha.tenant_id)
    );
    assert_eq!(
        store
            .get_customer(alpha.tenant_id, shared_customer)
            .await
            .unwrap(),
        Some(created)
    );
    assert!(
        store
            .get_customer(beta.tenant_id, shared_customer)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn one_partner_records_a_customer_tenant_once() {
    let (store, db) = store().await;
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer_tenant = Uuid::new_v4();
    store
        .create_customer(
            &agent.caller(),
            &key(&agent),
            customer(agent.tenant_id, customer_tenant),
        )
        .await
        .unwrap();

    let error = store
        .create_customer(
            &agent.caller(),
            &key(&agent),
            customer(agent.tenant_id, customer_tenant),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, relationship::Error::CustomerTenantExists(_)),
        "{error:?}"
    );
    assert_eq!(db.count_rows("customers").await, 1);
    assert_eq!(db.count_rows("idempotency_keys").await, 1);
}
