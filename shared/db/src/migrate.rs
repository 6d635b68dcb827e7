//! Embedded migrations, applied once however many replicas start together.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

use crate::{Database, StoreError};

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

const PLATFORM_MIGRATIONS: &[MigrationFile] = &[MigrationFile {
    version: 1,
    description: "platform tables",
    sql: include_str!("../migrations/0001_platform.sql"),
}];

impl Database {
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
}
