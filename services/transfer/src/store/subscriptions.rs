//! Subscriptions: orders, changes, reads.

use std::collections::HashSet;

use prost::Message;
use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::TransferStore;
use crate::domain::subscription::{Price, parse_offer_kind};
use crate::domain::{CustomerRef, NewSubscription, Subscription, SubscriptionUpdate};
use crate::error::Error;

pub(super) const SUBSCRIPTION_COLUMNS: &str = "id, partner_tenant_id, customer_tenant_id, offer_id, offer_kind, quantity, \
     base_subscription_id, status, auto_renew, billing_period, currency_code, unit_price_minor, azure_subscription_id, \
     transferred_from, transferred_to, create_time, update_time, cancel_time, cancellation_credit_minor, version";

impl TransferStore {
    /// Records `subscription` ordered for `customer`, or replays an earlier identical
    /// request. An add-on's base is checked inside the transaction.
    pub async fn create_subscription(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        customer: CustomerRef,
        subscription: NewSubscription,
        now: i64,
    ) -> Result<pb::Subscription, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Subscription>(&mut tx).await? {
            return Ok(response);
        }
        if let Some(base_id) = subscription.base_subscription_id {
            let lock = suite_db::for_update(&tx);
            let base = fetch_subscription(&mut tx, customer, base_id, lock).await?;
            let base_in_transfer = !open_among(&mut tx, vec![base_id]).await?.is_empty();
            subscription.check_base(
                base.as_ref(),
                &crate::domain::subscription::subscription_name(customer, base_id),
                base_in_transfer,
            )?;
        }
        let created = Subscription {
            id: Uuid::now_v7(),
            partner_tenant_id: customer.partner_tenant_id,
            customer_tenant_id: customer.customer_tenant_id,
            offer_id: subscription.offer_id,
            offer_kind: subscription.offer_kind,
            quantity: subscription.quantity,
            base_subscription_id: subscription.base_subscription_id,
            status: pb::SubscriptionStatus::Active,
            auto_renew: subscription.auto_renew,
            billing_period: subscription.billing_period,
            unit_price: subscription.unit_price,
            azure_subscription_id: subscription.azure_subscription_id,
            transferred_from: String::new(),
            transferred_to: String::new(),
            create_time: now,
            update_time: now,
            cancel_time: None,
            cancellation_credit: None,
            version: 1,
        };
        match insert_subscription(&mut tx, &created).await {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::Precondition {
                    reason: "AZURE_SUBSCRIPTION_ALREADY_BILLED",
                    message: "this Azure subscription id is already billed by a partner: an Azure subscription moves by transfer, it is not ordered twice".into(),
                });
            }
            other => other?,
        }
        let name = created.name();
        let response = pb::Subscription::from(&created);
        let change = Change {
            tenant_id: customer.partner_tenant_id,
            resource_name: &name,
            action: "CreateSubscription",
            topic: "transfer.v1.subscription.created",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Applies `update` to subscription `id` of `customer`.
    pub async fn update_subscription(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        customer: CustomerRef,
        id: Uuid,
        update: &SubscriptionUpdate,
        now: i64,
    ) -> Result<pb::Subscription, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Subscription>(&mut tx).await? {
            return Ok(response);
        }
        let current = fetch_billed(&mut tx, customer, id).await?;
        let next = update.apply(&current, now)?;
        save_subscription(&mut tx, &current, &next).await?;
        let response = record_subscription_change(
            &mut tx,
            caller,
            key,
            (&current, &next),
            "UpdateSubscription",
            "transfer.v1.subscription.updated",
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Cancels subscription `id` of `customer` at `now`, crediting what the rules give.
    pub async fn cancel_subscription(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        customer: CustomerRef,
        id: Uuid,
        now: i64,
    ) -> Result<pb::Subscription, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Subscription>(&mut tx).await? {
            return Ok(response);
        }
        let current = fetch_billed(&mut tx, customer, id).await?;
        let in_transfer = !open_among(&mut tx, vec![id]).await?.is_empty();
        let add_ons = sqlx::query(
            "SELECT COUNT(*) AS n FROM subscriptions WHERE base_subscription_id = $1 AND status = 'SUBSCRIPTION_STATUS_ACTIVE'",
        )
        .bind(id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let add_ons: i64 = add_ons.try_get("n").map_err(StoreError::from)?;
        let next = crate::domain::subscription::cancelled(
            &current,
            in_transfer,
            usize::try_from(add_ons).unwrap_or(usize::MAX),
            now,
        )?;
        save_subscription(&mut tx, &current, &next).await?;
        let response = record_subscription_change(
            &mut tx,
            caller,
            key,
            (&current, &next),
            "CancelSubscription",
            "transfer.v1.subscription.cancelled",
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Subscription `id` of `customer`, if recorded.
    pub async fn get_subscription(
        &self,
        customer: CustomerRef,
        id: Uuid,
    ) -> Result<Option<Subscription>, StoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 AND id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.partner_tenant_id.to_string())
            .bind(customer.customer_tenant_id.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// One page of `customer`'s subscriptions, oldest first; those that left by transfer
    /// are not listed.
    pub async fn list_subscriptions(
        &self,
        customer: CustomerRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 \
             AND status <> 'SUBSCRIPTION_STATUS_TRANSFERRED' AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.partner_tenant_id.to_string())
            .bind(customer.customer_tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let subscriptions = rows
            .iter()
            .map(subscription_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, subscriptions, |s| s.id.to_string()))
    }

    /// Which of `subscriptions` are in an open transfer request.
    pub async fn in_open_requests(
        &self,
        subscriptions: &[Subscription],
    ) -> Result<HashSet<Uuid>, StoreError> {
        let mut tx = self.db.begin().await?;
        let open = open_among(&mut tx, subscriptions.iter().map(|s| s.id).collect()).await?;
        tx.commit().await?;
        Ok(open)
    }
}

/// Which of `ids` are in an open transfer request, read in `tx`.
pub(super) async fn open_among(tx: &mut Tx, ids: Vec<Uuid>) -> Result<HashSet<Uuid>, StoreError> {
    let mut open = HashSet::new();
    // One query per chunk, not per subscription: a customer may have hundreds.
    for chunk in ids.chunks(OPEN_CHECK_CHUNK) {
        let sql = format!(
            "SELECT subscription_id FROM transfer_line_items WHERE open = 1 AND subscription_id IN ({})",
            suite_db::placeholders(1..=chunk.len())
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, id| {
                query.bind(id.to_string())
            });
        for row in query.fetch_all(&mut **tx).await? {
            open.insert(columns::uuid(&row, "subscription_id")?);
        }
    }
    Ok(open)
}

/// Most ids one open-request check binds (well below either backend's parameter limit).
const OPEN_CHECK_CHUNK: usize = 500;

/// Subscription `id` of `customer` read inside `tx`, locked with `lock` where the backend
/// locks rows.
pub(super) async fn fetch_subscription(
    tx: &mut Tx,
    customer: CustomerRef,
    id: Uuid,
    lock: &str,
) -> Result<Option<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 AND id = $3{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer.partner_tenant_id.to_string())
        .bind(customer.customer_tenant_id.to_string())
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(subscription_from_row).transpose()
}

/// Subscription `id` of `customer`, still billed here (not transferred away), read in `tx`
/// and locked; NOT_FOUND otherwise.
async fn fetch_billed(tx: &mut Tx, customer: CustomerRef, id: Uuid) -> Result<Subscription, Error> {
    let lock = suite_db::for_update(tx);
    fetch_subscription(tx, customer, id, lock)
        .await?
        .filter(|s| s.status != pb::SubscriptionStatus::Transferred)
        .ok_or_else(|| {
            Error::SubscriptionNotFound(crate::domain::subscription::subscription_name(
                customer, id,
            ))
        })
}

/// Saves `next` over `current` unless someone changed it since it was read.
pub(super) async fn save_subscription(
    tx: &mut Tx,
    current: &Subscription,
    next: &Subscription,
) -> Result<(), Error> {
    let saved = sqlx::query(
        "UPDATE subscriptions SET quantity = $1, auto_renew = $2, status = $3, transferred_to = $4, cancel_time = $5, \
         cancellation_credit_minor = $6, update_time = $7, version = $8 WHERE id = $9 AND version = $10",
    )
    .bind(i64::from(next.quantity))
    .bind(i64::from(next.auto_renew))
    .bind(next.status.as_str_name())
    .bind(&next.transferred_to)
    .bind(next.cancel_time)
    .bind(next.cancellation_credit)
    .bind(next.update_time)
    .bind(next.version)
    .bind(current.id.to_string())
    .bind(current.version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if saved.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(current.name()));
    }
    Ok(())
}

/// The trail, event and idempotent answer of a change from `current` to `next`.
async fn record_subscription_change(
    tx: &mut Tx,
    caller: &Caller,
    key: &IdempotencyKey,
    (current, next): (&Subscription, &Subscription),
    action: &str,
    topic: &str,
) -> Result<pb::Subscription, Error> {
    let name = next.name();
    let response = pb::Subscription::from(next);
    let change = Change {
        tenant_id: next.partner_tenant_id,
        resource_name: &name,
        action,
        topic,
        before: Some(pb::Subscription::from(current).encode_to_vec()),
        after: &response,
    };
    suite_db::record_change(tx, caller, key, change).await?;
    Ok(response)
}

/// The subscriptions of `customer` still with it (not transferred away) that a request
/// naming `named` concerns: those named and their add-ons, read in `tx` and locked in id
/// order where the backend locks rows. The customer's other subscriptions are neither
/// returned nor locked.
pub(super) async fn named_subscriptions(
    tx: &mut Tx,
    customer: CustomerRef,
    named: &[Uuid],
) -> Result<Vec<Subscription>, StoreError> {
    if named.is_empty() {
        return Ok(Vec::new());
    }
    let lock = suite_db::for_update(tx);
    // Each id is bound once and compared twice; a request names at most
    // MAX_NAMED_SUBSCRIPTIONS, far below either backend's parameter limit. `<> ''` lets the
    // partial index of add-ons by base serve the second arm.
    let ids = suite_db::placeholders(3..=named.len() + 2);
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 \
         AND status <> 'SUBSCRIPTION_STATUS_TRANSFERRED' AND (id IN ({ids}) OR (base_subscription_id <> '' AND base_subscription_id IN ({ids}))) \
         ORDER BY id{lock}"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(named.len() <= PREPARED_UP_TO)
        .bind(customer.partner_tenant_id.to_string())
        .bind(customer.customer_tenant_id.to_string());
    let rows = named
        .iter()
        .fold(query, |query, id| query.bind(id.to_string()))
        .fetch_all(&mut **tx)
        .await?;
    rows.iter().map(subscription_from_row).collect()
}

/// Requests naming up to this many subscriptions (nearly all) use a prepared statement; the
/// rare larger ones are parsed each time rather than crowd the connection's cache of them.
const PREPARED_UP_TO: usize = 4;

pub(super) async fn insert_subscription(
    tx: &mut Tx,
    subscription: &Subscription,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(subscription.id.to_string())
        .bind(subscription.partner_tenant_id.to_string())
        .bind(subscription.customer_tenant_id.to_string())
        .bind(&subscription.offer_id)
        .bind(subscription.offer_kind.as_str_name())
        .bind(i64::from(subscription.quantity))
        .bind(optional_id(subscription.base_subscription_id))
        .bind(subscription.status.as_str_name())
        .bind(i64::from(subscription.auto_renew))
        .bind(subscription.billing_period.as_str_name())
        .bind(&subscription.unit_price.currency_code)
        .bind(subscription.unit_price.amount_minor)
        .bind(optional_id(subscription.azure_subscription_id))
        .bind(&subscription.transferred_from)
        .bind(&subscription.transferred_to)
        .bind(subscription.create_time)
        .bind(subscription.update_time)
        .bind(subscription.cancel_time)
        .bind(subscription.cancellation_credit)
        .bind(subscription.version)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An optional id as stored: the empty string for none.
pub(super) fn optional_id(id: Option<Uuid>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

pub(super) fn subscription_from_row(row: &AnyRow) -> Result<Subscription, StoreError> {
    let uuid = |column: &str| columns::uuid(row, column);
    let enum_column = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let offer_kind = enum_column("offer_kind")?;
    let offer_kind = pb::OfferKind::from_str_name(&offer_kind)
        .ok_or_else(|| StoreError::Corrupt(format!("offer_kind {offer_kind}")))?;
    let status = enum_column("status")?;
    let status = pb::SubscriptionStatus::from_str_name(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("status {status}")))?;
    let billing_period = enum_column("billing_period")?;
    let billing_period = pb::BillingPeriod::from_str_name(&billing_period)
        .ok_or_else(|| StoreError::Corrupt(format!("billing_period {billing_period}")))?;
    let quantity: i64 = row.try_get("quantity")?;
    Ok(Subscription {
        id: uuid("id")?,
        partner_tenant_id: uuid("partner_tenant_id")?,
        customer_tenant_id: uuid("customer_tenant_id")?,
        offer_id: row.try_get("offer_id")?,
        offer_kind: parse_offer_kind(offer_kind as i32).map_err(StoreError::Corrupt)?,
        quantity: i32::try_from(quantity)
            .map_err(|e| StoreError::Corrupt(format!("quantity: {e}")))?,
        base_subscription_id: columns::optional_uuid(row, "base_subscription_id")?,
        status,
        auto_renew: columns::flag(row, "auto_renew")?,
        billing_period,
        unit_price: Price {
            currency_code: row.try_get("currency_code")?,
            amount_minor: row.try_get("unit_price_minor")?,
        },
        azure_subscription_id: columns::optional_uuid(row, "azure_subscription_id")?,
        transferred_from: row.try_get("transferred_from")?,
        transferred_to: row.try_get("transferred_to")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        cancel_time: row.try_get("cancel_time")?,
        cancellation_credit: row.try_get("cancellation_credit_minor")?,
        version: row.try_get("version")?,
    })
}
