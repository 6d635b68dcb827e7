//! Databases for the database layer's own tests: a SQLite file in a temporary directory
//! always, and a fresh PostgreSQL database only when `TEST_DATABASE_URL` names a server.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files

use suite_config::Secret;
use suite_testkit::TestDatabase;
use tempfile::TempDir;

/// The URL of a SQLite file that does not exist yet, kept while the directory lives.
pub fn fresh_sqlite_url() -> (TempDir, Secret) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (dir, Secret::new(url))
}

/// A fresh PostgreSQL database, or `None` when the tests run on SQLite only.
pub async fn fresh_postgres() -> Option<TestDatabase> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(TestDatabase::fresh().await),
        _ => None,
    }
}
