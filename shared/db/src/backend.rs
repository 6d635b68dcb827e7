//! Which database engine a URL names, and the SQL each one needs rewritten.

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

    /// Rewrites migration SQL written for both backends into this backend's dialect.
    pub(crate) fn dialect(self, sql: &str) -> String {
        match self {
            Backend::Sqlite => sql.to_owned(),
            Backend::Postgres => sql.replace(" BLOB", " BYTEA"),
        }
    }
}
