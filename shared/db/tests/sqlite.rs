//! SQLite settings: in-memory databases are refused, a fresh file serves many tasks at once
//! from the first request, and commits are durable.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use sqlx::Executor;
use suite_config::Secret;
use suite_db::{Database, StoreError};

#[test]
fn in_memory_database_is_refused_with_the_reason() {
    for url in [
        "sqlite::memory:",
        "sqlite://:memory:",
        "sqlite://file.db?mode=memory",
    ] {
        let refused = Database::connect_lazy(&Secret::new(url)).unwrap_err();
        assert!(
            matches!(&refused, StoreError::Config(message) if message.contains("in-memory sqlite is not supported")),
            "{url}: {refused}"
        );
    }
}

#[tokio::test]
async fn fresh_file_serves_many_tasks_at_once_without_locking_errors() {
    // Each round is a first start: a new file, and every pooled connection opened at once.
    for _ in 0..20 {
        let (_dir, url) = common::fresh_sqlite_url();
        let db = Database::connect_lazy(&url).unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|task| {
                let db = db.clone();
                tokio::spawn(async move {
                    if task % 2 == 0 {
                        let mut tx = db.begin().await?;
                        tx.execute("CREATE TABLE IF NOT EXISTS marks (task BIGINT)")
                            .await?;
                        tx.commit().await?;
                    } else {
                        db.ping().await?;
                    }
                    Ok::<_, StoreError>(())
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        db.close().await;
    }
}

#[tokio::test]
async fn every_connection_syncs_each_commit_to_disk() {
    let (_dir, url) = common::fresh_sqlite_url();
    let db = Database::connect_lazy(&url).unwrap();
    let mut connections = Vec::new();
    for _ in 0..4 {
        let mut connection = db.pool().acquire().await.unwrap();
        // 2 is FULL: the WAL is synced on every commit, so a commit survives power loss.
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(synchronous, 2);
        connections.push(connection);
    }
}
