use uuid::Uuid;

use crate::{StoreError, Tx, now_micros};

/// A message to leave the service after its transaction commits: a lifecycle event, an
/// e-mail or a call to a peer. A relay delivers it at least once.
#[derive(Debug, Clone)]
pub struct OutboxMessage<'a> {
    /// What kind of message, e.g. `enrollment.v1.partner.created` or `email`.
    pub topic: &'a str,
    /// What it is about (a resource name). Messages are handed over in the order they were
    /// written, but a message being retried does not hold back later ones with its key:
    /// receivers do not rely on order.
    pub key: &'a str,
    /// Encoded body.
    pub payload: Vec<u8>,
}

/// Writes `message` inside `tx`: it leaves if and only if the change commits. It keeps the
/// current trace context, so that its delivery links to the request that wrote it.
pub async fn enqueue(tx: &mut Tx, message: OutboxMessage<'_>) -> Result<(), StoreError> {
    let now = now_micros();
    sqlx::query(
        "INSERT INTO outbox_messages (id, created_at, topic, message_key, payload, next_attempt_at, trace_parent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(now)
    .bind(message.topic)
    .bind(message.key)
    .bind(message.payload)
    .bind(now)
    .bind(suite_telemetry::current_traceparent())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
