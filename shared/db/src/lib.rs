//! suite-db
