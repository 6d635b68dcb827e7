//! Enrollment rules, free of transport and storage.

pub mod calendar;
pub mod directory;
pub mod incentive;
pub mod notification;
pub mod partner;
pub mod program;
pub mod revenue;

pub use partner::{NewPartner, Partner};
