//! The transfer service's rules, free of transport and storage.

pub mod credit;
pub mod eligibility;
pub mod subscription;
pub mod transfer;

pub use subscription::{CustomerRef, NewSubscription, Subscription, SubscriptionUpdate};
pub use transfer::{LineItem, NewTransferRequest, Parties, TransferRequest};
