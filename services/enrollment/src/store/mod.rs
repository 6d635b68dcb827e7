//! The enrollment service's database: one implementation for SQLite and PostgreSQL (see
//! `suite_db`), one module per entity. Each mutation is one transaction that reads what its
//! rule needs, applies the rule from `domain`, and writes the change with its audit event,
//! outbox messages and idempotent response.

mod directory;
mod enrollments;
mod incentives;
mod partners;
mod policy;
mod revenue;

use suite_db::{Database, PageTokenCodec, ReadBatcher};
use uuid::Uuid;

pub use directory::ProviderSearch;
pub use enrollments::{EnrollmentAction, Standing};

/// The enrollment service's database.
#[derive(Clone)]
pub struct EnrollmentStore {
    db: Database,
    pages: PageTokenCodec,
    standing_reads: ReadBatcher<Uuid, Standing, enrollments::StandingReads>,
}

impl EnrollmentStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        let standing_reads = ReadBatcher::new(
            db.read_batch_slots(),
            enrollments::STANDINGS_PER_STATEMENT,
            enrollments::StandingReads { db: db.clone() },
        );
        Self {
            db,
            pages,
            standing_reads,
        }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }
}

/// The `etag` a client sent, or `None` when it sent none; a malformed one never matches.
fn expected_version(etag: &str) -> Option<i64> {
    if etag.is_empty() {
        None
    } else {
        Some(etag.parse().unwrap_or(-1))
    }
}
