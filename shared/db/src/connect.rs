//! Building the pool: the session settings each backend needs on every connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection, Executor};
use tokio::sync::OnceCell;

use crate::StoreError;

/// SQLite waits this long for a competing writer before reporting the database busy.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// How long a pooled connection waits for a free slot.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle at least this long is checked before it is handed out.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(500);

/// What a service tunes about its database sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// PostgreSQL cancels a statement running longer than this; `None` keeps the server's
    /// setting. SQLite has no such limit.
    pub statement_timeout: Option<Duration>,
    /// A pooled connection that has been idle at least this long is checked (a round trip)
    /// before it is handed out, and replaced if the database dropped it meanwhile: after a
    /// database restart, or a network path that cuts idle connections. One returned within
    /// this time is handed out as it is (the pool checked it when it came back): if the
    /// database dropped it in that moment, the one request that gets it fails with
    /// UNAVAILABLE, as the requests in flight at that moment do. Zero checks every time.
    pub check_idle_after: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            statement_timeout: None,
            check_idle_after: CHECK_IDLE_AFTER,
        }
    }
}

impl DatabaseSettings {
    /// Settings for a service that gives up on a request after `request_timeout`: statements
    /// end a tenth earlier, so the server stops work nobody waits for any more (and releases
    /// its locks) instead of finishing it after the caller has gone.
    pub fn for_request_timeout(request_timeout: Duration) -> Self {
        Self {
            statement_timeout: Some(request_timeout - request_timeout / 10),
            ..Self::default()
        }
    }
}

/// After a write refused as read-only, the next refusal that retires connections again
/// comes no sooner than this, then twice as long each time up to the longest (below).
const READ_ONLY_FIRST_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait between two retirements; after a quiet spell this long the waits start
/// over from the first.
const READ_ONLY_LONGEST_INTERVAL: Duration = Duration::from_secs(60);

/// When PostgreSQL last refused a write because its server takes none (SQLSTATE 25006), in
/// milliseconds from [`epoch`] plus one; zero for never. Read on every connection taken from
/// a pool, so it is one atomic; the back-off behind it ([`RETIREMENTS`]) is not.
static READ_ONLY_REFUSED_AT: AtomicU64 = AtomicU64::new(0);

/// The last retirement and the wait before the next one may come.
static RETIREMENTS: Mutex<Option<(Instant, Duration)>> = Mutex::new(None);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Notes that a write was refused because the server takes none: the connections opened
/// before are retired (closed when next taken from a pool, so a new one goes to whichever
/// server the address names by then). A server that turned into a standby in a failover
/// keeps the connections opened to it; without this they would serve until their lifetime
/// ends. Refusals that come sooner than the back-off allows (1 s, doubling up to 60 s) are
/// not noted, so a server that stays read-only (a managed server whose storage is full) is
/// not reconnected to on every write. One mark for the process: a service has one pool.
pub(crate) fn read_only_refused() {
    let now = Instant::now();
    let mut retirements = RETIREMENTS.lock().unwrap_or_else(PoisonError::into_inner);
    let interval = match *retirements {
        Some((last, interval)) if now.duration_since(last) < interval => return,
        Some((last, interval)) if now.duration_since(last) < READ_ONLY_LONGEST_INTERVAL => {
            (interval * 2).min(READ_ONLY_LONGEST_INTERVAL)
        }
        _ => READ_ONLY_FIRST_INTERVAL,
    };
    *retirements = Some((now, interval));
    let at = now.saturating_duration_since(epoch()).as_millis() as u64 + 1;
    READ_ONLY_REFUSED_AT.store(at, Ordering::Relaxed);
}

/// Whether a connection `age` old was opened before the last write refused as read-only.
fn opened_before_read_only_refusal(age: Duration) -> bool {
    match READ_ONLY_REFUSED_AT.load(Ordering::Relaxed) {
        0 => false,
        at => {
            let since = epoch()
                .elapsed()
                .saturating_sub(Duration::from_millis(at - 1));
            age > since
        }
    }
}

/// What both backends' pools share. sqlx checks every connection when it comes back to the
/// pool; checking it again on the way out is skipped for a connection that came back a
/// moment ago (see [`DatabaseSettings::check_idle_after`]). Under load that second round
/// trip was one in three of a PostgreSQL read's, and skipping it raised the benchmark's
/// PostgreSQL read throughput by about a quarter. A connection opened before a write was
/// refused as read-only is closed instead (see [`read_only_refused`]).
fn pool_options(settings: &DatabaseSettings) -> AnyPoolOptions {
    let check_idle_after = settings.check_idle_after;
    AnyPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(move |connection, metadata| {
            Box::pin(async move {
                if opened_before_read_only_refusal(metadata.age) {
                    return Ok(false); // the pool closes it and takes or opens another
                }
                if metadata.idle_for >= check_idle_after {
                    // An error makes the pool close this connection and open a new one.
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
}

/// A pool on a SQLite file. The first connection switches the file to WAL before any other
/// runs a statement: changing the journal mode needs an exclusive lock that the busy timeout
/// does not wait for, so doing it on every connection makes a fresh file report "database is
/// locked". The mode is stored in the file, so later connections inherit it.
pub(crate) fn sqlite_pool(options: AnyConnectOptions, settings: &DatabaseSettings) -> AnyPool {
    let journal_mode_set = Arc::new(OnceCell::<()>::new());
    pool_options(settings)
        .max_connections(4)
        .after_connect(move |connection, _| {
            let journal_mode_set = journal_mode_set.clone();
            Box::pin(async move {
                let busy = format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}");
                connection.execute(AssertSqlSafe(busy)).await?;
                journal_mode_set
                    .get_or_try_init(|| use_wal(connection))
                    .await?;
                // FULL syncs the WAL on every commit: a committed change survives power loss,
                // which NORMAL does not promise in WAL mode.
                connection.execute("PRAGMA synchronous = FULL").await?;
                connection.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// WAL lets readers run beside the one writer.
async fn use_wal(connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    connection.execute("PRAGMA journal_mode = WAL").await?;
    Ok(())
}

/// A pool on a PostgreSQL server, every session limited by `settings`.
pub(crate) fn postgres_pool(options: AnyConnectOptions, settings: &DatabaseSettings) -> AnyPool {
    let statement_timeout_ms = settings
        .statement_timeout
        .map(|timeout| timeout.as_millis().max(1));
    pool_options(settings)
        .max_connections(10)
        .after_connect(move |connection, _| {
            Box::pin(async move {
                if let Some(milliseconds) = statement_timeout_ms {
                    let set = format!("SET statement_timeout = {milliseconds}");
                    connection.execute(AssertSqlSafe(set)).await?;
                }
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

/// The SQLite URL to connect with, or why it is refused. Each pooled connection to
/// `sqlite::memory:` would open its own empty database, so migrations applied on one would be
/// missing on the next: refused rather than half working.
pub(crate) fn sqlite_url(url: &str) -> Result<String, StoreError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Config(
            "in-memory sqlite is not supported: each pooled connection would see its own empty database; use a file such as sqlite://data/service.db".into(),
        ));
    }
    // Create the file on first start.
    if url.contains('?') {
        Ok(url.to_owned())
    } else {
        Ok(format!("{url}?mode=rwc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_refusal_retires_older_connections_with_a_back_off() {
        read_only_refused();
        let noted = READ_ONLY_REFUSED_AT.load(Ordering::Relaxed);
        assert_ne!(noted, 0);
        // Within the back-off a second refusal is not noted.
        read_only_refused();
        assert_eq!(READ_ONLY_REFUSED_AT.load(Ordering::Relaxed), noted);

        let older_than_the_process = epoch().elapsed() + Duration::from_secs(1);
        assert!(opened_before_read_only_refusal(older_than_the_process));
        assert!(!opened_before_read_only_refusal(Duration::ZERO));
    }
}
