//! The relationship service's storage, one implementation for SQLite and PostgreSQL (see
//! `suite_db`); one module per part of the service.

mod customers;
mod extension;
mod gdap;
mod invitations;
mod partnerships;
mod sweep;

use suite_db::{Database, IdempotencyKey, PageTokenCodec};

use crate::error::Error;

pub use partnerships::InvitationSettings;

/// The relationship service's database.
#[derive(Clone)]
pub struct RelationshipStore {
    db: Database,
    pages: PageTokenCodec,
}

impl RelationshipStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }

    /// The answer to an earlier request with `key`, if there was one: lets a handler answer
    /// a retry before it asks a peer (`IdempotencyKey::claim` stays the authority).
    pub async fn replayed<M: prost::Message + Default>(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<M>, Error> {
        Ok(key.replayed(&self.db).await?)
    }
}
