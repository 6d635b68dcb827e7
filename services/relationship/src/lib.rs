//! relationship
