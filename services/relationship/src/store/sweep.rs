//! What the clock changes without anyone calling: GDAP relationships reaching their end and
//! invitations expiring unaccepted. Each kind reads only its due rows in one indexed query;
//! each row is then changed in its own transaction under a version check, so replicas
//! sweeping together change each row once and one unreadable row holds up no other.

use sqlx::any::AnyRow;
use suite_db::{StoreError, Tx};

use super::RelationshipStore;
use crate::error::Error;

/// Most rows of one kind a sweep changes; a backlog is worked off over the next ticks.
pub(super) const SWEEP_BATCH: i64 = 500;

/// A kind of row the clock changes.
pub(super) trait Lapsing: Sized {
    /// What the rows are, for logs.
    const KIND: &'static str;

    /// The row as stored.
    fn from_row(row: &AnyRow) -> Result<Self, StoreError>;

    /// What identifies a row, even one that cannot be read whole, for logs.
    fn describe(row: &AnyRow) -> String;

    /// Its resource name, for logs.
    fn name(&self) -> String;

    /// Writes the change due at `now` with its audit and outbox events, under a version
    /// check (`ConcurrentChange` when another replica came first); the audited action, or
    /// `None` when nothing is due any more.
    async fn record_lapse(&self, tx: &mut Tx, now: i64) -> Result<Option<&'static str>, Error>;
}

impl RelationshipStore {
    /// Sweeps every kind due at `now`; returns how many rows it changed. A kind whose due
    /// rows cannot be read is skipped and reported after the others are swept.
    pub async fn sweep(&self, now: i64) -> Result<usize, StoreError> {
        let mut changed = 0;
        let mut first_error = None;
        for swept in [
            self.sweep_gdap(now).await,
            self.sweep_customer_invitations(now).await,
            self.sweep_partnership_invitations(now).await,
        ] {
            match swept {
                Ok(count) => changed += count,
                Err(error) => first_error = first_error.or(Some(error)),
            }
        }
        first_error.map_or(Ok(changed), Err)
    }

    /// Changes each of the `due` rows in its own transaction; returns how many it changed.
    /// When no transaction can begin (an outage), the rest waits for the next sweep.
    pub(super) async fn sweep_rows<T: Lapsing>(&self, due: &[AnyRow], now: i64) -> usize {
        let mut changed = 0;
        for row in due {
            let current = match T::from_row(row) {
                Ok(current) => current,
                Err(error) => {
                    let row = T::describe(row);
                    tracing::warn!(kind = T::KIND, %row, %error, "unreadable row: not swept");
                    continue;
                }
            };
            let name = current.name();
            let mut tx = match self.db.begin().await {
                Ok(tx) => tx,
                Err(error) => {
                    tracing::warn!(kind = T::KIND, %error, "sweep stopped: the next one goes on");
                    break;
                }
            };
            let recorded = match current.record_lapse(&mut tx, now).await {
                Ok(Some(action)) => tx
                    .commit()
                    .await
                    .map(|()| action)
                    .map_err(|e| Error::from(StoreError::from(e))),
                Ok(None) => continue,
                Err(error) => Err(error),
            };
            match recorded {
                Ok(action) => {
                    tracing::info!(kind = T::KIND, resource = %name, action, "swept");
                    changed += 1;
                }
                Err(Error::ConcurrentChange(_)) => {}
                Err(error) => {
                    tracing::warn!(kind = T::KIND, resource = %name, %error, "not swept: the next sweep tries again");
                }
            }
        }
        changed
    }
}
