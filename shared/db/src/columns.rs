//! Decoding the column conventions every store shares: UUIDs as text, flags as integers,
//! optional text stored as empty or NULL.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::StoreError;

/// A UUID stored as text.
pub fn uuid(row: &AnyRow, column: &str) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(column)?;
    Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

/// An optional UUID stored as text, absent when NULL or empty.
pub fn optional_uuid(row: &AnyRow, column: &str) -> Result<Option<Uuid>, StoreError> {
    optional_text(row, column)?
        .map(|text| {
            Uuid::parse_str(&text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
        })
        .transpose()
}

/// A flag stored as 0 or 1 (booleans read differently through the two drivers).
pub fn flag(row: &AnyRow, column: &str) -> Result<bool, StoreError> {
    let value: i64 = row.try_get(column)?;
    Ok(value != 0)
}

/// Text that is absent when NULL or empty.
pub fn optional_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    let value: Option<String> = row.try_get(column)?;
    Ok(value.filter(|text| !text.is_empty()))
}
