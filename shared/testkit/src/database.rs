use std::collections::BTreeMap;

use sqlx::Connection;
use suite_config::Secret;
use suite_db::Database;
use tempfile::TempDir;
use uuid::Uuid;

/// A database used by one test service: a temporary SQLite file, or, when
/// `TEST_DATABASE_URL` names a PostgreSQL server, a database created for this test.
pub struct TestDatabase {
    url: String,
    _dir: Option<TempDir>,
    db: Database,
}

impl TestDatabase {
    /// A new, empty database.
    pub async fn fresh() -> Self {
        Self::fresh_on(std::env::var("TEST_DATABASE_URL").ok().as_deref()).await
    }

    /// A new, empty database on the PostgreSQL server of `admin_url` when it names one, else
    /// a temporary SQLite file (for harnesses that choose the server themselves, e.g. the
    /// benchmark).
    pub async fn fresh_on(admin_url: Option<&str>) -> Self {
        match admin_url {
            Some(admin_url) if admin_url.starts_with("postgres") => Self::postgres(admin_url).await,
            _ => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let db = Database::connect_lazy(&Secret::new(url.clone())).expect("sqlite pool");
        Self {
            url,
            _dir: Some(dir),
            db,
        }
    }

    async fn postgres(admin_url: &str) -> Self {
        let name = format!("test_{}", Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        // A language collation, as production servers usually default to (en_US): text that
        // sorts in byte order only by accident of the server's locale would pass unnoticed.
        let create = format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        );
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let (base, query) = match admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (admin_url, String::new()),
        };
        let server = base
            .rsplit_once('/')
            .map(|(server, _)| server)
            .unwrap_or(base);
        let url = format!("{server}/{name}{query}");
        let db = Database::connect_lazy(&Secret::new(url.clone())).expect("postgres pool");
        Self {
            url,
            _dir: None,
            db,
        }
    }

    /// The connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool on this database, for store-level tests.
    pub fn database(&self) -> Database {
        self.db.clone()
    }

    /// Payloads of the outbox messages with `topic`, oldest first.
    pub async fn outbox(&self, topic: &str) -> Vec<Vec<u8>> {
        sqlx::query_scalar("SELECT payload FROM outbox_messages WHERE topic = $1 ORDER BY id")
            .bind(topic)
            .fetch_all(self.db.pool())
            .await
            .expect("read outbox")
    }

    /// The most delivery attempts made so far for one outbox message with `topic`.
    pub async fn outbox_attempts(&self, topic: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT COALESCE(MAX(attempts), 0) FROM outbox_messages WHERE topic = $1",
        )
        .bind(topic)
        .fetch_one(self.db.pool())
        .await
        .expect("read outbox attempts")
    }

    /// Actions recorded in the audit trail for `resource_name`, oldest first.
    pub async fn audit_actions(&self, resource_name: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_events WHERE resource_name = $1 ORDER BY id")
            .bind(resource_name)
            .fetch_all(self.db.pool())
            .await
            .expect("read audit trail")
    }

    /// The audit trail of `resource_name`, oldest first: each action and whether it kept
    /// the state before and after the change.
    pub async fn audit_trail(&self, resource_name: &str) -> Vec<(String, bool, bool)> {
        type Row = (String, Option<Vec<u8>>, Option<Vec<u8>>);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT action, before_state, after_state FROM audit_events WHERE resource_name = $1 ORDER BY occurred_at, id",
        )
        .bind(resource_name)
        .fetch_all(self.db.pool())
        .await
        .expect("read audit trail");
        rows.into_iter()
            .map(|(action, before, after)| (action, before.is_some(), after.is_some()))
            .collect()
    }

    /// Rows in `table`.
    pub async fn count_rows(&self, table: &str) -> i64 {
        suite_db::count_rows(&self.db, table)
            .await
            .expect("count rows")
    }

    /// Every table of the schema, by name.
    pub async fn tables(&self) -> Vec<String> {
        let sql = if self.url.starts_with("postgres") {
            "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema() \
             ORDER BY tablename"
        } else {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name"
        };
        sqlx::query_scalar(sql)
            .fetch_all(self.db.pool())
            .await
            .expect("list tables")
    }

    /// Rows in every table, by table name: equal before and after a refused call when the
    /// refusal wrote nothing.
    pub async fn row_counts(&self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for table in self.tables().await {
            let rows = self.count_rows(&table).await;
            counts.insert(table, rows);
        }
        counts
    }
}
