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
    record_audits(tx, caller, std::slice::from_ref(&event)).await
}

/// Most events one statement writes: 12 parameters each stay far below either database's
/// limit on parameters.
const EVENTS_PER_STATEMENT: usize = 256;

/// Writes `events`, all done by `caller`, inside `tx` in as few statements as it can (one
/// change seen by several tenants, a move of many subscriptions).
pub async fn record_audits(
    tx: &mut Tx,
    caller: &Caller,
    events: &[AuditEvent<'_>],
) -> Result<(), StoreError> {
    let actor = caller.actor();
    let actor_tenant_id = actor.tenant_id.to_string();
    let occurred_at = now_micros();
    for chunk in events.chunks(EVENTS_PER_STATEMENT) {
        // The common shapes (a change seen by one or two tenants) are prepared once per
        // connection; a large move's statement is parsed each time rather than crowd the
        // connection's cache of prepared statements.
        let mut query =
            sqlx::query(sqlx::AssertSqlSafe(insert_sql(chunk.len()))).persistent(chunk.len() <= 2);
        for event in chunk {
            query = query
                .bind(Uuid::now_v7().to_string())
                .bind(occurred_at)
                .bind(event.tenant_id.to_string())
                .bind(event.resource_name)
                .bind(event.action)
                .bind(&actor.subject)
                .bind(actor.kind.as_str())
                .bind(&actor_tenant_id)
                .bind(caller.via_service())
                .bind(event.request_id)
                .bind(event.before.as_deref())
                .bind(event.after.as_deref());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `INSERT INTO audit_events` of `rows` rows.
fn insert_sql(rows: usize) -> String {
    const COLUMNS: usize = 12;
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * COLUMNS + 1;
            format!("({})", crate::placeholders(first..=first + COLUMNS - 1))
        })
        .collect();
    format!(
        "INSERT INTO audit_events (id, occurred_at, tenant_id, resource_name, action, actor_subject, \
         actor_kind, actor_tenant_id, via_service, request_id, before_state, after_state) VALUES {}",
        values.join(", ")
    )
}
