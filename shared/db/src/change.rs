use prost::Message;
use suite_identity::Caller;
use uuid::Uuid;

use crate::{AuditEvent, IdempotencyKey, OutboxMessage, StoreError, Tx};

/// A committed-together record of one mutation: who changed which resource how, the
/// lifecycle event it publishes, and the response a retry of the same request replays.
pub struct Change<'a, R: Message> {
    /// Tenant that owns the resource.
    pub tenant_id: Uuid,
    /// Resource name.
    pub resource_name: &'a str,
    /// RPC that made the change, e.g. `CreatePartner`.
    pub action: &'a str,
    /// Event topic, e.g. `enrollment.v1.partner.created`.
    pub topic: &'a str,
    /// Encoded resource before the change; `None` on create.
    pub before: Option<Vec<u8>>,
    /// The resource after the change; also the event payload.
    pub after: &'a R,
}

/// Writes the audit event, the outbox event and the idempotent response of `change` inside
/// `tx`; the caller commits.
pub async fn record_change<R: Message>(
    tx: &mut Tx,
    caller: &Caller,
    key: &IdempotencyKey,
    change: Change<'_, R>,
) -> Result<(), StoreError> {
    let after = change.after;
    write_change(tx, caller, Some(key.request_id()), change).await?;
    key.complete(tx, after).await
}

/// Writes the audit event and the outbox event of a `change` nobody requested (a sweep
/// acting on the clock, a workflow step) inside `tx`; the caller commits.
pub async fn record_unrequested_change<R: Message>(
    tx: &mut Tx,
    caller: &Caller,
    change: Change<'_, R>,
) -> Result<(), StoreError> {
    write_change(tx, caller, None, change).await
}

async fn write_change<R: Message>(
    tx: &mut Tx,
    caller: &Caller,
    request_id: Option<&str>,
    change: Change<'_, R>,
) -> Result<(), StoreError> {
    let after = change.after.encode_to_vec();
    crate::record_audit(
        tx,
        caller,
        AuditEvent {
            tenant_id: change.tenant_id,
            resource_name: change.resource_name,
            action: change.action,
            request_id,
            before: change.before,
            after: Some(after.clone()),
        },
    )
    .await?;
    crate::enqueue(
        tx,
        OutboxMessage {
            topic: change.topic,
            key: change.resource_name,
            payload: after,
        },
    )
    .await
}
