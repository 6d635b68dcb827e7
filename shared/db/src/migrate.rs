//! Embedded migrations, applied once however many replicas start together.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AssertSqlSafe, SqlSafeStr};

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

impl Database {
    /// Applies the platform migrations and then `service` ones, each once even when several
    /// replicas start together: on PostgreSQL sqlx holds an advisory lock meanwhile; on
    /// SQLite, where sqlx takes no lock, the whole run is one `BEGIN IMMEDIATE` transaction,
    /// so a second replica waits for the first and then finds nothing left to apply.
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
        let migrator = Migrator::with_migrations(migrations);
        let failed = |error: sqlx::migrate::MigrateError| StoreError::Migration(error.to_string());
        match self.backend {
            Backend::Postgres => migrator.run(&self.pool).await.map_err(failed),
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
