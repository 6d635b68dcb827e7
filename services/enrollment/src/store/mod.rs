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

use sqlx::Row;
use sqlx::any::AnyRow;
use suite_auth::{Caller, Principal, PrincipalKind};
use suite_db::{Database, OutboxMessage, PageTokenCodec, StoreError, Tx};
use uuid::Uuid;

use crate::domain::notification::{EMAIL_TOPIC, Email};

pub use directory::ProviderSearch;
pub use enrollments::EnrollmentAction;

/// The enrollment service's database.
#[derive(Clone)]
pub struct EnrollmentStore {
    db: Database,
    pages: PageTokenCodec,
}

impl EnrollmentStore {
    /// A store on `db`, signing page tokens with `pages`.
    pub fn new(db: Database, pages: PageTokenCodec) -> Self {
        Self { db, pages }
    }

    /// The page-token codec, to validate list requests.
    pub fn pages(&self) -> &PageTokenCodec {
        &self.pages
    }
}

/// The service itself, as the actor of changes nobody requested (the override sweep).
fn service_caller() -> Caller {
    let principal = Principal {
        subject: crate::SERVICE.to_owned(),
        tenant_id: Uuid::nil(),
        roles: Vec::new(),
        kind: PrincipalKind::Service,
    };
    Caller::new(principal, None, String::new())
}

async fn enqueue_email(tx: &mut Tx, key: &str, email: &Email) -> Result<(), StoreError> {
    let payload = serde_json::to_vec(email).map_err(|e| StoreError::Other(e.to_string()))?;
    suite_db::enqueue(
        tx,
        OutboxMessage {
            topic: EMAIL_TOPIC,
            key,
            payload,
        },
    )
    .await
}

fn uuid_column(row: &AnyRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn flag_column(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    let value: i64 = row.try_get(column)?;
    Ok(value != 0)
}

fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    let value: Option<String> = row.try_get(column)?;
    Ok(value.filter(|text| !text.is_empty()))
}

/// The `etag` a client sent, or `None` when it sent none; a malformed one never matches.
fn expected_version(etag: &str) -> Option<i64> {
    if etag.is_empty() {
        None
    } else {
        Some(etag.parse().unwrap_or(-1))
    }
}
