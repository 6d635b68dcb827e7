//! The relationship service's rules, free of transport and storage.

pub mod customer;
pub mod partnerships;

pub use customer::{
    Customer, NewCustomer, authorize_create, customer_name, may_read, parse_customer_name,
    parse_parent, partner_name,
};
pub use partnerships::PartnershipState;
