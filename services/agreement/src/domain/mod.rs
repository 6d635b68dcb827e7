//! Agreement rules, free of transport and storage.

pub mod customer;
pub mod partner;
pub mod versions;

pub use versions::{AgreementVersion, NewAgreementVersion};
