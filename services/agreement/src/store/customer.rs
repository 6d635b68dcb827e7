use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, columns};
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

use super::AgreementStore;
use crate::domain::customer::{AcceptanceMethod, CustomerAcceptance, Signer};
use crate::error::Error;

const ACCEPTANCE_COLUMNS: &str = "id, customer_tenant_id, agreement_version, method, attesting_partner_tenant_id, \
     signer_first_name, signer_last_name, signer_email, signer_phone, accept_time, create_time, recorded_by";

impl AgreementStore {
    /// Adds `acceptance` to the customer's history.
    pub async fn record_customer_acceptance(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        acceptance: CustomerAcceptance,
    ) -> Result<pb::CustomerAgreementAcceptance, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key
            .claim::<pb::CustomerAgreementAcceptance>(&mut tx)
            .await?
        {
            return Ok(response);
        }
        sqlx::query(
            "INSERT INTO customer_acceptances (id, customer_tenant_id, agreement_version, method, attesting_partner_tenant_id, \
             signer_first_name, signer_last_name, signer_email, signer_phone, accept_time, create_time, recorded_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(acceptance.id.to_string())
        .bind(acceptance.customer_tenant_id.to_string())
        .bind(&acceptance.agreement_version)
        .bind(acceptance.method.as_str_name())
        .bind(acceptance.attesting_partner.map(|p| p.to_string()))
        .bind(&acceptance.signer.first_name)
        .bind(&acceptance.signer.last_name)
        .bind(&acceptance.signer.email)
        .bind(&acceptance.signer.phone_number)
        .bind(acceptance.accept_time)
        .bind(acceptance.create_time)
        .bind(&acceptance.recorded_by)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let name = acceptance.name();
        let response = pb::CustomerAgreementAcceptance::from(&acceptance);
        let change = Change {
            tenant_id: acceptance.customer_tenant_id,
            resource_name: &name,
            action: "CreateCustomerAgreementAcceptance",
            topic: "agreement.v1.customer_agreement.accepted",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Every acceptance of `customer_tenant_id`, newest first.
    pub async fn customer_acceptances(
        &self,
        customer_tenant_id: Uuid,
    ) -> Result<Vec<CustomerAcceptance>, StoreError> {
        let sql = format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM customer_acceptances WHERE customer_tenant_id = $1 ORDER BY id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_tenant_id.to_string())
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(acceptance_from_row).collect()
    }

    /// One page of `customer_tenant_id`'s acceptances, newest first; with `partner`, only the
    /// partner's own attestations (a partner learns whether
    /// the customer accepted by itself through `CheckCustomerAgreement`, not its signer).
    pub async fn list_customer_acceptances(
        &self,
        customer_tenant_id: Uuid,
        partner: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<CustomerAcceptance>, StoreError> {
        let sql = format!(
            "SELECT {ACCEPTANCE_COLUMNS} FROM customer_acceptances WHERE customer_tenant_id = $1 AND ($2 = '' OR id < $2) \
             AND ($3 = '' OR attesting_partner_tenant_id = $3) ORDER BY id DESC LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_tenant_id.to_string())
            .bind(page.after_key())
            .bind(partner.map(|p| p.to_string()).unwrap_or_default())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let acceptances = rows
            .iter()
            .map(acceptance_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, acceptances, |a| a.id.to_string()))
    }
}

fn acceptance_from_row(row: &AnyRow) -> Result<CustomerAcceptance, StoreError> {
    let method: String = row.try_get("method")?;
    Ok(CustomerAcceptance {
        id: columns::uuid(row, "id")?,
        customer_tenant_id: columns::uuid(row, "customer_tenant_id")?,
        agreement_version: row.try_get("agreement_version")?,
        method: AcceptanceMethod::from_str_name(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("method {method}")))?,
        attesting_partner: columns::optional_uuid(row, "attesting_partner_tenant_id")?,
        signer: Signer {
            first_name: row.try_get("signer_first_name")?,
            last_name: row.try_get("signer_last_name")?,
            email: row.try_get("signer_email")?,
            phone_number: row.try_get("signer_phone")?,
        },
        accept_time: row.try_get("accept_time")?,
        create_time: row.try_get("create_time")?,
        recorded_by: row.try_get("recorded_by")?,
    })
}
