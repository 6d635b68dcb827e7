//! Customer records: names, validation and who may see them.

use suite_errors::{FieldViolations, fields};
use suite_identity::Caller;
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use crate::error::Error;

/// A customer as recorded by one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Record id.
    pub id: Uuid,
    /// The partner that keeps the record.
    pub partner_tenant_id: Uuid,
    /// The customer's own Entra tenant.
    pub customer_tenant_id: Uuid,
    /// Company name.
    pub display_name: String,
    /// Primary domain.
    pub domain: String,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: String,
    /// Creation time, microseconds since the epoch.
    pub create_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// `partners/{partner}/customers/{customer}`.
pub fn customer_name(partner_tenant_id: Uuid, id: Uuid) -> String {
    format!("partners/{partner_tenant_id}/customers/{id}")
}

/// `partners/{partner}`.
pub fn partner_name(partner_tenant_id: Uuid) -> String {
    format!("partners/{partner_tenant_id}")
}

/// The partner tenant in a `partners/{partner}` parent.
pub fn parse_parent(parent: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(parent, &["partners"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))
}

/// The partner tenant and customer id in a `partners/{partner}/customers/{customer}` name.
pub fn parse_customer_name(name: &str) -> Result<(Uuid, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customers"])?;
    let partner = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    let customer = fields::uuid(ids[1]).map_err(|reason| format!("customer id {reason}"))?;
    Ok((partner, customer))
}

impl From<&Customer> for pb::Customer {
    fn from(customer: &Customer) -> Self {
        pb::Customer {
            name: customer_name(customer.partner_tenant_id, customer.id),
            customer_tenant_id: customer.customer_tenant_id.to_string(),
            display_name: customer.display_name.clone(),
            domain: customer.domain.clone(),
            country_code: customer.country_code.clone(),
            create_time: Some(suite_time::timestamp(customer.create_time)),
            etag: customer.version.to_string(),
        }
    }
}

/// A customer record as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    /// The customer's Entra tenant.
    pub customer_tenant_id: Uuid,
    /// Company name.
    pub display_name: String,
    /// Primary domain, lower-case.
    pub domain: String,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: String,
}

const MAX_DISPLAY_NAME: usize = 200;

impl NewCustomer {
    /// Validates `customer`, recording every problem in `violations`.
    pub fn parse(
        customer: Option<&pb::Customer>,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(customer) = customer else {
            violations.add("customer", "required");
            return None;
        };
        let customer_tenant_id = violations.check(
            "customer.customer_tenant_id",
            fields::uuid(&customer.customer_tenant_id),
        );
        let display_name = violations.check(
            "customer.display_name",
            fields::text(&customer.display_name, MAX_DISPLAY_NAME),
        );
        let domain = violations.check("customer.domain", parse_domain(&customer.domain));
        let country_code = violations.check(
            "customer.country_code",
            fields::country_code(&customer.country_code),
        );
        Some(Self {
            customer_tenant_id: customer_tenant_id?,
            display_name: display_name?,
            domain: domain?,
            country_code: country_code?,
        })
    }
}

/// A DNS domain such as `contoso.onmicrosoft.com`.
fn parse_domain(value: &str) -> Result<String, String> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() {
        return Err("required".into());
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if value.len() > 253 || !value.contains('.') || !value.split('.').all(label_ok) {
        return Err("must be a domain name such as contoso.onmicrosoft.com".into());
    }
    Ok(value)
}

/// Whether `caller` may see the customers of `partner_tenant_id`; others' customers are
/// reported as not found.
pub fn may_read(caller: &Caller, partner_tenant_id: Uuid) -> bool {
    caller.can_access_tenant(partner_tenant_id)
}

/// A customer record is created only in the caller's own tenant (any for the operator).
pub fn authorize_create(caller: &Caller, partner_tenant_id: Uuid) -> Result<(), Error> {
    if !caller.can_access_tenant(partner_tenant_id) {
        return Err(Error::PartnerNotFound(partner_name(partner_tenant_id)));
    }
    Ok(())
}
