//! The durable record of a transfer's execution: each step's outcome is written in the
//! transaction of its effect, and saved only from the version the executor read, so two
//! executors of one transfer (a replica whose lease ran out, say) never apply a step twice.

use std::collections::HashMap;

use prost::Message;
use suite_auth::Caller;
use suite_db::{AuditEvent, StoreError, Tx};
use suite_proto::transfer::v1 as pb;
use uuid::Uuid;

use super::TransferStore;
use super::subscriptions::{fetch_subscription, insert_subscription, save_subscription};
use super::transfers::{current_quantities, fetch_request, record_transition, save_request};
use crate::domain::TransferRequest;
use crate::domain::subscription::subscription_name;
use crate::error::Error;

/// How the move of a transfer's subscriptions ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Every subscription is the provider's.
    Completed,
    /// Another executor changed the request first; nothing was done.
    Superseded,
}

impl TransferStore {
    /// Request `id`, as the executor reads it.
    pub async fn transfer_request(&self, id: Uuid) -> Result<Option<TransferRequest>, StoreError> {
        let mut conn = self.db.pool().acquire().await?;
        Ok(fetch_request(&mut conn, id, "")
            .await?
            .map(|(request, _)| request))
    }

    /// Records `next`, the request after an attempt at `current`'s step (`outcome` with
    /// `detail`); false when another executor changed the request first.
    pub async fn record_step(
        &self,
        current: &TransferRequest,
        next: &TransferRequest,
        outcome: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        if !save_or_superseded(&mut tx, current, next).await? {
            return Ok(false);
        }
        insert_step(&mut tx, current, next, outcome, detail).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Ends `current` as FAILED for `reason`: nothing moved, its subscriptions are free
    /// again, both sides are told. False when another executor changed it first.
    pub async fn fail_transfer(
        &self,
        current: &TransferRequest,
        reason: &str,
        error: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let next = current.failed(reason, error, now);
        let mut tx = self.db.begin().await?;
        if !save_or_superseded(&mut tx, current, &next).await? {
            return Ok(false);
        }
        insert_step(&mut tx, current, &next, "FAILED", error).await?;
        let quantities = current_quantities(&mut tx, &next).await?;
        record_transition(
            &mut tx,
            &Caller::service(crate::SERVICE),
            None,
            Some(&current.to_proto(&quantities)),
            &next.to_proto(&quantities),
            &next,
            "ExecuteTransfer",
            "transfer.v1.transfer_request.failed",
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Moves `current`'s subscriptions to the provider in one transaction: each gets a
    /// successor under the provider with the quantity of the request (an Azure one keeps
    /// its Azure subscription id); the source's Azure pay-as-you-go subscriptions leave its
    /// list and its licence-based ones stay listed as SUSPENDED (partner-to-partner: the
    /// source's are CANCELLED); the request completes. A crash before the commit leaves all
    /// of it undone, after it all done.
    pub async fn move_subscriptions(
        &self,
        current: &TransferRequest,
        now: i64,
    ) -> Result<MoveOutcome, Error> {
        let mut tx = self.db.begin().await?;
        let lock = suite_db::for_update(&tx);
        // The request row first: a second executor waits here, then sees the new version.
        let fresh = fetch_request(&mut tx, current.id, lock).await?;
        if fresh.as_ref().map(|(r, _)| r.version) != Some(current.version) {
            return Ok(MoveOutcome::Superseded);
        }
        let source = current.source_customer();
        let provider = current.provider_customer();
        let partner_transfer = current.is_partner_transfer();
        let executor = Caller::service(crate::SERVICE);
        // Every subscription of the request locked first, in id order as every other
        // transaction that locks several takes them, so two never wait on each other.
        let mut ids: Vec<Uuid> = current
            .line_items
            .iter()
            .map(|i| i.subscription_id)
            .collect();
        ids.sort();
        let mut originals = HashMap::new();
        for id in ids {
            let original = fetch_subscription(&mut tx, source, id, lock)
                .await?
                .filter(|s| s.status == pb::SubscriptionStatus::Active)
                .ok_or_else(|| {
                    changed(format!(
                        "{} is no longer ACTIVE with its partner",
                        subscription_name(source, id)
                    ))
                })?;
            originals.insert(id, original);
        }
        // Add-ons travel with their base: one ordered after the request would stay behind.
        for item in current
            .line_items
            .iter()
            .filter(|i| i.base_subscription_id.is_none())
        {
            for add_on in active_add_ons(&mut tx, item.subscription_id).await? {
                if !originals.contains_key(&add_on) {
                    return Err(changed(format!(
                        "{} gained the add-on {} after the request: cancel the request and create it again",
                        subscription_name(source, item.subscription_id),
                        subscription_name(source, add_on)
                    )));
                }
            }
        }
        let mut moved: HashMap<Uuid, Uuid> = HashMap::new();
        let mut trail = Vec::with_capacity(2 * current.line_items.len());
        for item in &current.line_items {
            let Some(original) = originals.get(&item.subscription_id).cloned() else {
                continue; // locked above
            };
            let mut successor = original.clone();
            successor.id = Uuid::now_v7();
            successor.partner_tenant_id = provider.partner_tenant_id;
            // The quantity of the request, not a later change at the source.
            successor.quantity = item.quantity;
            successor.base_subscription_id = item
                .base_subscription_id
                .and_then(|base| moved.get(&base).copied());
            successor.transferred_from = original.name();
            successor.transferred_to = String::new();
            // A New Commerce licence keeps its term at the target: no new 72-hour window
            // and the same renewal date.
            if !partner_transfer {
                successor.create_time = now;
            }
            successor.update_time = now;
            successor.version = 1;

            let mut left = original.clone();
            left.status = match original.offer_kind {
                _ if partner_transfer => pb::SubscriptionStatus::Cancelled,
                pb::OfferKind::AzurePayAsYouGo => pb::SubscriptionStatus::Transferred,
                _ => pb::SubscriptionStatus::Suspended,
            };
            if partner_transfer {
                left.cancel_time = Some(now);
            }
            left.transferred_to = successor.name();
            left.update_time = now;
            left.version = original.version + 1;
            // The source's copy leaves ACTIVE first: an Azure subscription id is ACTIVE under
            // one partner at a time, which the database holds.
            save_subscription(&mut tx, &original, &left).await?;
            insert_subscription(&mut tx, &successor).await?;
            trail.push((
                source.partner_tenant_id,
                left.name(),
                Some(pb::Subscription::from(&original).encode_to_vec()),
                pb::Subscription::from(&left).encode_to_vec(),
            ));
            trail.push((
                provider.partner_tenant_id,
                successor.name(),
                None,
                pb::Subscription::from(&successor).encode_to_vec(),
            ));
            moved.insert(original.id, successor.id);
        }
        // Each side's trail of each subscription, written at once.
        let events: Vec<AuditEvent> = trail
            .iter()
            .map(|(tenant_id, name, before, after)| AuditEvent {
                tenant_id: *tenant_id,
                resource_name: name,
                action: "ExecuteTransfer",
                request_id: None,
                before: before.clone(),
                after: Some(after.clone()),
            })
            .collect();
        suite_db::record_audits(&mut tx, &executor, &events).await?;
        let next = current.completed(&moved, now);
        save_request(&mut tx, current, &next).await?;
        insert_step(
            &mut tx,
            current,
            &next,
            "COMPLETED",
            &format!("{} subscription(s) moved", moved.len()),
        )
        .await?;
        let quantities = current_quantities(&mut tx, &next).await?;
        record_transition(
            &mut tx,
            &executor,
            None,
            Some(&current.to_proto(&quantities)),
            &next.to_proto(&quantities),
            &next,
            "ExecuteTransfer",
            "transfer.v1.transfer_request.completed",
        )
        .await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(MoveOutcome::Completed)
    }
}

/// The refusal of a move whose subscriptions changed since the request.
fn changed(detail: String) -> Error {
    Error::Precondition {
        reason: SUBSCRIPTION_CHANGED,
        message: detail,
    }
}

/// Reason a transfer fails with when its subscriptions changed after the request.
pub const SUBSCRIPTION_CHANGED: &str = "SUBSCRIPTION_CHANGED";

/// The ACTIVE add-ons of `base`, read in `tx`.
async fn active_add_ons(tx: &mut Tx, base: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let rows = sqlx::query(
        "SELECT id FROM subscriptions WHERE base_subscription_id = $1 AND status = 'SUBSCRIPTION_STATUS_ACTIVE'",
    )
    .bind(base.to_string())
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| suite_db::columns::uuid(row, "id"))
        .collect()
}

/// Saves `next` unless another executor changed the request first (then false).
async fn save_or_superseded(
    tx: &mut Tx,
    current: &TransferRequest,
    next: &TransferRequest,
) -> Result<bool, StoreError> {
    match save_request(tx, current, next).await {
        Ok(()) => Ok(true),
        Err(Error::ConcurrentChange(_)) => Ok(false),
        Err(Error::Store(error)) => Err(error),
        Err(other) => Err(StoreError::Corrupt(other.to_string())),
    }
}

async fn insert_step(
    tx: &mut Tx,
    current: &TransferRequest,
    next: &TransferRequest,
    outcome: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO transfer_steps (request_id, version, step, outcome, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(current.id.to_string())
    .bind(next.version)
    .bind(current.execution.step.as_str_name())
    .bind(outcome)
    .bind(detail)
    .bind(next.update_time)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
