//! The relationship service's storage, one implementation for SQLite and PostgreSQL (see
//! `suite_db`); one module per part of the service.

mod customers;
mod extension;
mod gdap;
mod invitations;
mod partnerships;

use suite_db::{Database, IdempotencyKey, PageTokenCodec};
use suite_proto::relationship::v1 as pb;

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

    /// The answer to an earlier customer invitation request with `key`, if there was one.
    pub async fn replayed_invitation(
        &self,
        key: &IdempotencyKey,
    ) -> Result<Option<pb::CustomerInvitation>, Error> {
        Ok(key.replayed(&self.db).await?)
    }

    /// The answer to an earlier request with `key`, if there was one.
    pub async fn replayed(&self, key: &IdempotencyKey) -> Result<Option<pb::Customer>, Error> {
        Ok(key.replayed(&self.db).await?)
    }
}
