//! How each service's pool sets up and checks its database sessions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::time::Duration;

use suite_config::Secret;
use suite_db::{Database, DatabaseSettings, StoreError};
use suite_errors::{ApiError, Code};

#[test]
fn statements_end_before_the_request_times_out() {
    let settings = DatabaseSettings::for_request_timeout(Duration::from_secs(10));
    assert_eq!(settings.statement_timeout, Some(Duration::from_secs(9)));
}

#[tokio::test]
async fn every_pooled_postgres_connection_has_the_statement_timeout() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let settings = DatabaseSettings::for_request_timeout(Duration::from_secs(2));
    let db = Database::connect_lazy_with(&Secret::new(test_db.url()), &settings).unwrap();
    let mut connections = Vec::new();
    for _ in 0..3 {
        let mut connection = db.pool().acquire().await.unwrap();
        let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        assert_eq!(timeout, "1800ms");
        connections.push(connection);
    }
}

/// A pool of one PostgreSQL connection that has served a query and is back in the pool,
/// and the server process behind it, which another session has ended.
async fn pool_whose_idle_connection_was_dropped(
    test_db: &suite_testkit::TestDatabase,
    check_idle_after: Duration,
) -> (Database, i32) {
    let settings = DatabaseSettings {
        check_idle_after,
        ..DatabaseSettings::default()
    };
    let db = Database::connect_lazy_with(&Secret::new(test_db.url()), &settings).unwrap();
    let dropped: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap();
    // The pool takes a connection back in a task of its own.
    suite_testkit::eventually(
        "the connection is back in the pool",
        Duration::from_secs(5),
        || {
            let idle = db.pool().num_idle();
            async move { idle == 1 }
        },
    )
    .await;

    let admin = Database::connect_lazy(&Secret::new(test_db.url())).unwrap();
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(dropped)
        .fetch_one(admin.pool())
        .await
        .unwrap();
    assert!(ended);
    suite_testkit::eventually(
        "the server process has ended",
        Duration::from_secs(5),
        || {
            let admin = admin.clone();
            async move {
                let left: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = $1")
                        .bind(dropped)
                        .fetch_one(admin.pool())
                        .await
                        .unwrap();
                left == 0
            }
        },
    )
    .await;
    (db, dropped)
}

#[tokio::test]
async fn an_idle_connection_the_database_dropped_is_replaced_before_a_caller_gets_it() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let (db, dropped) = pool_whose_idle_connection_was_dropped(&test_db, Duration::ZERO).await;

    let serving: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .expect("the pool replaced the dropped connection");
    assert_ne!(serving, dropped);
}

#[tokio::test]
async fn a_connection_used_a_moment_ago_is_handed_out_without_a_check() {
    let Some(test_db) = common::fresh_postgres().await else {
        return;
    };
    let (db, _) = pool_whose_idle_connection_was_dropped(&test_db, Duration::from_secs(3600)).await;

    // Nothing asked the server before the query, so the query is what finds it gone; the
    // caller is told to retry, as for any request the database dropped.
    let error = sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()")
        .fetch_one(db.pool())
        .await
        .unwrap_err();
    let error = StoreError::from(error);
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    let api = ApiError::from(error);
    assert_eq!(
        (api.code(), api.reason()),
        (Code::Unavailable, "DATABASE_UNAVAILABLE")
    );
}

#[test]
fn a_services_sessions_keep_the_idle_check_beside_the_statement_timeout() {
    let settings = DatabaseSettings::for_request_timeout(Duration::from_secs(10));
    assert_eq!(
        settings.check_idle_after,
        DatabaseSettings::default().check_idle_after
    );
    // The README documents the default.
    assert_eq!(settings.check_idle_after, Duration::from_millis(500));
}
