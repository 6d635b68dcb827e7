//! Retryable driver errors, provoked for real on each backend, reach the client as ABORTED
//! (a lost race: retry the request) or UNAVAILABLE (too busy or too slow: back off), each
//! with its own reason.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::time::Duration;

use sqlx::Executor;
use suite_db::{Database, StoreError};
use suite_errors::ApiError;
use suite_errors::Code;

async fn with_table(db: &Database) {
    db.pool()
        .execute("CREATE TABLE items (id TEXT PRIMARY KEY, amount BIGINT NOT NULL)")
        .await
        .unwrap();
    db.pool()
        .execute("INSERT INTO items (id, amount) VALUES ('a', 1), ('b', 1)")
        .await
        .unwrap();
}

fn assert_reaches_client_as(error: StoreError, code: Code, reason: &str) {
    assert!(error.is_retryable(), "{error} should be retryable");
    let api = ApiError::from(error);
    assert_eq!((api.code(), api.reason()), (code, reason));
}

#[tokio::test]
async fn sqlite_writer_blocked_past_its_busy_timeout_is_unavailable() {
    let (_dir, url) = common::fresh_sqlite_url();
    let db = Database::connect_lazy(&url).unwrap();
    with_table(&db).await;
    let holder = db.begin().await.unwrap();

    let mut waiter = db.pool().acquire().await.unwrap();
    waiter.execute("PRAGMA busy_timeout = 10").await.unwrap();
    let error = StoreError::from(
        waiter
            .execute("UPDATE items SET amount = 2 WHERE id = 'a'")
            .await
            .unwrap_err(),
    );

    assert!(matches!(error, StoreError::Busy(_)), "{error:?}");
    assert_reaches_client_as(error, Code::Unavailable, "DATABASE_BUSY");
    drop(holder);
}

#[tokio::test]
async fn sqlite_stale_snapshot_upgrading_to_write_is_unavailable() {
    let (_dir, url) = common::fresh_sqlite_url();
    let db = Database::connect_lazy(&url).unwrap();
    with_table(&db).await;
    // A deferred transaction that has read keeps its snapshot; once another connection has
    // committed, it can no longer write (SQLITE_BUSY_SNAPSHOT, extended code 517).
    let mut reader = db.pool().begin().await.unwrap();
    reader.execute("SELECT amount FROM items").await.unwrap();
    let mut writer = db.begin().await.unwrap();
    writer
        .execute("UPDATE items SET amount = 2 WHERE id = 'a'")
        .await
        .unwrap();
    writer.commit().await.unwrap();

    let error = reader
        .execute("UPDATE items SET amount = 3 WHERE id = 'b'")
        .await
        .unwrap_err();
    let code = error.as_database_error().and_then(|e| e.code()).unwrap();
    assert_eq!(code, "517");
    let error = StoreError::from(error);
    assert!(matches!(error, StoreError::Busy(_)), "{error:?}");
    assert_reaches_client_as(error, Code::Unavailable, "DATABASE_BUSY");
}

#[tokio::test]
async fn postgres_statement_past_the_statement_timeout_is_unavailable() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let db = test_db.database();
    let mut connection = db.pool().acquire().await.unwrap();
    connection
        .execute("SET statement_timeout = 50")
        .await
        .unwrap();

    let error = StoreError::from(connection.execute("SELECT pg_sleep(2)").await.unwrap_err());

    assert!(
        matches!(error, StoreError::StatementTimeout(_)),
        "{error:?}"
    );
    assert_reaches_client_as(error, Code::Unavailable, "DATABASE_STATEMENT_TIMEOUT");
}

/// What a standby, or a managed server in read-only mode, answers every write with; and
/// after it the pool replaces the connections opened before, as after a failover that left
/// them on the old primary. One test: the moment of the refusal is the process's.
#[tokio::test]
async fn postgres_write_to_a_server_taking_no_writes_is_unavailable_and_its_connections_replaced() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let admin = test_db.database();
    with_table(&admin).await;
    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(admin.pool())
        .await
        .unwrap();
    let read_only = |on: bool| {
        let setting = if on {
            "SET default_transaction_read_only = on"
        } else {
            "RESET default_transaction_read_only"
        };
        sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" {setting}"))
    };
    // Held throughout: a session opened before the setting, so it can undo it.
    let mut admin_session = admin.pool().acquire().await.unwrap();
    admin_session.execute(read_only(true)).await.unwrap();
    let db = Database::connect_lazy(&suite_config::Secret::new(test_db.url())).unwrap();
    let pid = "SELECT pg_backend_pid()";
    let write = "UPDATE items SET amount = amount + 1 WHERE id = 'a'";

    let mut connection = db.pool().acquire().await.unwrap();
    let refused_on: i32 = sqlx::query_scalar(pid)
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    let error = StoreError::from(connection.execute(write).await.unwrap_err());
    assert!(matches!(error, StoreError::ReadOnly(_)), "{error:?}");
    assert_reaches_client_as(error, Code::Unavailable, "DATABASE_READ_ONLY");
    drop(connection);
    // Back in the pool (sqlx returns it from a task of its own), ready to be taken again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while db.pool().num_idle() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never returned");
        tokio::task::yield_now().await;
    }

    // The server takes writes again (the address now names the new primary): the next write
    // gets a new connection, not the one opened before the refusal.
    admin_session.execute(read_only(false)).await.unwrap();
    let mut connection = db.pool().acquire().await.unwrap();
    let next_on: i32 = sqlx::query_scalar(pid)
        .fetch_one(&mut *connection)
        .await
        .unwrap();
    assert_ne!(next_on, refused_on, "the connection opened before was kept");
    connection.execute(write).await.unwrap();
    let amount: i64 = sqlx::query_scalar("SELECT amount FROM items WHERE id = 'a'")
        .fetch_one(&mut *admin_session)
        .await
        .unwrap();
    assert_eq!(
        amount, 2,
        "the refused write changed nothing, the next one did"
    );
}

#[tokio::test]
async fn postgres_row_locked_past_the_lock_timeout_is_unavailable() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let db = test_db.database();
    with_table(&db).await;
    let mut holder = db.begin().await.unwrap();
    holder
        .execute("SELECT id FROM items WHERE id = 'a' FOR UPDATE")
        .await
        .unwrap();

    let mut waiter = db.begin().await.unwrap();
    waiter.execute("SET LOCAL lock_timeout = 50").await.unwrap();
    let error = StoreError::from(
        waiter
            .execute("SELECT id FROM items WHERE id = 'a' FOR UPDATE")
            .await
            .unwrap_err(),
    );

    assert!(matches!(error, StoreError::LockTimeout(_)), "{error:?}");
    assert_reaches_client_as(error, Code::Unavailable, "DATABASE_LOCK_TIMEOUT");
    holder.rollback().await.unwrap();
}

#[tokio::test]
async fn postgres_serialization_failure_is_aborted() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let db = test_db.database();
    with_table(&db).await;
    let mut first = db.begin().await.unwrap();
    let mut second = db.begin().await.unwrap();
    for tx in [&mut first, &mut second] {
        tx.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await
            .unwrap();
        tx.execute("SELECT amount FROM items").await.unwrap();
    }
    first
        .execute("UPDATE items SET amount = amount + 1 WHERE id = 'a'")
        .await
        .unwrap();
    first.commit().await.unwrap();

    let error = StoreError::from(
        second
            .execute("UPDATE items SET amount = amount + 1 WHERE id = 'a'")
            .await
            .unwrap_err(),
    );

    assert!(
        matches!(error, StoreError::SerializationFailure(_)),
        "{error:?}"
    );
    assert_reaches_client_as(error, Code::Aborted, "TRANSACTION_CONFLICT");
}

#[tokio::test]
async fn postgres_deadlock_victim_is_aborted() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let db = test_db.database();
    with_table(&db).await;
    // Each transaction locks one row, then waits for the other's.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let lock_both = |first: &'static str, second: &'static str| {
        let db = db.clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let update =
                |id: &str| format!("UPDATE items SET amount = amount + 1 WHERE id = '{id}'");
            tx.execute(sqlx::AssertSqlSafe(update(first)))
                .await
                .unwrap();
            barrier.wait().await;
            match tx.execute(sqlx::AssertSqlSafe(update(second))).await {
                Ok(_) => tx.commit().await.map(|_| ()),
                Err(error) => {
                    tx.rollback().await.unwrap();
                    Err(error)
                }
            }
        })
    };
    let (one, other) = tokio::join!(lock_both("a", "b"), lock_both("b", "a"));

    let mut errors: Vec<StoreError> = [one.unwrap(), other.unwrap()]
        .into_iter()
        .filter_map(Result::err)
        .map(StoreError::from)
        .collect();
    assert_eq!(errors.len(), 1, "exactly one victim: {errors:?}");
    let error = errors.remove(0);
    assert!(matches!(error, StoreError::Deadlock(_)), "{error:?}");
    assert_reaches_client_as(error, Code::Aborted, "TRANSACTION_DEADLOCK");
}
