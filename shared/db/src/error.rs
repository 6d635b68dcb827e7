use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::sqlite::SqliteError;
use suite_errors::ApiError;

use crate::Backend;

/// Why a store operation failed, with constraint violations told apart so each service can
/// turn them into its own domain errors, and the failures a retry can cure told apart from
/// bugs.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// The transaction lost a race with a concurrent one (PostgreSQL serialization failure).
    #[error("serialization failure: {0}")]
    SerializationFailure(String),
    /// The transaction was chosen as the victim of a deadlock.
    #[error("deadlock: {0}")]
    Deadlock(String),
    /// SQLite stayed busy or locked by another connection past the busy timeout.
    #[error("database busy: {0}")]
    Busy(String),
    /// A row or table lock was not granted within the lock timeout.
    #[error("lock timeout: {0}")]
    LockTimeout(String),
    /// A statement ran past the statement timeout and was cancelled.
    #[error("statement timeout: {0}")]
    StatementTimeout(String),
    /// The server takes no writes now: a standby during a failover, or a primary put in
    /// read-only mode (as managed servers do when their storage is nearly full). Pooled
    /// connections opened before it are replaced as they are next taken, with a back-off
    /// (see `connect::read_only_refused`).
    #[error("database read-only: {0}")]
    ReadOnly(String),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The connection settings are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// Stored data could not be decoded: a bug or a manual edit.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The service has more reads waiting for the database than it takes on; the caller
    /// should back off, as from a load-shed call.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// Anything else the driver reported.
    #[error("database error: {0}")]
    Other(String),
}

impl StoreError {
    /// True when the same request may succeed if sent again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::SerializationFailure(_)
                | StoreError::Deadlock(_)
                | StoreError::Busy(_)
                | StoreError::LockTimeout(_)
                | StoreError::StatementTimeout(_)
                | StoreError::ReadOnly(_)
                | StoreError::Overloaded(_)
        )
    }
}

/// SQLite's primary result codes for "another connection holds the lock"; the extended codes
/// (e.g. 261 SQLITE_BUSY_RECOVERY, 517 SQLITE_BUSY_SNAPSHOT, 262 SQLITE_LOCKED_SHAREDCACHE)
/// carry the primary code in their low byte.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// PostgreSQL SQLSTATEs a retry can cure.
const PG_SERIALIZATION_FAILURE: &str = "40001";
const PG_DEADLOCK_DETECTED: &str = "40P01";
const PG_LOCK_NOT_AVAILABLE: &str = "55P03";
const PG_QUERY_CANCELED: &str = "57014";
const PG_READ_ONLY_SQL_TRANSACTION: &str = "25006";
/// The session or its connection is gone, or cannot be had yet: the server shut down,
/// crashed, was told to end it, or ended it for idling (57P05, and 25P03 inside a
/// transaction); it is starting up (57P03) or has no connection slot free (53300); or the
/// connection failed (class 08, except 08P01, a protocol violation: the client's bug).
const PG_CONNECTION_LOST: [&str; 12] = [
    "57P01", "57P02", "57P03", "57P05", "25P03", "53300", "08000", "08001", "08003", "08004",
    "08006", "08007",
];

/// The retryable store error that driver error `code` of `backend` stands for, if any. A
/// read-only refusal is also told to the pool, which retires the connections opened before.
fn transient(backend: Backend, code: &str, message: &str) -> Option<StoreError> {
    let message = message.to_owned();
    match backend {
        Backend::Sqlite => match code.parse::<i64>().ok()? & 0xff {
            SQLITE_BUSY | SQLITE_LOCKED => Some(StoreError::Busy(message)),
            _ => None,
        },
        Backend::Postgres => match code {
            PG_SERIALIZATION_FAILURE => Some(StoreError::SerializationFailure(message)),
            PG_DEADLOCK_DETECTED => Some(StoreError::Deadlock(message)),
            PG_LOCK_NOT_AVAILABLE => Some(StoreError::LockTimeout(message)),
            PG_QUERY_CANCELED => Some(StoreError::StatementTimeout(message)),
            PG_READ_ONLY_SQL_TRANSACTION => {
                crate::connect::read_only_refused();
                Some(StoreError::ReadOnly(message))
            }
            _ if PG_CONNECTION_LOST.contains(&code) => Some(StoreError::Unavailable(message)),
            _ => None,
        },
    }
}

/// The backend that raised `error`: the `Any` driver passes each engine's own error through.
fn backend_of(error: &dyn DatabaseError) -> Backend {
    if error.try_downcast_ref::<SqliteError>().is_some() {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

impl From<sqlx::Error> for StoreError {
    /// The one place where driver errors (SQLSTATEs on PostgreSQL, extended result codes on
    /// SQLite) become store errors.
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => StoreError::UniqueViolation(db.message().to_owned()),
                ErrorKind::ForeignKeyViolation => {
                    StoreError::ForeignKeyViolation(db.message().to_owned())
                }
                _ => db
                    .code()
                    .and_then(|code| transient(backend_of(db.as_ref()), &code, db.message()))
                    .unwrap_or_else(|| StoreError::Other(error.to_string())),
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
    /// Store failures a service did not turn into a domain error. A lost race is ABORTED (the
    /// client retries the whole request), a database too busy or too slow is UNAVAILABLE (the
    /// client backs off); everything else is a bug whose detail stays in the log.
    fn from(error: StoreError) -> Self {
        // Overload is counted by the metrics; a log line each would flood the logs exactly
        // when the instance is busiest.
        if error.is_retryable() && !matches!(error, StoreError::Overloaded(_)) {
            tracing::warn!(error = %error, "retryable database failure");
        }
        match error {
            StoreError::SerializationFailure(_) => ApiError::aborted(
                "TRANSACTION_CONFLICT",
                "a concurrent request changed the same data; retry the request",
            ),
            StoreError::Deadlock(_) => ApiError::aborted(
                "TRANSACTION_DEADLOCK",
                "a concurrent request locked the same data; retry the request",
            ),
            StoreError::Busy(_) => {
                ApiError::unavailable("DATABASE_BUSY", "the database is busy; retry later")
            }
            StoreError::LockTimeout(_) => ApiError::unavailable(
                "DATABASE_LOCK_TIMEOUT",
                "the data is locked by another request; retry later",
            ),
            StoreError::StatementTimeout(_) => ApiError::unavailable(
                "DATABASE_STATEMENT_TIMEOUT",
                "the database took too long; retry later",
            ),
            StoreError::ReadOnly(_) => ApiError::unavailable(
                "DATABASE_READ_ONLY",
                "the database takes no writes at the moment; retry later",
            ),
            StoreError::Unavailable(_) => ApiError::unavailable(
                "DATABASE_UNAVAILABLE",
                "the database is unavailable; retry later",
            ),
            StoreError::Overloaded(_) => ApiError::overloaded(),
            other => ApiError::internal(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use suite_errors::Code;

    use super::*;

    /// The codes a test cannot provoke on demand; the real ones are provoked in
    /// `tests/errors.rs`.
    fn api_error_of(backend: Backend, code: &str) -> ApiError {
        let error =
            transient(backend, code, "").unwrap_or_else(|| StoreError::Other(code.to_owned()));
        ApiError::from(error)
    }

    #[test]
    fn every_sqlite_busy_and_locked_code_is_unavailable() {
        // SQLITE_BUSY, _RECOVERY, _SNAPSHOT, _TIMEOUT; SQLITE_LOCKED, _SHAREDCACHE, _VTAB.
        for code in ["5", "261", "517", "773", "6", "262", "518"] {
            let error = api_error_of(Backend::Sqlite, code);
            assert_eq!(
                (error.code(), error.reason()),
                (Code::Unavailable, "DATABASE_BUSY"),
                "sqlite code {code}"
            );
        }
    }

    #[test]
    fn postgres_transient_sqlstates_have_their_own_reasons() {
        let expected = [
            ("40001", Code::Aborted, "TRANSACTION_CONFLICT"),
            ("40P01", Code::Aborted, "TRANSACTION_DEADLOCK"),
            ("55P03", Code::Unavailable, "DATABASE_LOCK_TIMEOUT"),
            ("57014", Code::Unavailable, "DATABASE_STATEMENT_TIMEOUT"),
            ("25006", Code::Unavailable, "DATABASE_READ_ONLY"),
            // A session the server ended or would not start, a connection that failed.
            ("57P01", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("57P02", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("57P03", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("08006", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("08003", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("57P05", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("25P03", Code::Unavailable, "DATABASE_UNAVAILABLE"),
            ("53300", Code::Unavailable, "DATABASE_UNAVAILABLE"),
        ];
        for (sqlstate, code, reason) in expected {
            let error = api_error_of(Backend::Postgres, sqlstate);
            assert_eq!((error.code(), error.reason()), (code, reason), "{sqlstate}");
        }
    }

    #[test]
    fn reads_refused_for_overload_answer_as_a_shed_call_does() {
        let error = ApiError::from(StoreError::Overloaded("too many reads".into()));
        let shed = ApiError::overloaded();
        assert_eq!(
            (error.code(), error.reason()),
            (Code::Unavailable, "OVERLOADED")
        );
        assert_eq!(error.message(), shed.message());
    }

    #[test]
    fn other_codes_stay_internal() {
        // SQLITE_CORRUPT, SQLITE_IOERR_READ; a SQLSTATE that happens to be all digits.
        for (backend, code) in [
            (Backend::Sqlite, "11"),
            (Backend::Sqlite, "266"),
            (Backend::Sqlite, "40001"),
            (Backend::Postgres, "23514"),
            (Backend::Postgres, "57P04"),
            (Backend::Postgres, "08P01"),
            (Backend::Sqlite, "08006"),
        ] {
            assert_eq!(api_error_of(backend, code).code(), Code::Internal, "{code}");
        }
    }
}
