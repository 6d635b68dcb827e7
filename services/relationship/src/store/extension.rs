//! Reseller relationship extensions: the provider's view, the customer's recorded consent
//! and the partner's own view turned indirect reseller, written together under the
//! partnership's and the customer tenant's row locks.

use prost::Message;
use suite_auth::Caller;
use suite_db::{AuditEvent, Change, IdempotencyKey, OutboxMessage, Replay, StoreError};
use suite_proto::relationship::v1 as pb;

use super::RelationshipStore;
use super::customers::{
    fetch_customer, indirectly_served, insert_customer, lock_customer_tenant, save_standing,
};
use crate::domain::extension::{Consent, extended_partner_view};
use crate::domain::{Customer, customer_name, partnerships};
use crate::error::Error;

impl RelationshipStore {
    /// Extends `partner_view`'s relationship to `provider_view`'s provider with `consent` at
    /// `now`, or replays an earlier identical request: the provider's view, the consent and
    /// the partner's own view turned indirect reseller, in one transaction under the
    /// partnership's and the customer tenant's row locks. Refused unless the partnership is
    /// ACTIVE, the partner's view is unchanged since it was read, and no partner serves the
    /// customer indirectly yet.
    pub async fn extend_relationship(
        &self,
        caller: &Caller,
        key: &IdempotencyKey,
        partner_view: &Customer,
        provider_view: &Customer,
        consent: &Consent,
        now: i64,
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
        lock_customer_tenant(&mut tx, customer).await?;
        let partner_name = customer_name(partner, customer);
        let current = fetch_customer(&mut *tx, partner, customer).await?;
        if current.as_ref().map(|c| c.version) != Some(partner_view.version) {
            return Err(Error::ConcurrentChange(partner_name));
        }
        if indirectly_served(&mut *tx, &[customer])
            .await?
            .contains(&customer)
        {
            return Err(Error::Precondition {
                reason: "CUSTOMER_ALREADY_SERVED_INDIRECTLY",
                subject: partner_name,
                message: "this customer already has an indirect reseller relationship, so its direct-bill relationship is not extended: send the customer an indirect reseller invitation instead".into(),
            });
        }
        match insert_customer(&mut tx, provider_view).await {
            Err(StoreError::UniqueViolation(_)) => {
                return Err(Error::Precondition {
                    reason: "PROVIDER_ALREADY_RELATED",
                    subject: partner_name,
                    message: "the provider already has a relationship with this customer: there is nothing to extend".into(),
                });
            }
            other => other?,
        }
        let extended = extended_partner_view(partner_view, now);
        save_standing(&mut tx, &extended, partner_view.version, &partner_name).await?;
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
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        // The partner is now the customer's indirect reseller: its own trail and event say so.
        let partner_after = extended.to_proto(true).encode_to_vec();
        suite_db::record_audit(
            &mut tx,
            caller,
            AuditEvent {
                tenant_id: partner,
                resource_name: &partner_name,
                action: "ExtendResellerRelationship",
                request_id: Some(key.request_id()),
                before: Some(partner_view.to_proto(false).encode_to_vec()),
                after: Some(partner_after.clone()),
            },
        )
        .await?;
        suite_db::enqueue(
            &mut tx,
            OutboxMessage {
                topic: "relationship.v1.customer.updated",
                key: &partner_name,
                payload: partner_after,
            },
        )
        .await?;
        // Served indirectly from now on, by definition.
        let response = provider_view.to_proto(true);
        let provider_name = customer_name(provider, customer);
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
