//! GDAP relationships. Each request action reads the row (locked on PostgreSQL), applies
//! the rule from `domain`, and writes it under a version check with its audit event, outbox
//! event and idempotent answer; the expiry sweep changes each due row the same way, so
//! replicas sweeping together change each row once.

use prost::Message;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_identity::Caller;
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipStore;
use super::sweep::{Lapsing, SWEEP_BATCH};
use crate::domain::gdap::{
    self, Action, DelegatedAdminRelationship, DelegatedAdminRole, DelegatedAdminStatus, EndReason,
    Lapse, NewRelationship, RelationshipName,
};
use crate::error::Error;

const COLUMNS: &str = "id, partner_tenant_id, customer_tenant_id, display_name, roles, duration, duration_days, \
     auto_extend, status, end_reason, ended_by, create_time, activate_time, end_time, update_time, version";

impl RelationshipStore {
    /// Records `new`, asked by `partner` for `customer`: CREATED.
    pub async fn create_gdap(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
        new: NewRelationship,
        now: i64,
    ) -> Result<pb::DelegatedAdminRelationship, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) =
            key.claim::<pb::DelegatedAdminRelationship>(&mut tx).await?
        {
            return Ok(response);
        }
        let display_name = new.display_name.clone();
        let created = DelegatedAdminRelationship::request(
            Uuid::new_v4(),
            partner_tenant_id,
            customer_tenant_id,
            new,
            now,
        );
        match insert(&mut tx, &created).await {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::DisplayNameTaken(display_name));
            }
            other => other?,
        }
        let response = created.to_proto();
        let change = Change {
            tenant_id: partner_tenant_id,
            resource_name: &response.name,
            action: "CreateDelegatedAdminRelationship",
            topic: "relationship.v1.gdap.requested",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Applies `action` to relationship `name` if its version is still `expected_version`
    /// (when given).
    pub async fn change_gdap(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        name: RelationshipName,
        action: Action,
        expected_version: Option<i64>,
        now: i64,
    ) -> Result<pb::DelegatedAdminRelationship, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) =
            key.claim::<pb::DelegatedAdminRelationship>(&mut tx).await?
        {
            return Ok(response);
        }
        let lock = suite_db::for_update(&tx);
        let stored = fetch(&mut *tx, &name, lock)
            .await?
            .ok_or_else(|| Error::DelegatedAdminNotFound(name.name()))?;
        // What the clock has done since the last sweep is written first, as the sweep
        // would: the action applies to the relationship as it stands now.
        let current = match gdap::lapse(&stored, now) {
            Some((lapse, lapsed)) => {
                record_lapse(&mut tx, &stored, lapse, &lapsed).await?;
                lapsed
            }
            None => stored,
        };
        if expected_version.is_some_and(|version| version != current.version) {
            return Err(Error::StaleEtag(name.name()));
        }
        let next = current.apply(action, caller, now)?;
        save(&mut tx, &next, current.version).await?;
        let response = next.to_proto();
        let change = Change {
            tenant_id: next.partner_tenant_id,
            resource_name: &response.name,
            action: action.rpc(),
            topic: action.topic(),
            before: Some(current.to_proto().encode_to_vec()),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// Relationship `name`, if it exists.
    pub async fn get_gdap(
        &self,
        name: &RelationshipName,
    ) -> Result<Option<DelegatedAdminRelationship>, StoreError> {
        fetch(self.db.pool(), name, "").await
    }

    /// One page of the relationships of partner and customer, by id.
    pub async fn list_gdap(
        &self,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<DelegatedAdminRelationship>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegated_admin_relationships \
             WHERE customer_tenant_id = $1 AND partner_tenant_id = $2 AND id > $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_tenant_id.to_string())
            .bind(partner_tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let relationships = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, relationships, |r| r.id.to_string()))
    }

    /// The relationship in force at `now` between the pair that lets the partner manage
    /// users and licences, the one ending last first. A relationship past its end grants
    /// nothing even before the sweep marks it EXPIRED; one that extends itself goes on.
    pub async fn gdap_access(
        &self,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
        now: i64,
    ) -> Result<Option<DelegatedAdminRelationship>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegated_admin_relationships \
             WHERE customer_tenant_id = $1 AND partner_tenant_id = $2 AND status IN ($3, $4) \
             AND (end_time > $5 OR auto_extend = $6) ORDER BY end_time DESC, id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_tenant_id.to_string())
            .bind(partner_tenant_id.to_string())
            .bind(DelegatedAdminStatus::Active.as_str_name())
            .bind(DelegatedAdminStatus::Expiring.as_str_name())
            .bind(now)
            .bind(1_i64)
            .fetch_all(self.db.pool())
            .await?;
        for row in &rows {
            let relationship = from_row(row)?;
            if relationship.grants_user_management_at(now) {
                return Ok(Some(relationship.as_of(now)));
            }
        }
        Ok(None)
    }

    /// Marks EXPIRING, extends or expires every relationship in force that is due at `now`.
    /// Only rows with something due are read (ended ones, and ACTIVE ones that will not
    /// extend within the notice of their end); returns how many this call changed.
    pub async fn sweep_gdap(&self, now: i64) -> Result<usize, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM delegated_admin_relationships \
             WHERE (status IN ($1, $2) AND end_time <= $3) \
             OR (status = $1 AND auto_extend = $4 AND end_time <= $5) \
             ORDER BY end_time, id LIMIT $6"
        );
        let due = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(DelegatedAdminStatus::Active.as_str_name())
            .bind(DelegatedAdminStatus::Expiring.as_str_name())
            .bind(now)
            .bind(0_i64)
            .bind(gdap::sweep_horizon(now))
            .bind(SWEEP_BATCH)
            .fetch_all(self.db.pool())
            .await?;
        Ok(self
            .sweep_rows::<DelegatedAdminRelationship>(&due, now)
            .await)
    }
}

impl Lapsing for DelegatedAdminRelationship {
    const KIND: &'static str = "gdap relationship";

    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        from_row(row)
    }

    fn describe(row: &AnyRow) -> String {
        let id: String = row.try_get("id").unwrap_or_default();
        format!("delegated admin relationship {id}")
    }

    fn name(&self) -> String {
        DelegatedAdminRelationship::name(self)
    }

    async fn record_lapse(&self, tx: &mut Tx, now: i64) -> Result<Option<&'static str>, Error> {
        let Some((lapse, next)) = gdap::lapse(self, now) else {
            return Ok(None);
        };
        record_lapse(tx, self, lapse, &next).await?;
        Ok(Some(lapse.action()))
    }
}

/// Writes `next`, the `lapse` the clock brought to `current`, under a version check, with
/// its audit event and lifecycle event, as the relationship service acting for itself.
async fn record_lapse(
    tx: &mut Tx,
    current: &DelegatedAdminRelationship,
    lapse: Lapse,
    next: &DelegatedAdminRelationship,
) -> Result<(), Error> {
    save(tx, next, current.version).await?;
    let name = next.name();
    let change = Change {
        tenant_id: next.partner_tenant_id,
        resource_name: &name,
        action: lapse.action(),
        topic: lapse.topic(),
        before: Some(current.to_proto().encode_to_vec()),
        after: &next.to_proto(),
    };
    suite_db::record_unrequested_change(tx, &Caller::service(crate::SERVICE), change).await?;
    Ok(())
}

async fn fetch<'e>(
    executor: impl Executor<'e, Database = Any>,
    name: &RelationshipName,
    lock: &str,
) -> Result<Option<DelegatedAdminRelationship>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM delegated_admin_relationships \
         WHERE id = $1 AND partner_tenant_id = $2 AND customer_tenant_id = $3{lock}"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(name.id.to_string())
        .bind(name.partner_tenant_id.to_string())
        .bind(name.customer_tenant_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(from_row).transpose()
}

async fn insert(tx: &mut Tx, relationship: &DelegatedAdminRelationship) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO delegated_admin_relationships (id, partner_tenant_id, customer_tenant_id, display_name, roles, \
         duration, duration_days, auto_extend, status, end_reason, ended_by, create_time, activate_time, end_time, \
         update_time, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(relationship.id.to_string())
    .bind(relationship.partner_tenant_id.to_string())
    .bind(relationship.customer_tenant_id.to_string())
    .bind(&relationship.display_name)
    .bind(roles_text(&relationship.roles))
    .bind(&relationship.duration)
    .bind(relationship.duration_days)
    .bind(i64::from(relationship.auto_extend))
    .bind(relationship.status.as_str_name())
    .bind(relationship.end_reason.as_str_name())
    .bind(&relationship.ended_by)
    .bind(relationship.create_time)
    .bind(relationship.activate_time)
    .bind(relationship.end_time)
    .bind(relationship.update_time)
    .bind(relationship.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the changing columns of `relationship` over the row still at `previous_version`.
async fn save(
    tx: &mut Tx,
    relationship: &DelegatedAdminRelationship,
    previous_version: i64,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE delegated_admin_relationships SET status = $1, end_reason = $2, ended_by = $3, activate_time = $4, \
         end_time = $5, update_time = $6, version = $7 WHERE id = $8 AND version = $9",
    )
    .bind(relationship.status.as_str_name())
    .bind(relationship.end_reason.as_str_name())
    .bind(&relationship.ended_by)
    .bind(relationship.activate_time)
    .bind(relationship.end_time)
    .bind(relationship.update_time)
    .bind(relationship.version)
    .bind(relationship.id.to_string())
    .bind(previous_version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(relationship.name()));
    }
    Ok(())
}

fn roles_text(roles: &[DelegatedAdminRole]) -> String {
    roles
        .iter()
        .map(|role| role.as_str_name())
        .collect::<Vec<_>>()
        .join(",")
}

fn from_row(row: &AnyRow) -> Result<DelegatedAdminRelationship, StoreError> {
    let status: String = row.try_get("status")?;
    let status = DelegatedAdminStatus::from_str_name(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("gdap status {status}")))?;
    let end_reason: String = row.try_get("end_reason")?;
    let end_reason = EndReason::from_str_name(&end_reason)
        .ok_or_else(|| StoreError::Corrupt(format!("gdap end reason {end_reason}")))?;
    let roles: String = row.try_get("roles")?;
    let roles = roles
        .split(',')
        .map(|role| {
            DelegatedAdminRole::from_str_name(role)
                .ok_or_else(|| StoreError::Corrupt(format!("gdap role {role}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DelegatedAdminRelationship {
        id: columns::uuid(row, "id")?,
        partner_tenant_id: columns::uuid(row, "partner_tenant_id")?,
        customer_tenant_id: columns::uuid(row, "customer_tenant_id")?,
        display_name: row.try_get("display_name")?,
        roles,
        duration: row.try_get("duration")?,
        duration_days: row.try_get("duration_days")?,
        auto_extend: columns::flag(row, "auto_extend")?,
        status,
        end_reason,
        ended_by: row.try_get("ended_by")?,
        create_time: row.try_get("create_time")?,
        activate_time: row.try_get("activate_time")?,
        end_time: row.try_get("end_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
