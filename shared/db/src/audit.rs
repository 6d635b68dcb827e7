use suite_identity::Caller;
use uuid::Uuid;

use crate::{StoreError, Tx, now_micros};

/// One state change, as the audit trail keeps it.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Tenant that owns the changed resource.
    pub tenant_id: Uuid,
    /// Resource name, e.g. `partners/{tenant}`.
    pub resource_name: &'a str,
    /// What happened, e.g. `CreatePartner`.
    pub action: &'a str,
    /// The request id of the mutation.
    pub request_id: Option<&'a str>,
    /// Encoded resource before the change; `None` on create.
    pub before: Option<Vec<u8>>,
    /// Encoded resource after the change; `None` on delete.
    pub after: Option<Vec<u8>>,
}

/// Writes `event` inside `tx`, so the trail holds exactly the changes that committed.
pub async fn record_audit(
    tx: &mut Tx,
    caller: &Caller,
    event: AuditEvent<'_>,
) -> Result<(), StoreError> {
    let actor = caller.actor();
    sqlx::query(
        "INSERT INTO audit_events (id, occurred_at, tenant_id, resource_name, action, actor_subject, \
         actor_kind, actor_tenant_id, via_service, request_id, before_state, after_state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(now_micros())
    .bind(event.tenant_id.to_string())
    .bind(event.resource_name)
    .bind(event.action)
    .bind(&actor.subject)
    .bind(actor.kind.as_str())
    .bind(actor.tenant_id.to_string())
    .bind(caller.via_service())
    .bind(event.request_id)
    .bind(event.before)
    .bind(event.after)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
