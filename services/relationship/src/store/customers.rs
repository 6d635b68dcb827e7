//! Customers as partners see them: one row per (partner, customer tenant).

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};
use suite_auth::Caller;
use suite_db::{Change, IdempotencyKey, Page, PageRequest, Replay, StoreError, Tx, columns};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipStore;
use crate::domain::{BillingProfile, Customer, CustomerUpdate, customer_name};
use crate::error::Error;

const CUSTOMER_COLUMNS: &str = "id, partner_tenant_id, customer_tenant_id, display_name, domain, country_code, \
     billing_company_name, billing_address_line1, billing_address_line2, billing_city, billing_region, \
     billing_postal_code, billing_country_code, billing_contact_first_name, billing_contact_last_name, \
     billing_contact_email, billing_contact_phone, partner_role, acquisition, admin_permissions, create_time, update_time, version";

impl RelationshipStore {
    /// Records `customer`, a direct-bill partner's new customer, or replays an earlier
    /// identical request.
    pub async fn create_customer(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        customer: Customer,
    ) -> Result<pb::Customer, Error> {
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Customer>(&mut tx).await? {
            return Ok(response);
        }
        let name = customer_name(customer.partner_tenant_id, customer.customer_tenant_id);
        claim_customer_tenant(&mut tx, &customer).await?;
        match insert_customer(&mut tx, &customer).await {
            Err(StoreError::UniqueViolation(_)) => return Err(Error::CustomerExists(name)),
            other => other?,
        }
        let served = indirectly_served(&mut *tx, &[customer.customer_tenant_id]).await?;
        let response = customer.to_proto(served.contains(&customer.customer_tenant_id));
        let change = Change {
            tenant_id: customer.partner_tenant_id,
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

    /// Records a customer an indirect provider created for its reseller: both views in one
    /// transaction, under the partnership's row lock, refused unless the partnership is
    /// ACTIVE; or replays an earlier identical request. The answer is the provider's view.
    pub async fn create_customer_for_reseller(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        provider_view: Customer,
        reseller_view: Customer,
    ) -> Result<pb::Customer, Error> {
        let (provider, reseller) = (
            provider_view.partner_tenant_id,
            reseller_view.partner_tenant_id,
        );
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Customer>(&mut tx).await? {
            return Ok(response);
        }
        let lock = suite_db::for_update(&tx);
        let partnership =
            super::partnerships::fetch_partnership(&mut *tx, provider, reseller, lock).await?;
        if !partnership.is_some_and(|p| crate::domain::partnerships::allows_new_business(p.state)) {
            return Err(Error::Precondition {
                reason: "PARTNERSHIP_NOT_ACTIVE",
                subject: format!("partners/{provider}/indirectResellers/{reseller}"),
                message: "a provider creates customers only for a reseller it has an ACTIVE partnership with".into(),
            });
        }
        claim_customer_tenant(&mut tx, &provider_view).await?;
        let provider_name = customer_name(provider, provider_view.customer_tenant_id);
        let reseller_name = customer_name(reseller, reseller_view.customer_tenant_id);
        for (view, name) in [
            (&provider_view, &provider_name),
            (&reseller_view, &reseller_name),
        ] {
            match insert_customer(&mut tx, view).await {
                Err(StoreError::UniqueViolation(_)) => {
                    return Err(Error::CustomerExists(name.clone()));
                }
                other => other?,
            }
        }
        // Served indirectly from now on, by definition.
        let provider_response = provider_view.to_proto(true);
        let reseller_response = reseller_view.to_proto(true);
        // The reseller's view is a consequence of the provider's request: audited and
        // published as such, in the same transaction.
        let reseller_after = prost::Message::encode_to_vec(&reseller_response);
        suite_db::record_audit(
            &mut tx,
            caller,
            suite_db::AuditEvent {
                tenant_id: reseller,
                resource_name: &reseller_name,
                action: "CreateCustomer",
                request_id: Some(key.request_id()),
                before: None,
                after: Some(reseller_after.clone()),
            },
        )
        .await?;
        suite_db::enqueue(
            &mut tx,
            suite_db::OutboxMessage {
                topic: "relationship.v1.customer.created",
                key: &reseller_name,
                payload: reseller_after,
            },
        )
        .await?;
        let change = Change {
            tenant_id: provider,
            resource_name: &provider_name,
            action: "CreateCustomer",
            topic: "relationship.v1.customer.created",
            before: None,
            after: &provider_response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(provider_response)
    }

    /// Applies `update` to `partner_tenant_id`'s view of `customer_tenant_id` at `now`,
    /// under a version check, or replays an earlier identical request.
    pub async fn update_customer(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
        update: &CustomerUpdate,
        now: i64,
    ) -> Result<pb::Customer, Error> {
        let name = customer_name(partner_tenant_id, customer_tenant_id);
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(response) = key.claim::<pb::Customer>(&mut tx).await? {
            return Ok(response);
        }
        let current = fetch_customer(&mut *tx, partner_tenant_id, customer_tenant_id)
            .await?
            .ok_or_else(|| Error::CustomerNotFound(name.clone()))?;
        if update.etag.is_some_and(|etag| etag != current.version) {
            return Err(Error::StaleEtag(name));
        }
        let next = update.apply(&current, now)?;
        save_customer(&mut tx, &next, current.version, &name).await?;
        let served = indirectly_served(&mut *tx, &[customer_tenant_id]).await?;
        let indirect = served.contains(&customer_tenant_id);
        let response = next.to_proto(indirect);
        let change = Change {
            tenant_id: partner_tenant_id,
            resource_name: &name,
            action: "UpdateCustomer",
            topic: "relationship.v1.customer.updated",
            before: Some(prost::Message::encode_to_vec(&current.to_proto(indirect))),
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }

    /// `partner_tenant_id`'s view of `customer_tenant_id`, if it has one.
    pub async fn get_customer(
        &self,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
    ) -> Result<Option<pb::Customer>, StoreError> {
        let Some(customer) =
            fetch_customer(self.db.pool(), partner_tenant_id, customer_tenant_id).await?
        else {
            return Ok(None);
        };
        let served = indirectly_served(self.db.pool(), &[customer_tenant_id]).await?;
        Ok(Some(
            customer.to_proto(served.contains(&customer_tenant_id)),
        ))
    }

    /// One page of `partner_tenant_id`'s customers, oldest first.
    pub async fn list_customers(
        &self,
        partner_tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<pb::Customer>, StoreError> {
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
        let tenants: Vec<Uuid> = customers.iter().map(|c| c.customer_tenant_id).collect();
        let served = indirectly_served(self.db.pool(), &tenants).await?;
        let page = self.pages.page(page, customers, |c| c.id.to_string());
        Ok(Page {
            items: page
                .items
                .iter()
                .map(|c| c.to_proto(served.contains(&c.customer_tenant_id)))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// What `partner_tenant_id` is to `customer_tenant_id`, if anything.
    pub async fn customer_relationship(
        &self,
        partner_tenant_id: Uuid,
        customer_tenant_id: Uuid,
    ) -> Result<Option<Customer>, StoreError> {
        fetch_customer(self.db.pool(), partner_tenant_id, customer_tenant_id).await
    }

    /// The relationships of `customer_tenant_id` with those of `partner_tenant_ids` that are
    /// its partners of record, by partner; one statement.
    pub async fn customer_relationships(
        &self,
        customer_tenant_id: Uuid,
        partner_tenant_ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Customer>, StoreError> {
        if partner_tenant_ids.is_empty() {
            return Ok(HashMap::new()); // `IN ()` is no statement PostgreSQL accepts
        }
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_tenant_id = $1 AND partner_tenant_id IN ({})",
            suite_db::placeholders(2..=partner_tenant_ids.len() + 1)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(customer_tenant_id.to_string());
        for partner in partner_tenant_ids {
            query = query.bind(partner.to_string());
        }
        query
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|row| customer_from_row(row).map(|view| (view.partner_tenant_id, view)))
            .collect()
    }

    /// One page of the partners of `customer_tenant_id`, oldest relationship first.
    pub async fn list_customer_partners(
        &self,
        customer_tenant_id: Uuid,
        page: &PageRequest,
    ) -> Result<Page<Customer>, StoreError> {
        let sql = format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE customer_tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(customer_tenant_id.to_string())
            .bind(page.after_key())
            .bind(page.fetch_limit())
            .fetch_all(self.db.pool())
            .await?;
        let views = rows
            .iter()
            .map(customer_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.pages.page(page, views, |c| c.id.to_string()))
    }
}

pub(super) async fn fetch_customer<'e>(
    executor: impl Executor<'e, Database = Any>,
    partner_tenant_id: Uuid,
    customer_tenant_id: Uuid,
) -> Result<Option<Customer>, StoreError> {
    let sql = format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE partner_tenant_id = $1 AND customer_tenant_id = $2"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(partner_tenant_id.to_string())
        .bind(customer_tenant_id.to_string())
        .fetch_optional(executor)
        .await?;
    row.as_ref().map(customer_from_row).transpose()
}

/// Of `customer_tenants`, those with an indirect reseller relationship (a reseller or a
/// provider of record), with any partner.
pub(super) async fn indirectly_served<'e>(
    executor: impl Executor<'e, Database = Any>,
    customer_tenants: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    if customer_tenants.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT DISTINCT customer_tenant_id FROM customers WHERE partner_role <> $1 AND customer_tenant_id IN ({})",
        suite_db::placeholders(2..=customer_tenants.len() + 1)
    );
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
        .bind(pb::PartnerRole::DirectBillPartner.as_str_name());
    for tenant in customer_tenants {
        query = query.bind(tenant.to_string());
    }
    query
        .fetch_all(executor)
        .await?
        .iter()
        .map(|tenant| {
            Uuid::parse_str(tenant)
                .map_err(|e| StoreError::Corrupt(format!("customer_tenant_id {tenant}: {e}")))
        })
        .collect()
}

/// Records that `creator`'s partner creates its customer tenant; a tenant that exists
/// already (whoever created it) is refused, in the same transaction as the records.
async fn claim_customer_tenant(tx: &mut Tx, creator: &Customer) -> Result<(), Error> {
    let claimed = sqlx::query(
        "INSERT INTO customer_tenants (tenant_id, creator_tenant_id, create_time) VALUES ($1, $2, $3)",
    )
    .bind(creator.customer_tenant_id.to_string())
    .bind(creator.partner_tenant_id.to_string())
    .bind(creator.create_time)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from);
    match claimed {
        Err(StoreError::UniqueViolation(_)) => Err(Error::CustomerTenantExists(format!(
            "customers/{}",
            creator.customer_tenant_id
        ))),
        other => Ok(other.map(|_| ())?),
    }
}

pub(super) async fn insert_customer(tx: &mut Tx, customer: &Customer) -> Result<(), StoreError> {
    let billing = &customer.billing;
    sqlx::query(
        "INSERT INTO customers (id, partner_tenant_id, customer_tenant_id, display_name, domain, country_code, \
         billing_company_name, billing_address_line1, billing_address_line2, billing_city, billing_region, \
         billing_postal_code, billing_country_code, billing_contact_first_name, billing_contact_last_name, \
         billing_contact_email, billing_contact_phone, partner_role, acquisition, admin_permissions, create_time, \
         update_time, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)",
    )
    .bind(customer.id.to_string())
    .bind(customer.partner_tenant_id.to_string())
    .bind(customer.customer_tenant_id.to_string())
    .bind(&customer.display_name)
    .bind(&customer.domain)
    .bind(&customer.country_code)
    .bind(&billing.company_name)
    .bind(&billing.address_line1)
    .bind(&billing.address_line2)
    .bind(&billing.city)
    .bind(&billing.region)
    .bind(&billing.postal_code)
    .bind(&billing.country_code)
    .bind(&billing.contact_first_name)
    .bind(&billing.contact_last_name)
    .bind(&billing.contact_email)
    .bind(&billing.contact_phone)
    .bind(customer.partner_role.as_str_name())
    .bind(customer.acquisition.as_str_name())
    .bind(i64::from(customer.admin_permissions))
    .bind(customer.create_time)
    .bind(customer.update_time)
    .bind(customer.version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Registers `customer_tenant_id` as created at `now` through `creator_tenant_id`, unless it
/// is known already (a customer accepting an invitation may be new to the suite or not).
pub(super) async fn claim_customer_tenant_if_new(
    tx: &mut Tx,
    customer_tenant_id: Uuid,
    creator_tenant_id: Uuid,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO customer_tenants (tenant_id, creator_tenant_id, create_time) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(customer_tenant_id.to_string())
    .bind(creator_tenant_id.to_string())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Locks customer tenant `customer_tenant_id` (on PostgreSQL) for the rest of the
/// transaction: changes to who serves a customer indirectly (an acceptance, an extension)
/// happen one at a time per customer, each reading what the one before wrote.
pub(super) async fn lock_customer_tenant(
    tx: &mut Tx,
    customer_tenant_id: Uuid,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT tenant_id FROM customer_tenants WHERE tenant_id = $1{}",
        suite_db::for_update(tx)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(customer_tenant_id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(())
}

/// Turns an existing view into `role` gained by invitation, with admin permissions, under a
/// version check; returns the changed view.
pub(super) async fn save_role(
    tx: &mut Tx,
    current: &Customer,
    role: pb::PartnerRole,
    now: i64,
    name: &str,
) -> Result<Customer, Error> {
    let changed = Customer {
        partner_role: role,
        acquisition: pb::Acquisition::Invitation,
        admin_permissions: true,
        update_time: now,
        version: current.version + 1,
        ..current.clone()
    };
    save_standing(tx, &changed, current.version, name).await?;
    Ok(changed)
}

/// Writes what `customer`'s partner is to the customer (role, acquisition, admin
/// permissions) if the stored row is still at `version`.
pub(super) async fn save_standing(
    tx: &mut Tx,
    customer: &Customer,
    version: i64,
    name: &str,
) -> Result<(), Error> {
    let updated = sqlx::query(
        "UPDATE customers SET partner_role = $1, acquisition = $2, admin_permissions = $3, update_time = $4, \
         version = $5 WHERE id = $6 AND version = $7",
    )
    .bind(customer.partner_role.as_str_name())
    .bind(customer.acquisition.as_str_name())
    .bind(i64::from(customer.admin_permissions))
    .bind(customer.update_time)
    .bind(customer.version)
    .bind(customer.id.to_string())
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(name.to_owned()));
    }
    Ok(())
}

/// Writes `customer` if the stored row is still at `version`.
async fn save_customer(
    tx: &mut Tx,
    customer: &Customer,
    version: i64,
    name: &str,
) -> Result<(), Error> {
    let billing = &customer.billing;
    let updated = sqlx::query(
        "UPDATE customers SET display_name = $1, billing_company_name = $2, billing_address_line1 = $3, \
         billing_address_line2 = $4, billing_city = $5, billing_region = $6, billing_postal_code = $7, \
         billing_country_code = $8, billing_contact_first_name = $9, billing_contact_last_name = $10, \
         billing_contact_email = $11, billing_contact_phone = $12, update_time = $13, version = $14 \
         WHERE id = $15 AND version = $16",
    )
    .bind(&customer.display_name)
    .bind(&billing.company_name)
    .bind(&billing.address_line1)
    .bind(&billing.address_line2)
    .bind(&billing.city)
    .bind(&billing.region)
    .bind(&billing.postal_code)
    .bind(&billing.country_code)
    .bind(&billing.contact_first_name)
    .bind(&billing.contact_last_name)
    .bind(&billing.contact_email)
    .bind(&billing.contact_phone)
    .bind(customer.update_time)
    .bind(customer.version)
    .bind(customer.id.to_string())
    .bind(version)
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    if updated.rows_affected() == 0 {
        return Err(Error::ConcurrentChange(name.to_owned()));
    }
    Ok(())
}

fn customer_from_row(row: &AnyRow) -> Result<Customer, StoreError> {
    let uuid = |column: &str| columns::uuid(row, column);
    let text = |column: &str| -> Result<String, StoreError> { Ok(row.try_get(column)?) };
    let role: String = row.try_get("partner_role")?;
    let acquisition: String = row.try_get("acquisition")?;
    Ok(Customer {
        id: uuid("id")?,
        partner_tenant_id: uuid("partner_tenant_id")?,
        customer_tenant_id: uuid("customer_tenant_id")?,
        display_name: text("display_name")?,
        domain: text("domain")?,
        country_code: text("country_code")?,
        billing: BillingProfile {
            company_name: text("billing_company_name")?,
            address_line1: text("billing_address_line1")?,
            address_line2: text("billing_address_line2")?,
            city: text("billing_city")?,
            region: text("billing_region")?,
            postal_code: text("billing_postal_code")?,
            country_code: text("billing_country_code")?,
            contact_first_name: text("billing_contact_first_name")?,
            contact_last_name: text("billing_contact_last_name")?,
            contact_email: text("billing_contact_email")?,
            contact_phone: text("billing_contact_phone")?,
        },
        partner_role: pb::PartnerRole::from_str_name(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("partner_role {role}")))?,
        acquisition: pb::Acquisition::from_str_name(&acquisition)
            .ok_or_else(|| StoreError::Corrupt(format!("acquisition {acquisition}")))?,
        admin_permissions: columns::flag(row, "admin_permissions")?,
        create_time: row.try_get("create_time")?,
        update_time: row.try_get("update_time")?,
        version: row.try_get("version")?,
    })
}
