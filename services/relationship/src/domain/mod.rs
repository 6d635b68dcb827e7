//! The relationship service's rules, free of transport and storage.

pub mod customer;
pub mod extension;
pub mod gdap;
pub mod invitations;
pub mod partnerships;

pub use customer::{
    BillingProfile, Customer, CustomerUpdate, NewCustomer, authorize_write, customer_name,
    may_check_relationship, may_list_partners, may_read, no_relationship, parse_customer_name,
    parse_customer_tenant, parse_parent, partner_name,
};
pub use partnerships::PartnershipState;
