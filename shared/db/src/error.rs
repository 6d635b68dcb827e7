use sqlx::error::ErrorKind;
use suite_errors::ApiError;

/// Why a store operation failed, with constraint violations told apart so each service can
/// turn them into its own domain errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint or primary key was violated.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// A foreign key pointed nowhere.
    #[error("foreign key violated: {0}")]
    ForeignKeyViolation(String),
    /// The database could not be reached in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The connection settings are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// Stored data could not be decoded: a bug or a manual edit.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Anything else the driver reported.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for StoreError {
    /// The one place where driver errors (SQLSTATE 23505/23503 on PostgreSQL, extended result
    /// codes on SQLite) become store errors.
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::UniqueViolation(db.message().to_owned()),
                ErrorKind::ForeignKeyViolation => {
                    StoreError::ForeignKeyViolation(db.message().to_owned())
                }
                // SQLite reports "database is locked" once the busy timeout has passed.
                _ if db.code().as_deref() == Some("5") => {
                    StoreError::Unavailable(db.message().to_owned())
                }
                _ => StoreError::Other(error.to_string()),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(error.to_string()),
            _ => StoreError::Other(error.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    /// Store failures a service did not turn into a domain error: outages are retryable,
    /// everything else is a bug whose detail stays in the log.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable");
                ApiError::unavailable(
                    "DATABASE_UNAVAILABLE",
                    "the database is unavailable; retry later",
                )
            }
            other => ApiError::internal(other),
        }
    }
}
