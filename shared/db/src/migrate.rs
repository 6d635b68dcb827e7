//! Embedded migrations, applied once however many replicas start together.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor, SqlSafeStr};

use crate::{Backend, Database, StoreError};

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

/// Platform migrations for both backends released after the PostgreSQL-only ones.
const LATER_PLATFORM_MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 4,
        description: "outbox dead letters and retention",
        sql: include_str!("../migrations/0004_outbox_dead_letters.sql"),
    },
    MigrationFile {
        version: 5,
        description: "outbox backlog and dead letters counted by topic",
        sql: include_str!("../migrations/0005_outbox_dead_letter_index.sql"),
    },
    MigrationFile {
        version: 6,
        description: "outbox trace context and claim tokens",
        sql: include_str!("../migrations/0006_outbox_trace_context.sql"),
    },
];

/// Platform migrations for PostgreSQL alone, after the shared ones.
const POSTGRES_MIGRATIONS: &[MigrationFile] = &[MigrationFile {
    version: 3,
    description: "text compares in byte order",
    sql: include_str!("../migrations/0003_postgres_text_byte_order.sql"),
}];

impl Database {
    /// Applies the platform migrations and then `service` ones, each once even when several
    /// replicas start together: on PostgreSQL sqlx holds an advisory lock meanwhile; on
    /// SQLite, where sqlx takes no lock, the whole run is one `BEGIN IMMEDIATE` transaction,
    /// so a second replica waits for the first and then finds nothing left to apply.
    pub async fn migrate(&self, service: &[MigrationFile]) -> Result<(), StoreError> {
        let backend_only = match self.backend {
            Backend::Postgres => POSTGRES_MIGRATIONS,
            Backend::Sqlite => &[],
        };
        let migrations = PLATFORM_MIGRATIONS
            .iter()
            .chain(backend_only)
            .chain(LATER_PLATFORM_MIGRATIONS)
            .chain(service)
            .map(|file| self.migration(file))
            .collect();
        let migrator = Migrator::with_migrations(migrations);
        let failed = |error: sqlx::migrate::MigrateError| StoreError::Migration(error.to_string());
        match self.backend {
            Backend::Postgres => {
                // A migration may rightly outlast a request (an ALTER over a large table, the
                // wait for another replica's lock): it runs on a connection of its own with
                // no statement timeout, closed afterwards rather than returned to the pool.
                let mut connection = self.pool.acquire().await?.detach();
                connection.execute("SET statement_timeout = 0").await?;
                let outcome = migrator
                    .run_direct(None, &mut connection, false)
                    .await
                    .map_err(failed);
                let _ = connection.close().await;
                outcome
            }
            Backend::Sqlite => {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                // Each migration's own transaction nests as a savepoint inside this one.
                let connection: &mut AnyConnection = &mut tx;
                migrator
                    .run_direct(None, connection, false)
                    .await
                    .map_err(failed)?;
                tx.commit().await?;
                Ok(())
            }
        }
    }
}

impl Database {
    /// `file` as this backend runs it. Its checksum is taken over the SQL as first released
    /// (the shared text, `BLOB` spelled `BYTEA` on PostgreSQL), so that adding byte-order
    /// collation to the PostgreSQL dialect leaves databases migrated before valid;
    /// [`POSTGRES_MIGRATIONS`] converts their columns.
    fn migration(&self, file: &MigrationFile) -> Migration {
        let build = |sql: String| {
            Migration::new(
                file.version,
                file.description.into(),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        };
        let mut migration = build(self.backend.dialect(file.sql));
        migration.checksum = build(self.backend.released_dialect(file.sql)).checksum;
        migration
    }
}
