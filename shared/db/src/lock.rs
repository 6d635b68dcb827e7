//! Row locks for decisions that read several rows and write others.

use crate::{Backend, Tx};

/// The clause that makes a `SELECT` inside `tx` lock the rows it reads until `tx` ends.
///
/// Under PostgreSQL's READ COMMITTED two transactions can each read a tenant's rows, decide
/// on what they saw and write different rows, so neither sees the other's change. Reading
/// the parent row `FOR UPDATE` first makes such decisions on one parent run one after
/// another. SQLite needs nothing: [`crate::Database::begin`] already holds its only write
/// lock, and SQLite does not know the clause.
pub fn for_update(tx: &Tx) -> &'static str {
    match Backend::of_connection(tx) {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}
