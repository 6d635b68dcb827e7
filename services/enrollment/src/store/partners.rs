use sqlx::any::AnyRow;
use sqlx::{Any, Executor};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::{EnrollmentStore, expected_version};
use crate::domain::partner::{NewPartner, Partner, PartnerUpdate, partner_name};
use crate::error::Error;

const PARTNER_COLUMNS: &str = "tenant_id, legal_name, country_code, primary_contact_email, partner_program_id, \
     partner_program_id_verified, program_account_email, integration_sandbox, create_time, update_time, version";

impl EnrollmentStore {
    /// Registers `partner` for `tenant_id`, or replays the response to an earlier request
    /// with the same key.
    pub async fn create_partner(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        partner: NewPartner,
        now: i64,
    ) -> Result<pb::Partner, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partner>(&mut tx).await? {
            return Ok(response);
        }
        let created = partner.into_partner(tenant_id, now);
        let name = partner_name(tenant_id);
        let inserted = sqlx::query(
            "INSERT INTO partners (tenant_id, legal_name, country_code, primary_contact_email, partner_program_id, \
             partner_program_id_verified, program_account_email, integration_sandbox, create_time, update_time, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(created.tenant_id.to_string())
        .bind(&created.legal_name)
        .bind(&created.country_code)
        .bind(&created.primary_contact_email)
        .bind(created.partner_program_id.clone().unwrap_or_default())
        .bind(i64::from(created.partner_program_id_verified))
        .bind(created.program_account_email.clone().unwrap_or_default())
        .bind(i64::from(created.integration_sandbox))
        .bind(created.create_time)
        .bind(created.update_time)
        .bind(created.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Err(StoreError::UniqueViolation(_)) => return Err(Error::PartnerExists(name)),
            other => other?,
        };

        let response = pb::Partner::from(&created);
        let change = Change {
            tenant_id,
            resource_name: &name,
            action: "CreatePartner",
            topic: "enrollment.v1.partner.created",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Applies `update` to the partner of `tenant_id` if its version is still `etag` (when
    /// given).
    pub async fn update_partner(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        etag: &str,
        update: &PartnerUpdate,
        now: i64,
    ) -> Result<pb::Partner, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partner>(&mut tx).await? {
            return Ok(response);
        }
        let name = partner_name(tenant_id);
        let current = fetch_partner(&mut *tx, tenant_id)
            .await?
            .ok_or_else(|| Error::PartnerNotFound(name.clone()))?;
        if expected_version(etag).is_some_and(|version| version != current.version) {
            return Err(Error::StaleEtag(name));
        }
        let next = update.apply(caller, &current, now)?;
        save_partner(&mut tx, &next, current.version).await?;

        let response = pb::Partner::from(&next);
        let before = prost::Message::encode_to_vec(&pb::Partner::from(&current));
        let change = Change {
            tenant_id,
            resource_name: &name,
            action: "UpdatePartner",
            topic: "enrollment.v1.partner.updated",
            before: Some(before),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The partner of `tenant_id`, if registered.
    pub async fn get_partner(&self, tenant_id: Uuid) -> Result<Option<Partner>, StoreError> {
        fetch_partner(self.db.pool(), tenant_id).await
    }

    /// One page of partners in tenant-id order; only `tenant_id`'s when given.
    pub async fn list_partners(
        &self,
        only: Option<Uuid>,
        page: &PageRequest,
    ) -> Result<Page<Partner>, StoreError> {
        let sql = format!(
            "SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id > $1 AND ($2 = '' OR tenant_id = $2) \
             ORDER BY tenant_id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after_key())
            .bind(only.map(|t| t.to_string()).unwrap_or_default())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let partners = rows
            .iter()
            .map(partner_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, partners, |p| p.tenant_id.to_string()))
    }
}

/// The partner of `tenant_id`, read through `executor` (the pool or a transaction).
pub(super) async fn fetch_partner<'e>(
    executor: impl Executor<'e, Database = Any>,
    tenant_id: Uuid,
) -> Result<Option<Partner>, StoreError> {
    let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(partner_from_row).transpose()
}

/// The partner of `tenant_id`, locked until `tx` ends. Every decision that reads a tenant's
/// enrollments, incentives or revenue and writes some of them takes this lock first, so on
/// PostgreSQL (READ COMMITTED) decisions on one tenant run one after another and each sees
/// the previous one's rows, as SQLite's single writer already ensures.
pub(super) async fn lock_partner(
    tx: &mut Tx,
    tenant_id: Uuid,
) -> Result<Option<Partner>, StoreError> {
    let sql = format!(
        "SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id = $1{}",
        suite_db::for_update(tx)
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(partner_from_row).transpose()
}

async fn save_partner(tx: &mut Tx, partner: &Partner, expected_version: i64) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE partners SET legal_name = $1, country_code = $2, primary_contact_email = $3, partner_program_id = $4, \
         partner_program_id_verified = $5, program_account_email = $6, update_time = $7, version = $8 \
         WHERE tenant_id = $9 AND version = $10",
    )
    .bind(&partner.legal_name)
    .bind(&partner.country_code)
    .bind(&partner.primary_contact_email)
    .bind(partner.partner_program_id.clone().unwrap_or_default())
    .bind(i64::from(partner.partner_program_id_verified))
    .bind(partner.program_account_email.clone().unwrap_or_default())
    .bind(partner.update_time)
    .bind(partner.version)
    .bind(partner.tenant_id.to_string())
    .bind(expected_version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(partner_name(partner.tenant_id)));
    }
    Ok(())
}

fn partner_from_row(row: &AnyRow) -> Result<Partner, StoreError> {
    use sqlx::Row;
    Ok(Partner {
        tenant_id: columns::uuid(row, "tenant_id")?,
        legal_name: row.try_get("legal_name")?,
        country_code: row.try_get("country_code")?,
        primary_contact_email: row.try_get("primary_contact_email")?,
        partner_program_id: columns::optional_text(row, "partner_program_id")?,
        partner_program_id_verified: columns::flag(row, "partner_program_id_verified")?,
        program_account_email: columns::optional_text(row, "program_account_email")?,
        integration_sandbox: columns::flag(row, "integration_sandbox")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
