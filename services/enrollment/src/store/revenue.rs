use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Replay, StoreError, columns};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::EnrollmentStore;
use crate::domain::calendar::Month;
use crate::domain::partner::{Partner, partner_name};
use crate::domain::revenue::MonthlyRevenue;
use crate::error::Error;

impl EnrollmentStore {
    /// Records `amount_minor` as `tenant_id`'s revenue of `month`, replacing an earlier figure.
    pub async fn record_revenue(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        month: Month,
        amount_minor: i64,
        now: i64,
    ) -> Result<pb::MonthlyRevenue, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::MonthlyRevenue>(&mut tx).await? {
            return Ok(response);
        }
        if super::partners::lock_partner(&mut tx, tenant_id)
            .await?
            .is_none()
        {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        let before = fetch_revenue(&mut *tx, tenant_id, month, month)
            .await?
            .into_iter()
            .next();
        let revenue = MonthlyRevenue {
            tenant_id,
            month,
            amount_minor,
            update_time: now,
        };
        sqlx::query(
            "INSERT INTO monthly_revenue (tenant_id, month, amount_minor, update_time) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, month) DO UPDATE SET amount_minor = excluded.amount_minor, update_time = excluded.update_time",
        )
        .bind(tenant_id.to_string())
        .bind(month.to_string())
        .bind(amount_minor)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;

        let response = pb::MonthlyRevenue::from(&revenue);
        let change = Change {
            tenant_id,
            resource_name: &response.name,
            action: "RecordMonthlyRevenue",
            topic: "enrollment.v1.monthly_revenue.recorded",
            before: before.map(|b| prost::Message::encode_to_vec(&pb::MonthlyRevenue::from(&b))),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The months from `first` to `last` that count for `partner` (see [`fetch_counted_revenue`]).
    pub async fn counted_revenue(
        &self,
        partner: &Partner,
        first: Month,
        last: Month,
    ) -> Result<Vec<MonthlyRevenue>, StoreError> {
        fetch_counted_revenue(self.db.pool(), partner, first, last).await
    }
}

/// Recorded months of `tenant_id` from `first` to `last`, through `executor`.
pub(super) async fn fetch_revenue<'e>(
    executor: impl Executor<'e, Database = Any>,
    tenant_id: Uuid,
    first: Month,
    last: Month,
) -> Result<Vec<MonthlyRevenue>, StoreError> {
    let rows = sqlx::query(
        "SELECT tenant_id, month, amount_minor, update_time FROM monthly_revenue \
         WHERE tenant_id = $1 AND month >= $2 AND month <= $3 ORDER BY month",
    )
    .bind(tenant_id.to_string())
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(revenue_from_row).collect()
}

/// The revenue that counts for `partner`: that of every tenant sharing its verified PartnerID
/// (one organisation, e.g. the indirect reseller tenant of a partner re-applying to direct
/// bill with a new tenant), or only its own while its PartnerID is unverified.
pub(super) async fn fetch_counted_revenue<'e>(
    executor: impl Executor<'e, Database = Any>,
    partner: &Partner,
    first: Month,
    last: Month,
) -> Result<Vec<MonthlyRevenue>, StoreError> {
    let program_id = match (
        &partner.partner_program_id,
        partner.partner_program_id_verified,
    ) {
        (Some(program_id), true) => program_id,
        _ => return fetch_revenue(executor, partner.tenant_id, first, last).await,
    };
    let rows = sqlx::query(
        "SELECT r.tenant_id, r.month, r.amount_minor, r.update_time FROM monthly_revenue r \
         JOIN partners p ON p.tenant_id = r.tenant_id \
         WHERE p.partner_program_id = $1 AND p.partner_program_id_verified = 1 AND r.month >= $2 AND r.month <= $3 \
         ORDER BY r.month, r.tenant_id",
    )
    .bind(program_id)
    .bind(first.to_string())
    .bind(last.to_string())
    .fetch_all(executor)
    .await?;
    rows.iter().map(revenue_from_row).collect()
}

fn revenue_from_row(row: &AnyRow) -> Result<MonthlyRevenue, StoreError> {
    let month: String = row.try_get("month")?;
    Ok(MonthlyRevenue {
        tenant_id: columns::uuid(row, "tenant_id")?,
        month: Month::parse(&month).map_err(StoreError::Corrupt)?,
        amount_minor: row.try_get("amount_minor")?,
        update_time: row.try_get("update_time")?,
    })
}
