//! Customer records.

use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, columns};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipStore;
use crate::domain::{Customer, NewCustomer, customer_name, partner_name};
use crate::error::Error;

const CUSTOMER_COLUMNS: &str = "id, partner_tenant_id, customer_tenant_id, display_name, domain, country_code, create_time, version";

impl RelationshipStore {
    /// Records `customer` under `partner_tenant_id`, or replays an earlier identical request.
    pub async fn create_customer(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        partner_tenant_id: Uuid,
        customer: NewCustomer,
    ) -> Result<pb::Customer, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Customer>(&mut tx).await? {
            return Ok(response);
        }
        let created = Customer {
            id: Uuid::now_v7(),
            partner_tenant_id,
            customer_tenant_id: customer.customer_tenant_id,
            display_name: customer.display_name,
            domain: customer.domain,
            country_code: customer.country_code,
            create_time: suite_time::now_micros(),
            version: 1,
        };
        let inserted = sqlx::query(
            "INSERT INTO customers (id, partner_tenant_id, customer_tenant_id, display_name, domain, country_code, \
             create_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(created.id.to_string())
        .bind(created.partner_tenant_id.to_string())
        .bind(created.customer_tenant_id.to_string())
        .bind(&created.display_name)
        .bind(&created.domain)
        .bind(&created.country_code)
        .bind(created.create_time)
        .bind(created.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::CustomerExists(partner_name(partner_tenant_id)));
            }
            other => other?,
        };

        let name = customer_name(partner_tenant_id, created.id);
        let response = pb::Customer::from(&created);
        let change = Change {
            tenant_id: partner_tenant_id,
            resource_name: &name,
            action: "CreateCustomer",
            topic: "relationship.v1.customer.created",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Customer `id` of `partner_tenant_id`, if recorded.
    pub async fn get_customer(
        &self,
        partner_tenant_id: Uuid,
        id: Uuid,
    ) -> Result<Option<Customer>, StoreError> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE partner_tenant_id = $1 AND id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(partner_tenant_id.to_string())
            .bind(id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// One page of `partner_tenant_id`'s customers, oldest first.
    pub async fn list_customers(
        &self,
        partner_tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Customer>, StoreError> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE partner_tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(partner_tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let customers = rows
            .iter()
            .map(customer_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, customers, |c| c.id.to_string()))
    }
}

fn customer_from_row(row: &AnyRow) -> Result<Customer, StoreError> {
    let uuid = |column: &str| columns::uuid(row, column);
    Ok(Customer {
        id: uuid("id")?,
        partner_tenant_id: uuid("partner_tenant_id")?,
        customer_tenant_id: uuid("customer_tenant_id")?,
        display_name: row.try_get("display_name")?,
        domain: row.try_get("domain")?,
        country_code: row.try_get("country_code")?,
        create_time: row.try_get("create_time")?,
        version: row.try_get("version")?,
    })
}
