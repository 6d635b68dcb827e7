//! Which database engine a URL or connection names, and the SQL each one needs rewritten.

use sqlx::AnyConnection;

use crate::StoreError;

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a connection URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(
                "database url must start with sqlite: or postgres://".into(),
            ))
        }
    }

    /// The backend of an open connection (or of a transaction, through deref).
    pub fn of_connection(connection: &AnyConnection) -> Self {
        if connection.backend_name().eq_ignore_ascii_case("sqlite") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        }
    }

    /// Rewrites migration SQL written for both backends into this backend's dialect. On
    /// PostgreSQL every `TEXT` column compares in byte order (`COLLATE "C"`), as SQLite's do:
    /// the database's default collation (often `en_US`) would order keys by language rules,
    /// so keyset pages and `>` cursors would differ between the backends.
    pub(crate) fn dialect(self, sql: &str) -> String {
        match self {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => collate_text_in_byte_order(&self.released_dialect(sql)),
        }
    }
}

impl Backend {
    /// The dialect as the first releases wrote it, before byte-order collation; migration
    /// checksums are taken over it (see `Database::migrate`).
    pub(crate) fn released_dialect(self, sql: &str) -> String {
        match self {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => sql.replace(" BLOB", " BYTEA"),
        }
    }
}

/// `sql` with `COLLATE "C"` after each `TEXT` type name (the whole upper-case word only).
fn collate_text_in_byte_order(sql: &str) -> String {
    const TYPE: &str = "TEXT";
    let is_identifier = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rewritten = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(TYPE) {
        let after = &rest[at + TYPE.len()..];
        let starts_word = !rest[..at].ends_with(is_identifier);
        let ends_word = !after.starts_with(is_identifier);
        rewritten.push_str(&rest[..at + TYPE.len()]);
        if starts_word && ends_word {
            rewritten.push_str(" COLLATE \"C\"");
        }
        rest = after;
    }
    rewritten.push_str(rest);
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_text_columns_collate_in_byte_order() {
        let sql = "CREATE TABLE t (id TEXT PRIMARY KEY, body BLOB, note TEXT,\n  context_id BIGINT, TEXTS TEXT)";
        assert_eq!(
            Backend::Postgres.dialect(sql),
            "CREATE TABLE t (id TEXT COLLATE \"C\" PRIMARY KEY, body BYTEA, note TEXT COLLATE \"C\",\n  context_id BIGINT, TEXTS TEXT COLLATE \"C\")"
        );
        assert_eq!(Backend::Sqlite.dialect(sql), sql);
    }
}
