//! The transfer service's database, one implementation for SQLite and PostgreSQL (see
//! `suite_db`): subscriptions, transfer requests and the record of their execution.

mod execution;
mod subscriptions;
mod transfers;

use suite_db::{Database, IdempotencyKey, PageTokenCodec};

use crate::error::Error;

pub use execution::MoveOutcome;
pub use transfers::EXECUTE_TOPIC;

/// The transfer service's database.
#[derive(Clone)]
pub struct TransferStore {
    db: Database,
    pages: PageTokenCodec,
}

impl TransferStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }

    /// The answer to an earlier request with `key`, if there was one.
    pub async fn replayed<M: prost::Message + Default>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<M>, Error> {
        Ok(key.replayed(&self.db).await?)
    }
}
