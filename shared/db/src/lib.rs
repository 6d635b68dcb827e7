//! The database layer every service stands on: the URL scheme picks the backend
//! (`sqlite:` for the embedded default, `postgres://` in production), migrations are embedded
//! and applied at start-up, and the platform tables — idempotency keys, audit events and the
//! outbox — are written in the same transaction as the change they belong to.
//!
//! Services write one set of queries against sqlx's `Any` driver, in the SQL both backends
//! share (`$1` placeholders, integer micros for times, text UUIDs), so one store
//! implementation serves both and one contract test suite checks it on both.

mod audit;
mod backend;
mod batch;
mod change;
pub mod columns;
mod connect;
mod error;
mod idempotency;
mod lock;
mod migrate;
mod outbox;
mod outbox_metrics;
mod page;
mod placeholders;
mod relay;
mod retention;

use std::str::FromStr;

use sqlx::any::AnyConnectOptions;
use sqlx::{AnyPool, AssertSqlSafe};
use suite_config::Secret;

pub use audit::{AuditEvent, record_audit, record_audits};
pub use backend::Backend;
pub use batch::{LoadBatch, Loaded, ReadBatcher};
pub use change::{Change, record_change, record_unrequested_change};
pub use connect::DatabaseSettings;
pub use error::StoreError;
pub use idempotency::{IdempotencyKey, Replay};
pub use lock::for_update;
pub use migrate::MigrationFile;
pub use outbox::{OutboxMessage, enqueue};
pub use page::{Page, PageRequest, PageTokenCodec};
pub use placeholders::placeholders;
pub use relay::{
    Deliverer, Delivery, PendingMessage, RelaySettings, RelayWaker, relay_once, run_relay,
};
pub use retention::{Pruned, prune, run_pruning};
pub use suite_time::{Clock, ManualClock, now_micros};

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// A service's connection pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Builds the pool with default settings without connecting; see [`Self::connect_lazy_with`].
    pub fn connect_lazy(url: &Secret) -> Result<Self, StoreError> {
        Self::connect_lazy_with(url, &DatabaseSettings::default())
    }

    /// Builds the pool without connecting, so a service can start and report NOT_SERVING
    /// while its database is still unreachable; every connection gets `settings`.
    pub fn connect_lazy_with(
        url: &Secret,
        settings: &DatabaseSettings,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url.expose())?;
        let url = match backend {
            Backend::Sqlite => connect::sqlite_url(url.expose())?,
            Backend::Postgres => url.expose().to_owned(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Config(e.to_string()))?;
        let pool = match backend {
            Backend::Sqlite => connect::sqlite_pool(options, settings),
            Backend::Postgres => connect::postgres_pool(options, settings),
        };
        Ok(Self { pool, backend })
    }

    /// The pool, for reads outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The most connections the pool opens.
    pub fn pool_size(&self) -> usize {
        self.pool.options().get_max_connections() as usize
    }

    /// How many connections batched reads ([`ReadBatcher`]) may hold at once: all but a
    /// quarter of the pool (at least one), so writes and other reads always find one free
    /// within a statement's time.
    pub fn read_batch_slots(&self) -> usize {
        let pool = self.pool_size();
        pool.saturating_sub((pool / 4).max(1)).max(1)
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so two writers queue on the busy timeout instead of deadlocking when a
    /// read lock would later need upgrading.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(StoreError::from)
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Counts the rows of `table` (a plain lower-case identifier); tests use it to show that a
/// refused request wrote nothing.
pub async fn count_rows(db: &Database, table: &str) -> Result<i64, StoreError> {
    let is_identifier =
        !table.is_empty() && table.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !is_identifier {
        return Err(StoreError::Config(format!("cannot count table `{table}`")));
    }
    let sql = format!("SELECT COUNT(*) FROM {table}");
    let count: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
        .fetch_one(&db.pool)
        .await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn batched_reads_leave_a_quarter_of_the_pool_to_other_statements() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("slots.db").display());
        let sqlite = Database::connect_lazy(&Secret::new(url)).unwrap();
        assert_eq!((sqlite.pool_size(), sqlite.read_batch_slots()), (4, 3));
        let postgres =
            Database::connect_lazy(&Secret::new("postgres://nobody@127.0.0.1:1/none")).unwrap();
        assert_eq!((postgres.pool_size(), postgres.read_batch_slots()), (10, 8));
    }
}
