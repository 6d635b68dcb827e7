//! Replicas starting together on one fresh database each run the migrations: all succeed,
//! and each migration is applied once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use suite_config::Secret;
use suite_db::{Database, MigrationFile};

const REPLICAS: usize = 8;

/// A migration that would leave a second row behind if it ran twice.
const MARKED: &[MigrationFile] = &[MigrationFile {
    version: 100,
    description: "marks",
    sql: "CREATE TABLE marks (id TEXT PRIMARY KEY, note TEXT NOT NULL);\n\
          INSERT INTO marks (id, note) VALUES (lower(hex(randomblob(8))), 'applied');",
}];

/// The same for PostgreSQL, which has no `randomblob`.
const MARKED_POSTGRES: &[MigrationFile] = &[MigrationFile {
    version: 100,
    description: "marks",
    sql: "CREATE TABLE marks (id TEXT PRIMARY KEY, note TEXT NOT NULL);\n\
          INSERT INTO marks (id, note) VALUES (gen_random_uuid()::text, 'applied');",
}];

async fn start_replicas_together(url: &str, migrations: &'static [MigrationFile]) {
    let replicas: Vec<Database> = (0..REPLICAS)
        .map(|_| Database::connect_lazy(&Secret::new(url)).unwrap())
        .collect();
    let runs: Vec<_> = replicas
        .iter()
        .cloned()
        .map(|db| tokio::spawn(async move { db.migrate(migrations).await }))
        .collect();
    for run in runs {
        run.await.unwrap().unwrap();
    }

    let db = &replicas[0];
    assert_eq!(suite_db::count_rows(db, "marks").await.unwrap(), 1);
    let (applied, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT version) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(applied, distinct, "a migration was recorded twice");
    assert!(
        applied >= 3,
        "the platform migrations and the service one: {applied}"
    );
    for replica in replicas {
        replica.close().await;
    }
}

#[tokio::test]
async fn sqlite_replicas_migrating_at_once_apply_each_migration_once() {
    let (_dir, url) = common::fresh_sqlite_url();
    start_replicas_together(url.expose(), MARKED).await;
}

#[tokio::test]
async fn postgres_replicas_migrating_at_once_apply_each_migration_once() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    start_replicas_together(test_db.url(), MARKED_POSTGRES).await;
}

/// A PostgreSQL database migrated by the first release (no byte-order collation in the
/// dialect, checksums of that text) still starts, and its text columns are converted.
#[tokio::test]
async fn a_postgres_database_migrated_before_byte_order_collation_still_migrates() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let url = Secret::new(test_db.url());
    let db = Database::connect_lazy(&url).unwrap();
    // What the first release applied: the shared platform tables, BLOB spelled BYTEA, and
    // sqlx's record of it with the checksum of that text.
    let released = include_str!("../migrations/0001_platform.sql").replace(" BLOB", " BYTEA");
    let migrator = sqlx::migrate::Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        1,
        "platform tables".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(released)),
        false,
    )]);
    migrator.run(db.pool()).await.unwrap();
    let collation = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT collation_name::text FROM information_schema.columns \
             WHERE table_name = 'audit_events' AND column_name = 'resource_name'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap()
    };
    assert_ne!(collation().await.as_deref(), Some("C"));

    db.migrate(&[]).await.unwrap();
    assert_eq!(collation().await.as_deref(), Some("C"));
    db.close().await;
}
