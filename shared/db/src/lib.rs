//! The database layer every service stands on: the URL scheme picks the backend
//! (`sqlite:` for the embedded default, `postgres://` in production), migrations are embedded
//! and applied at start-up, and the platform tables — idempotency keys, audit events and the
//! outbox — are written in the same transaction as the change they belong to.
//!
//! Services write one set of queries against sqlx's `Any` driver, in the SQL both backends
//! share (`$1` placeholders, integer micros for times, text UUIDs), so one store
//! implementation serves both and one contract test suite checks it on both.

mod audit;
mod change;
pub mod columns;
mod error;
mod idempotency;
mod outbox;
mod page;
mod relay;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, AssertSqlSafe, Executor, SqlSafeStr};
use suite_config::Secret;

pub use audit::{AuditEvent, record_audit};
pub use change::{Change, record_change};
pub use error::StoreError;
pub use idempotency::{IdempotencyKey, Replay};
pub use outbox::{OutboxMessage, enqueue};
pub use page::{Page, PageRequest, PageTokenCodec};
pub use relay::{
    Deliverer, Delivery, PendingMessage, RelaySettings, RelayWaker, relay_once, run_relay,
};
pub use suite_time::{Clock, ManualClock, now_micros};

/// A transaction on either backend.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a connection URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(
                "database url must start with sqlite: or postgres://".into(),
            ))
        }
    }

    /// Rewrites migration SQL written for both backends into this backend's dialect.
    fn dialect(self, sql: &str) -> String {
        match self {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => sql.replace(" BLOB", " BYTEA"),
        }
    }
}

/// One migration file of a service, embedded with `include_str!`.
#[derive(Debug, Clone, Copy)]
pub struct MigrationFile {
    /// Version; the platform uses 1–99, services 100 and above.
    pub version: i64,
    /// Short description.
    pub description: &'static str,
    /// SQL in the dialect both backends share.
    pub sql: &'static str,
}

const PLATFORM_MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 1,
        description: "platform tables",
        sql: include_str!("../migrations/0001_platform.sql"),
    },
    MigrationFile {
        version: 2,
        description: "idempotency scope by who asked",
        sql: include_str!("../migrations/0002_idempotency_scope.sql"),
    },
];

/// SQLite waits this long for a competing writer before reporting the database busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// A service's connection pool.
#[derive(Clone, Debug)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Builds the pool without connecting, so a service can start and report NOT_SERVING
    /// while its database is still unreachable.
    pub fn connect_lazy(url: &Secret) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url.expose())?;
        let url = match backend {
            // Create the file on first start.
            Backend::Sqlite
                if !url.expose().contains('?') && !url.expose().contains(":memory:") =>
            {
                format!("{}?mode=rwc", url.expose())
            }
            _ => url.expose().to_owned(),
        };
        let options =
            AnyConnectOptions::from_str(&url).map_err(|e| StoreError::Config(e.to_string()))?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(5));
        let pool = match backend {
            Backend::Sqlite => pool_options
                .max_connections(4)
                .after_connect(|connection, _| {
                    Box::pin(async move {
                        // WAL lets readers run beside the one writer; the busy timeout makes a
                        // second writer wait instead of failing.
                        connection.execute("PRAGMA journal_mode = WAL").await?;
                        connection.execute("PRAGMA synchronous = NORMAL").await?;
                        connection.execute("PRAGMA foreign_keys = ON").await?;
                        let busy = format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}");
                        connection.execute(AssertSqlSafe(busy)).await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options),
            Backend::Postgres => pool_options.max_connections(10).connect_lazy_with(options),
        };
        Ok(Self { pool, backend })
    }

    /// The pool, for reads outside a transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the platform migrations and then `service` ones. On PostgreSQL sqlx holds an
    /// advisory lock meanwhile, so replicas starting together apply each migration once.
    pub async fn migrate(&self, service: &[MigrationFile]) -> Result<(), StoreError> {
        let migrations = PLATFORM_MIGRATIONS
            .iter()
            .chain(service)
            .map(|file| {
                Migration::new(
                    file.version,
                    file.description.into(),
                    MigrationType::Simple,
                    AssertSqlSafe(self.backend.dialect(file.sql)).into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
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
