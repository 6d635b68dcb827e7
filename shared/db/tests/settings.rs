//! PostgreSQL sessions end a statement before the request that ran it times out.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

mod common;

use std::time::Duration;

use suite_config::Secret;
use suite_db::{Database, DatabaseSettings};

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
