use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError};
use suite_proto::agreement::v1 as pb;

use super::AgreementStore;
use crate::domain::versions::{
    AgreementVersion, NewAgreementVersion, parse_agreement_type, version_name,
};
use crate::error::Error;

const VERSION_COLUMNS: &str =
    "template_id, agreement_type, display_name, effective_time, create_time";

impl AgreementStore {
    /// Publishes `version`, or replays an earlier identical request.
    pub async fn create_version(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        version: NewAgreementVersion,
    ) -> Result<pb::AgreementVersion, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::AgreementVersion>(&mut tx).await? {
            return Ok(response);
        }
        let created = AgreementVersion {
            template_id: version.template_id,
            agreement_type: version.agreement_type,
            display_name: version.display_name,
            effective_time: version.effective_time,
            create_time: suite_time::now_micros(),
        };
        let name = version_name(&created.template_id);
        let inserted = sqlx::query(
            "INSERT INTO agreement_versions (template_id, agreement_type, display_name, effective_time, create_time) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.template_id)
        .bind(created.agreement_type.as_str_name())
        .bind(&created.display_name)
        .bind(created.effective_time)
        .bind(created.create_time)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        match inserted {
            Err(StoreError::UniqueViolation(_)) => return Err(Error::VersionExists(name)),
            other => other?,
        };

        let response = pb::AgreementVersion::from(&created);
        let change = Change {
            tenant_id: caller.tenant_id(),
            resource_name: &name,
            action: "CreateAgreementVersion",
            topic: "agreement.v1.agreement_version.created",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// The version of `agreement_type` that new acceptances bind to at `now`: the one most
    /// recently in effect.
    pub async fn current_version(
        &self,
        agreement_type: pb::AgreementType,
        now: i64,
    ) -> Result<Option<AgreementVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE agreement_type = $1 AND effective_time <= $2 \
             ORDER BY effective_time DESC, template_id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(agreement_type.as_str_name())
            .bind(now)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// The version with `template_id`, if published.
    pub async fn get_version(
        &self,
        template_id: &str,
    ) -> Result<Option<AgreementVersion>, StoreError> {
        let sql =
            format!("SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE template_id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(template_id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(version_from_row).transpose()
    }

    /// One page of versions in template-id order, of `agreement_type` only when given.
    pub async fn list_versions(
        &self,
        agreement_type: Option<pb::AgreementType>,
        page: &PageRequest,
    ) -> Result<Page<AgreementVersion>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM agreement_versions WHERE template_id > $1 AND ($2 = '' OR agreement_type = $2) \
             ORDER BY template_id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(page.after_key())
            .bind(agreement_type.map(|t| t.as_str_name()).unwrap_or_default())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let versions = rows
            .iter()
            .map(version_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, versions, |v| v.template_id.clone()))
    }
}

fn version_from_row(row: &AnyRow) -> Result<AgreementVersion, StoreError> {
    let agreement_type: String = row.try_get("agreement_type")?;
    let agreement_type = pb::AgreementType::from_str_name(&agreement_type)
        .ok_or_else(|| StoreError::Corrupt(format!("agreement_type {agreement_type}")))?;
    Ok(AgreementVersion {
        template_id: row.try_get("template_id")?,
        agreement_type: parse_agreement_type(agreement_type as i32).map_err(StoreError::Corrupt)?,
        display_name: row.try_get("display_name")?,
        effective_time: row.try_get("effective_time")?,
        create_time: row.try_get("create_time")?,
    })
}
