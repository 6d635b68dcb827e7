//! The agreement service's database: one implementation for SQLite and PostgreSQL (see
//! `suite_db`), one module per entity.

mod customer;
mod partner;
mod versions;

use suite_db::{Database, PageTokenCodec};

/// The agreement service's database.
#[derive(Clone)]
pub struct AgreementStore {
    db: Database,
    pages: PageTokenCodec,
}

impl AgreementStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }

    /// The database, for the outbox relay.
    pub fn database(&self) -> &Database {
        &self.db
    }
}
