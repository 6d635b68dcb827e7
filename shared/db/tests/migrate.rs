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
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(
        applied, 3,
        "the two platform migrations and the service one"
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
