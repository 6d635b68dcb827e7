//! The transfer store's contract, run against the backend `TEST_DATABASE_URL` selects
//! (SQLite when unset); CI runs it on both.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_db::IdempotencyKey;
use suite_proto::transfer::v1 as pb;
use suite_testkit::{Actor, migrated_database, page_codec, request_id};
use transfer::domain::subscription::Price;
use transfer::domain::{CustomerRef, NewSubscription, NewTransferRequest};
use transfer::{MIGRATIONS, TransferStore};
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

/// A monthly Microsoft 365 E3 subscription of `quantity` licences.
fn licences(quantity: i32) -> NewSubscription {
    NewSubscription {
        offer_id: "O365-E3".into(),
        offer_kind: pb::OfferKind::LegacyLicense,
        quantity,
        base_subscription_id: None,
        auto_renew: true,
        billing_period: pb::BillingPeriod::Monthly,
        unit_price: Price {
            currency_code: "USD".into(),
            amount_minor: 2_300,
        },
        azure_subscription_id: None,
    }
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
    let licences = licences(25);

    let created = store
        .create_subscription(&agent.caller(), &key(&agent), customer, licences, 1)
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

#[tokio::test]
async fn the_database_holds_a_subscription_in_one_open_request_at_most() {
    let database = migrated_database(MIGRATIONS).await;
    let store = TransferStore::new(database.database(), page_codec());
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer = CustomerRef {
        partner_tenant_id: agent.tenant_id,
        customer_tenant_id: Uuid::new_v4(),
    };
    let subscription = store
        .create_subscription(
            &agent.caller(),
            &key(&agent),
            customer,
            NewSubscription {
                offer_id: "MS-AZR-0145P".into(),
                offer_kind: pb::OfferKind::AzurePayAsYouGo,
                quantity: 1,
                base_subscription_id: None,
                auto_renew: false,
                billing_period: pb::BillingPeriod::Usage,
                unit_price: Price {
                    currency_code: "USD".into(),
                    amount_minor: 0,
                },
                azure_subscription_id: Some(Uuid::new_v4()),
            },
            1,
        )
        .await
        .unwrap();
    let id = Uuid::parse_str(subscription.name.rsplit('/').next().unwrap()).unwrap();
    let new = NewTransferRequest {
        customer,
        provider_tenant_id: Uuid::new_v4(),
        subscription_ids: vec![id],
    };
    let request = pb::CreateTransferRequestRequest {
        request_id: request_id(),
        ..Default::default()
    };
    let transfer_key = IdempotencyKey::new(
        &agent.caller(),
        "CreateTransferRequest",
        &request.request_id,
        &request,
    )
    .unwrap();
    store
        .create_transfer_request(&agent.caller(), &transfer_key, &new, 1, 100)
        .await
        .unwrap();

    // Even a write that skips every check in code cannot put it in a second open request.
    let second = sqlx::query(
        "INSERT INTO transfer_line_items (request_id, position, subscription_id, offer_id, offer_kind, quantity, \
         base_subscription_id, included_with_base, transferred_subscription_id, open) \
         VALUES ($1, 0, $2, 'MS-AZR-0145P', 'OFFER_KIND_AZURE_PAY_AS_YOU_GO', 1, '', 0, '', 1)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(id.to_string())
    .execute(database.database().pool())
    .await;
    assert!(second.is_err(), "a second open line item was accepted");
    // A closed one (a request that ended) is allowed.
    sqlx::query(
        "INSERT INTO transfer_line_items (request_id, position, subscription_id, offer_id, offer_kind, quantity, \
         base_subscription_id, included_with_base, transferred_subscription_id, open) \
         VALUES ($1, 0, $2, 'MS-AZR-0145P', 'OFFER_KIND_AZURE_PAY_AS_YOU_GO', 1, '', 0, '', 0)",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(id.to_string())
    .execute(database.database().pool())
    .await
    .unwrap();

    // Nor does the subscription gain add-ons or end while the request is open.
    let cancelled = store
        .cancel_subscription(&agent.caller(), &key(&agent), customer, id, 2)
        .await;
    assert!(
        matches!(
            cancelled,
            Err(transfer::Error::Precondition {
                reason: "SUBSCRIPTION_IN_OPEN_TRANSFER_REQUEST",
                ..
            })
        ),
        "{cancelled:?}"
    );
}

/// A store on a fresh database with a customer's licence-based subscription in a request
/// created and accepted at times 2 and 3.
struct Accepted {
    database: suite_testkit::TestDatabase,
    store: TransferStore,
    customer: CustomerRef,
    base_id: Uuid,
    id: Uuid,
}

async fn accepted_transfer() -> Accepted {
    let database = migrated_database(MIGRATIONS).await;
    let store = TransferStore::new(database.database(), page_codec());
    let agent = Actor::admin_agent(Uuid::new_v4());
    let customer = CustomerRef {
        partner_tenant_id: agent.tenant_id,
        customer_tenant_id: Uuid::new_v4(),
    };
    let base = store
        .create_subscription(&agent.caller(), &key(&agent), customer, licences(10), 1)
        .await
        .unwrap();
    let base_id = Uuid::parse_str(base.name.rsplit('/').next().unwrap()).unwrap();
    let subscription = base_id;
    let request = pb::CreateTransferRequestRequest {
        request_id: request_id(),
        ..Default::default()
    };
    let created = store
        .create_transfer_request(
            &agent.caller(),
            &IdempotencyKey::new(
                &agent.caller(),
                "CreateTransferRequest",
                &request.request_id,
                &request,
            )
            .unwrap(),
            &NewTransferRequest {
                customer,
                provider_tenant_id: Uuid::new_v4(),
                subscription_ids: vec![subscription],
            },
            2,
            1_000,
        )
        .await
        .unwrap();
    let id = Uuid::parse_str(created.name.rsplit('/').next().unwrap()).unwrap();
    let accept = pb::AcceptTransferRequestRequest {
        request_id: request_id(),
        ..Default::default()
    };
    store
        .decide_transfer_request(
            &agent.caller(),
            &IdempotencyKey::new(
                &agent.caller(),
                "AcceptTransferRequest",
                &accept.request_id,
                &accept,
            )
            .unwrap(),
            id,
            "AcceptTransferRequest",
            |current| current.accepted(3, 10_000),
        )
        .await
        .unwrap();
    Accepted {
        database,
        store,
        customer,
        base_id,
        id,
    }
}

#[tokio::test]
async fn an_executor_that_lost_its_lease_changes_nothing_twice() {
    let Accepted {
        database,
        store,
        id,
        ..
    } = accepted_transfer().await;

    // Executor A reads the request, then stalls past its lease; executor B, given the
    // message, checks and moves.
    let read_by_a = store.transfer_request(id).await.unwrap().unwrap();
    let moving = read_by_a.advanced(pb::TransferStep::MoveSubscriptions, 4);
    assert!(
        store
            .record_step(&read_by_a, &moving, "PASSED", "")
            .await
            .unwrap()
    );
    let read_by_b = store.transfer_request(id).await.unwrap().unwrap();
    assert!(matches!(
        store.move_subscriptions(&read_by_b, 5).await,
        Ok(transfer::MoveOutcome::Completed)
    ));

    // A wakes up with what it read: its step, its move and its failure are all refused.
    let late_step = read_by_a.advanced(pb::TransferStep::MoveSubscriptions, 6);
    assert!(
        !store
            .record_step(&read_by_a, &late_step, "PASSED", "")
            .await
            .unwrap()
    );
    assert!(matches!(
        store.move_subscriptions(&read_by_a, 7).await,
        Ok(transfer::MoveOutcome::Superseded)
    ));
    // Nor does it go on from the step it saved itself: that version has moved on too.
    assert!(matches!(
        store.move_subscriptions(&moving, 7).await,
        Ok(transfer::MoveOutcome::Superseded)
    ));
    assert!(
        !store
            .fail_transfer(&read_by_a, "LATE", "a stale executor", 8)
            .await
            .unwrap()
    );

    let done = store.transfer_request(id).await.unwrap().unwrap();
    assert_eq!(done.state, pb::TransferRequestState::Completed);
    let copies: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscriptions WHERE offer_id = 'O365-E3' AND status = 'SUBSCRIPTION_STATUS_ACTIVE'",
    )
    .fetch_one(database.database().pool())
    .await
    .unwrap();
    assert_eq!(copies, 1, "the subscription is active on one side only");
    let steps: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM transfer_steps WHERE request_id = $1")
            .bind(id.to_string())
            .fetch_one(database.database().pool())
            .await
            .unwrap();
    assert_eq!(steps, 2, "one PASSED check and one COMPLETED move");
}

#[tokio::test]
async fn a_move_refuses_a_base_whose_add_on_joined_after_the_request() {
    let Accepted {
        database,
        store,
        customer,
        base_id,
        id,
    } = accepted_transfer().await;
    let accepted = store.transfer_request(id).await.unwrap().unwrap();
    let moving = accepted.advanced(pb::TransferStep::MoveSubscriptions, 4);
    assert!(
        store
            .record_step(&accepted, &moving, "PASSED", "")
            .await
            .unwrap()
    );

    // An add-on that slipped in after the request (a write the request's snapshot missed).
    sqlx::query(
        "INSERT INTO subscriptions (id, partner_tenant_id, customer_tenant_id, offer_id, offer_kind, quantity, \
         base_subscription_id, status, auto_renew, billing_period, currency_code, unit_price_minor, \
         azure_subscription_id, transferred_from, transferred_to, create_time, update_time, version) \
         VALUES ($1, $2, $3, 'O365-AUDIO-CONF', 'OFFER_KIND_LEGACY_LICENSE', 10, $4, 'SUBSCRIPTION_STATUS_ACTIVE', 1, \
         'BILLING_PERIOD_MONTHLY', 'USD', 400, '', '', '', 5, 5, 1)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(customer.partner_tenant_id.to_string())
    .bind(customer.customer_tenant_id.to_string())
    .bind(base_id.to_string())
    .execute(database.database().pool())
    .await
    .unwrap();

    let current = store.transfer_request(id).await.unwrap().unwrap();
    let refused = store.move_subscriptions(&current, 6).await;
    assert!(
        matches!(
            refused,
            Err(transfer::Error::Precondition {
                reason: "SUBSCRIPTION_CHANGED",
                ..
            })
        ),
        "{refused:?}"
    );
    // Nothing moved: the base is still the source's.
    let base = store
        .get_subscription(customer, base_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(base.status, pb::SubscriptionStatus::Active);
}
