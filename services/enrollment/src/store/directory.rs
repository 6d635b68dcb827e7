use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::{EnrollmentStore, expected_version};
use crate::domain::directory::{IndirectProvider, apply_provider_update, name_key, provider_name};
use crate::error::Error;

const PROVIDER_COLUMNS: &str = "id, display_name, provider_tenant_id, offers_technical_support, offers_sales_help, \
     offers_credit_terms, description, website_uri, update_time, version";

/// What a directory search filters on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderSearch {
    /// Only providers serving this country/region.
    pub country_code: Option<String>,
    /// Only names containing this, lower-case.
    pub name_query: Option<String>,
}

impl ProviderSearch {
    /// The filters as a stable string, binding page tokens to them.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}",
            self.country_code.as_deref().unwrap_or(""),
            self.name_query.as_deref().unwrap_or("")
        )
    }
}

impl EnrollmentStore {
    /// Adds `provider` to the directory.
    pub async fn create_provider(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        provider: IndirectProvider,
    ) -> Result<pb::IndirectProvider, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::IndirectProvider>(&mut tx).await? {
            return Ok(response);
        }
        let listed: Option<String> =
            sqlx::query_scalar("SELECT id FROM indirect_providers WHERE provider_tenant_id = $1")
                .bind(provider.provider_tenant_id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(StoreError::from)?;
        if let Some(existing) = listed {
            return Err(Error::ProviderExists(format!(
                "indirectProviders/{existing}"
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO indirect_providers (id, display_name, name_key, provider_tenant_id, offers_technical_support, \
             offers_sales_help, offers_credit_terms, description, website_uri, update_time, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(provider.id.to_string())
        .bind(&provider.display_name)
        .bind(name_key(&provider.display_name))
        .bind(provider.provider_tenant_id.to_string())
        .bind(i64::from(provider.offers_technical_support))
        .bind(i64::from(provider.offers_sales_help))
        .bind(i64::from(provider.offers_credit_terms))
        .bind(&provider.description)
        .bind(&provider.website_uri)
        .bind(provider.update_time)
        .bind(provider.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from);
        if let Err(StoreError::UniqueViolation(_)) = inserted {
            // A concurrent request listed the same tenant first.
            return Err(Error::ProviderExists(format!(
                "provider tenant {}",
                provider.provider_tenant_id
            )));
        }
        inserted?;
        write_countries(&mut tx, &provider).await?;
        let response = pb::IndirectProvider::from(&provider);
        let change = Change {
            tenant_id: caller.tenant_id(),
            resource_name: &response.name,
            action: "CreateIndirectProvider",
            topic: "enrollment.v1.indirect_provider.created",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Applies the masked fields of `provider` to entry `id` if its version is still `etag`
    /// (when given).
    pub async fn update_provider(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        id: Uuid,
        provider: &pb::IndirectProvider,
        mask: &[String],
        now: i64,
    ) -> Result<pb::IndirectProvider, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::IndirectProvider>(&mut tx).await? {
            return Ok(response);
        }
        let name = provider_name(id);
        let current = fetch_provider(&mut tx, id)
            .await?
            .ok_or_else(|| Error::ProviderNotFound(name.clone()))?;
        if expected_version(&provider.etag).is_some_and(|version| version != current.version) {
            return Err(Error::StaleEtag(name));
        }
        let next = apply_provider_update(&current, provider, mask, now)?;
        let updated = sqlx::query(
            "UPDATE indirect_providers SET display_name = $1, name_key = $2, offers_technical_support = $3, \
             offers_sales_help = $4, offers_credit_terms = $5, description = $6, website_uri = $7, update_time = $8, \
             version = $9 WHERE id = $10 AND version = $11",
        )
        .bind(&next.display_name)
        .bind(name_key(&next.display_name))
        .bind(i64::from(next.offers_technical_support))
        .bind(i64::from(next.offers_sales_help))
        .bind(i64::from(next.offers_credit_terms))
        .bind(&next.description)
        .bind(&next.website_uri)
        .bind(next.update_time)
        .bind(next.version)
        .bind(id.to_string())
        .bind(current.version)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if updated.rows_affected() == 0 {
            return Err(Error::ConcurrentChange(name));
        }
        sqlx::query("DELETE FROM provider_countries WHERE provider_id = $1")
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        write_countries(&mut tx, &next).await?;
        let response = pb::IndirectProvider::from(&next);
        let change = Change {
            tenant_id: caller.tenant_id(),
            resource_name: &name,
            action: "UpdateIndirectProvider",
            topic: "enrollment.v1.indirect_provider.updated",
            before: Some(prost::Message::encode_to_vec(&pb::IndirectProvider::from(
                &current,
            ))),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Entry `id`, if listed.
    pub async fn get_provider(&self, id: Uuid) -> Result<Option<IndirectProvider>, StoreError> {
        let mut connection = self.db.pool().acquire().await?;
        fetch_provider(&mut connection, id).await
    }
    /// One page of entries matching `search`, in name order.
    pub async fn search_providers(
        &self,
        search: &ProviderSearch,
        page: &PageRequest,
    ) -> Result<Page<IndirectProvider>, StoreError> {
        let (after_name, after_id) = page.after_key().split_once('\u{1f}').unwrap_or(("", ""));
        let pattern = search
            .name_query
            .as_deref()
            .map(like_pattern)
            .unwrap_or_default();
        let sql = format!(
            "SELECT {PROVIDER_COLUMNS} FROM indirect_providers \
             WHERE ($1 = '' OR id IN (SELECT provider_id FROM provider_countries WHERE country_code = $1)) \
             AND ($2 = '' OR name_key LIKE $2 ESCAPE '\\') \
             AND (name_key > $3 OR (name_key = $3 AND id > $4)) \
             ORDER BY name_key, id LIMIT $5"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(search.country_code.clone().unwrap_or_default())
            .bind(pattern)
            .bind(after_name.to_owned())
            .bind(after_id.to_owned())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let mut connection = self.db.pool().acquire().await?;
        let providers = providers_from_rows(&mut connection, &rows).await?;
        Ok(self.pages.page(page, providers, |p| {
            format!("{}\u{1f}{}", name_key(&p.display_name), p.id)
        }))
    }
}

/// `%query%` with LIKE's wildcards in the query taken literally.
fn like_pattern(query: &str) -> String {
    let escaped: String = query
        .chars()
        .flat_map(|c| match c {
            '%' | '_' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    format!("%{escaped}%")
}

async fn write_countries(tx: &mut Tx, provider: &IndirectProvider) -> Result<(), StoreError> {
    for code in &provider.country_codes {
        sqlx::query("INSERT INTO provider_countries (provider_id, country_code) VALUES ($1, $2)")
            .bind(provider.id.to_string())
            .bind(code)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn fetch_provider(
    connection: &mut AnyConnection,
    id: Uuid,
) -> Result<Option<IndirectProvider>, StoreError> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM indirect_providers WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *connection)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut providers = providers_from_rows(connection, &[row]).await?;
    Ok(providers.pop())
}

/// Entries from `rows`, with their countries read in one query.
async fn providers_from_rows(
    connection: &mut AnyConnection,
    rows: &[AnyRow],
) -> Result<Vec<IndirectProvider>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = rows
        .iter()
        .map(|row| columns::uuid(row, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    let sql = format!(
        "SELECT provider_id, country_code FROM provider_countries WHERE provider_id IN ({}) ORDER BY country_code",
        suite_db::placeholders(1..=ids.len())
    );
    let query = ids
        .iter()
        .fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |query, id| {
            query.bind(id.to_string())
        });
    let pairs: Vec<(String, String)> = query.fetch_all(&mut *connection).await?;
    rows.iter()
        .zip(ids)
        .map(|(row, id)| {
            let key = id.to_string();
            let country_codes = pairs
                .iter()
                .filter(|(provider, _)| *provider == key)
                .map(|(_, code)| code.clone())
                .collect();
            Ok(IndirectProvider {
                id,
                display_name: row.try_get("display_name")?,
                provider_tenant_id: columns::uuid(row, "provider_tenant_id")?,
                country_codes,
                offers_technical_support: columns::flag(row, "offers_technical_support")?,
                offers_sales_help: columns::flag(row, "offers_sales_help")?,
                offers_credit_terms: columns::flag(row, "offers_credit_terms")?,
                description: row.try_get("description")?,
                website_uri: row.try_get("website_uri")?,
                update_time: row.try_get("update_time")?,
                version: row.try_get("version")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
