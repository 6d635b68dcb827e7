//! Partner storage, one implementation for SQLite and PostgreSQL (see `suite_db`).

use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{
    Change, Database, IdempotencyKey, Page, PageRequest, PageTokenCodec, Replay, StoreError,
};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use crate::domain::{NewPartner, Partner, partner_name};
use crate::error::Error;

const PARTNER_COLUMNS: &str = "tenant_id, legal_name, country_code, primary_contact_email, partner_program_id, create_time, update_time, version";

/// The enrollment service's database.
#[derive(Clone)]
pub struct EnrollmentStore {
    db: Database,
    pages: PageTokenCodec,
}

impl EnrollmentStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }

    /// Registers `partner` for `tenant_id`, or replays the response to an earlier request
    /// with the same key. The partner, its audit event, its `created` event and the replayable
    /// response commit together or not at all.
    pub async fn create_partner(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        tenant_id: Uuid,
        partner: NewPartner,
    ) -> Result<pb::Partner, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Partner>(&mut tx).await? {
            return Ok(response);
        }
        let now = suite_db::now_micros();
        let created = Partner {
            tenant_id,
            legal_name: partner.legal_name,
            country_code: partner.country_code,
            primary_contact_email: partner.primary_contact_email,
            partner_program_id: partner.partner_program_id,
            create_time: now,
            update_time: now,
            version: 1,
        };
        let name = partner_name(tenant_id);
        let inserted = sqlx::query(
            "INSERT INTO partners (tenant_id, legal_name, country_code, primary_contact_email, partner_program_id, \
             create_time, update_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(created.tenant_id.to_string())
        .bind(&created.legal_name)
        .bind(&created.country_code)
        .bind(&created.primary_contact_email)
        .bind(created.partner_program_id.clone().unwrap_or_default())
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

    /// The partner of `tenant_id`, if registered.
    pub async fn get_partner(&self, tenant_id: Uuid) -> Result<Option<Partner>, StoreError> {
        let sql = format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant_id.to_string())
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(partner_from_row).transpose()
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

    /// Counts rows of `table`, for tests that check nothing was written.
    pub async fn count_rows(&self, table: &str) -> Result<i64, StoreError> {
        suite_db::count_rows(&self.db, table).await
    }
}

fn partner_from_row(row: &AnyRow) -> Result<Partner, StoreError> {
    let tenant_id: String = row.try_get("tenant_id")?;
    let partner_program_id: String = row.try_get("partner_program_id")?;
    Ok(Partner {
        tenant_id: Uuid::parse_str(&tenant_id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        legal_name: row.try_get("legal_name")?,
        country_code: row.try_get("country_code")?,
        primary_contact_email: row.try_get("primary_contact_email")?,
        partner_program_id: Some(partner_program_id).filter(|id| !id.is_empty()),
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
