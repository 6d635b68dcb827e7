//! Pruning what has served its purpose: delivered outbox messages and old idempotency keys.
//! Audit events and dead letters are kept.

use std::time::Duration;

use suite_config::Retention;
use tokio::sync::watch;

use crate::{Database, StoreError, now_micros};

/// Rows one statement deletes, so that pruning a large backlog never holds long locks.
const BATCH: i64 = 1_000;

/// What one pruning pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Delivered outbox messages.
    pub delivered_messages: u64,
    /// Idempotency keys.
    pub idempotency_keys: u64,
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Deletes what `retention` no longer keeps as of `now`, a batch at a time.
pub async fn prune(db: &Database, retention: &Retention, now: i64) -> Result<Pruned, StoreError> {
    let mut pruned = Pruned::default();
    let delivered_before = now.saturating_sub(micros(retention.delivered_messages));
    loop {
        let deleted = sqlx::query(
            "DELETE FROM outbox_messages WHERE id IN (SELECT id FROM outbox_messages \
             WHERE delivered_at IS NOT NULL AND failed_at IS NULL AND delivered_at < $1 LIMIT $2)",
        )
        .bind(delivered_before)
        .bind(BATCH)
        .execute(db.pool())
        .await?
        .rows_affected();
        pruned.delivered_messages += deleted;
        if deleted < BATCH as u64 {
            break;
        }
    }
    let keys_before = now.saturating_sub(micros(retention.idempotency_keys));
    loop {
        let deleted = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, request_id) IN (SELECT scope, request_id \
             FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
        )
        .bind(keys_before)
        .bind(BATCH)
        .execute(db.pool())
        .await?
        .rows_affected();
        pruned.idempotency_keys += deleted;
        if deleted < BATCH as u64 {
            break;
        }
    }
    Ok(pruned)
}

/// Prunes every `every` until `stopping` turns true. Every replica runs it; deleting twice
/// is harmless.
pub async fn run_pruning(
    db: Database,
    retention: Retention,
    every: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.changed() => return,
        }
        match prune(&db, &retention, now_micros()).await {
            Ok(pruned) if pruned != Pruned::default() => {
                tracing::info!(
                    delivered_messages = pruned.delivered_messages,
                    idempotency_keys = pruned.idempotency_keys,
                    "pruned"
                );
            }
            Ok(_) => {}
            // Before migrations or during an outage; the next pass tries again.
            Err(error) => tracing::debug!(%error, "pruning skipped"),
        }
    }
}
