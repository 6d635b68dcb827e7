//! Reseller relationship extensions: the provider's view and the customer's recorded
//! consent, written together under the partnership's row lock.

use prost::Message;
use suite_auth::Caller;
use suite_db::{AuditEvent, Change, IdempotencyKey, Replay, StoreError};
use suite_proto::relationship::v1 as pb;

use super::RelationshipStore;
use super::customers::{fetch_customer, insert_customer};
use crate::domain::extension::Consent;
use crate::domain::{Customer, customer_name, partnerships};
use crate::error::Error;

impl RelationshipStore {
    /// Extends `partner_view`'s relationship to `provider_view`'s provider with `consent`,
    /// or replays an earlier identical request. Refused unless the partnership is ACTIVE and
    /// the partner's view is unchanged since it was read.
    pub async fn extend_relationship(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        partner_view: &Customer,
        provider_view: &Customer,
        consent: &Consent,
    ) -> Result<pb::Customer, Error> {
        let (partner, provider, customer) = (
            partner_view.partner_tenant_id,
            provider_view.partner_tenant_id,
            partner_view.customer_tenant_id,
        );
        let mut tx = self.db.begin().await?;
        if let Replay::Previous(previous) = key.claim::<pb::Customer>(&mut tx).await? {
            return Ok(previous);
        }
        let lock = suite_db::for_update(&tx);
        let partnership =
            super::partnerships::fetch_partnership(&mut *tx, provider, partner, lock).await?;
        if !partnership.is_some_and(|p| partnerships::allows_new_business(p.state)) {
            return Err(Error::Precondition {
                reason: "PARTNERSHIP_NOT_ACTIVE",
                subject: format!("partners/{partner}/indirectProviders/{provider}"),
                message:
                    "extend relationships only to a provider you are in an ACTIVE partnership with"
                        .into(),
            });
        }
        let current = fetch_customer(&mut *tx, partner, customer).await?;
        if current.as_ref().map(|c| c.version) != Some(partner_view.version) {
            return Err(Error::ConcurrentChange(customer_name(partner, customer)));
        }
        let provider_name = customer_name(provider, customer);
        match insert_customer(&mut tx, provider_view).await {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::CustomerExists(provider_name));
            }
            other => other?,
        }
        sqlx::query(
            "INSERT INTO relationship_extensions (partner_tenant_id, customer_tenant_id, provider_tenant_id, \
             consented_by, consent_time, notice_text, recorded_by, create_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(partner.to_string())
        .bind(customer.to_string())
        .bind(provider.to_string())
        .bind(&consent.consented_by)
        .bind(consent.consent_time)
        .bind(&consent.notice_text)
        .bind(&caller.actor().subject)
        .bind(provider_view.create_time)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // Served indirectly from now on, by definition.
        let response = provider_view.to_proto(true);
        // The partner's own trail shows that it extended the relationship.
        let partner_name = customer_name(partner, customer);
        suite_db::record_audit(
            &mut tx,
            caller,
            AuditEvent {
                tenant_id: partner,
                resource_name: &partner_name,
                action: "ExtendResellerRelationship",
                request_id: Some(key.request_id()),
                before: Some(partner_view.to_proto(false).encode_to_vec()),
                after: Some(partner_view.to_proto(true).encode_to_vec()),
            },
        )
        .await?;
        let change = Change {
            tenant_id: provider,
            resource_name: &provider_name,
            action: "ExtendResellerRelationship",
            topic: "relationship.v1.customer_relationship.extended",
            before: None,
            after: &response,
        };
        suite_db::record_change(&mut tx, caller, key, change).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(response)
    }
}
