//! Subscription storage, one implementation for SQLite and PostgreSQL (see `suite_db`).

use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{
    Change, Database, IdempotencyKey, Page, PageRequest, PageTokenCodec, Replay, StoreError,
    columns,
};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use crate::domain::{
    CustomerRef, NewSubscription, Subscription, parse_offer_kind, subscription_name,
};
use crate::error::Error;

const SUBSCRIPTION_COLUMNS: &str = "id, partner_tenant_id, customer_tenant_id, offer_id, offer_kind, quantity, create_time, version";

/// The transfer service's database.
#[derive(Clone)]
pub struct TransferStore {
    db: Database,
    pages: PageTokenCodec,
}

impl TransferStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }

    /// The answer to an earlier request with `key`, if there was one.
    pub async fn replayed(&self, key: &IdempotencyKey) -> Result<Option<pb::Subscription>, Error> {
        Ok(key.replayed(&self.db).await?)
    }

    /// Records `subscription` for `customer`, or replays an earlier identical request.
    pub async fn create_subscription(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        customer: CustomerRef,
        subscription: NewSubscription,
    ) -> Result<pb::Subscription, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Subscription>(&mut tx).await? {
            return Ok(response);
        }
        let created = Subscription {
            id: Uuid::now_v7(),
            partner_tenant_id: customer.partner_tenant_id,
            customer_tenant_id: customer.customer_tenant_id,
            offer_id: subscription.offer_id,
            offer_kind: subscription.offer_kind,
            quantity: subscription.quantity,
            create_time: suite_time::now_micros(),
            version: 1,
        };
        sqlx::query(
            "INSERT INTO subscriptions (id, partner_tenant_id, customer_tenant_id, offer_id, offer_kind, quantity, \
             create_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(created.id.to_string())
        .bind(created.partner_tenant_id.to_string())
        .bind(created.customer_tenant_id.to_string())
        .bind(&created.offer_id)
        .bind(created.offer_kind.as_str_name())
        .bind(i64::from(created.quantity))
        .bind(created.create_time)
        .bind(created.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;

        let name = subscription_name(customer, created.id);
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

    /// Subscription `id` of `customer`, if recorded.
    pub async fn get_subscription(
        &self,
        customer: CustomerRef,
        id: Uuid,
    ) -> Result<Option<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 AND id = $3"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer.partner_tenant_id.to_string())
            .bind(customer.customer_tenant_id.to_string())
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(subscription_from_row).transpose()
    }

    /// One page of `customer`'s subscriptions, oldest first.
    pub async fn list_subscriptions(
        &self,
        customer: CustomerRef,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE partner_tenant_id = $1 AND customer_tenant_id = $2 \
             AND id > $3 ORDER BY id LIMIT $4"
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
}

fn subscription_from_row(row: &AnyRow) -> Result<Subscription, StoreError> {
    let uuid = |column: &str| columns::uuid(row, column);
    let offer_kind: String = row.try_get("offer_kind")?;
    let offer_kind = pb::OfferKind::from_str_name(&offer_kind)
        .ok_or_else(|| StoreError::Corrupt(format!("offer_kind {offer_kind}")))?;
    let quantity: i64 = row.try_get("quantity")?;
    Ok(Subscription {
        id: uuid("id")?,
        partner_tenant_id: uuid("partner_tenant_id")?,
        customer_tenant_id: uuid("customer_tenant_id")?,
        offer_id: row.try_get("offer_id")?,
        offer_kind: parse_offer_kind(offer_kind as i32).map_err(StoreError::Corrupt)?,
        quantity: i32::try_from(quantity)
            .map_err(|e| StoreError::Corrupt(format!("quantity: {e}")))?,
        create_time: row.try_get("create_time")?,
        version: row.try_get("version")?,
    })
}
