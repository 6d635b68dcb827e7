//! Customers as partners see them: names, validation, billing profiles, what each partner
//! may do for a customer, and who may see it.

use suite_errors::{FieldViolations, fields};
use suite_identity::{Caller, Role};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use crate::error::Error;

/// One partner's view of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Record id: the order of a partner's list (creation order).
    pub id: Uuid,
    /// The partner whose view this is.
    pub partner_tenant_id: Uuid,
    /// The customer's own Entra tenant, which names it.
    pub customer_tenant_id: Uuid,
    /// Company name.
    pub display_name: String,
    /// Primary domain.
    pub domain: String,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: String,
    /// The billing profile this partner keeps.
    pub billing: BillingProfile,
    /// What the partner is to the customer.
    pub partner_role: pb::PartnerRole,
    /// How the partner came to have the customer.
    pub acquisition: pb::Acquisition,
    /// Whether the partner holds admin permissions for the customer.
    pub admin_permissions: bool,
    /// Creation time, microseconds since the epoch.
    pub create_time: i64,
    /// Last change, microseconds since the epoch.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// A billing profile; empty texts are fields not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BillingProfile {
    /// Legal company name on invoices.
    pub company_name: String,
    /// Street address, first line.
    pub address_line1: String,
    /// Street address, second line.
    pub address_line2: String,
    /// City.
    pub city: String,
    /// State, province or region.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 code of the address.
    pub country_code: String,
    /// Billing contact's first name.
    pub contact_first_name: String,
    /// Billing contact's last name.
    pub contact_last_name: String,
    /// Billing contact's e-mail address.
    pub contact_email: String,
    /// Billing contact's phone number.
    pub contact_phone: String,
}

/// `partners/{partner}/customers/{customer_tenant}`.
pub fn customer_name(partner_tenant_id: Uuid, customer_tenant_id: Uuid) -> String {
    format!("partners/{partner_tenant_id}/customers/{customer_tenant_id}")
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

/// The customer tenant in a `customers/{customer_tenant}` name.
pub fn parse_customer_tenant(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["customers"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("customer tenant id {reason}"))
}

/// The partner and customer tenants in a `partners/{partner}/customers/{customer_tenant}`
/// name.
pub fn parse_customer_name(name: &str) -> Result<(Uuid, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "customers"])?;
    let partner = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    let customer = fields::uuid(ids[1]).map_err(|reason| format!("customer tenant id {reason}"))?;
    Ok((partner, customer))
}

impl Customer {
    /// What this partner may do for the customer. Adding and viewing products are direct
    /// bill's (a customer it recorded, or one that accepted its relationship request) and
    /// never offered where the customer has an indirect reseller relationship
    /// (`indirectly_served`), whoever holds it.
    pub fn available_actions(&self, indirectly_served: bool) -> Vec<pb::CustomerAction> {
        let mut actions = Vec::new();
        let direct_bill = self.partner_role == pb::PartnerRole::DirectBillPartner;
        if direct_bill && !indirectly_served {
            actions.extend([
                pb::CustomerAction::AddProducts,
                pb::CustomerAction::ViewProducts,
            ]);
        }
        actions.push(pb::CustomerAction::ManageBillingProfile);
        actions
    }

    /// The view on the wire; `indirectly_served` as for [`Self::available_actions`].
    pub fn to_proto(&self, indirectly_served: bool) -> pb::Customer {
        pb::Customer {
            name: customer_name(self.partner_tenant_id, self.customer_tenant_id),
            customer_tenant_id: self.customer_tenant_id.to_string(),
            display_name: self.display_name.clone(),
            domain: self.domain.clone(),
            country_code: self.country_code.clone(),
            create_time: Some(suite_time::timestamp(self.create_time)),
            etag: self.version.to_string(),
            billing_profile: (self.billing != BillingProfile::default())
                .then(|| pb::BillingProfile::from(&self.billing)),
            partner_role: self.partner_role as i32,
            acquisition: self.acquisition as i32,
            available_actions: self
                .available_actions(indirectly_served)
                .into_iter()
                .map(|action| action as i32)
                .collect(),
            update_time: Some(suite_time::timestamp(self.update_time)),
            admin_permissions: self.admin_permissions,
        }
    }

    /// The customer as one entry of its own list of partners.
    pub fn as_partner_entry(&self) -> pb::CustomerPartner {
        pb::CustomerPartner {
            partner: partner_name(self.partner_tenant_id),
            partner_role: self.partner_role as i32,
            acquisition: self.acquisition as i32,
            create_time: Some(suite_time::timestamp(self.create_time)),
            admin_permissions: self.admin_permissions,
        }
    }

    /// The answer to "what is this partner to this customer".
    pub fn as_relationship(&self) -> pb::CustomerRelationship {
        pb::CustomerRelationship {
            customer: format!("customers/{}", self.customer_tenant_id),
            partner: partner_name(self.partner_tenant_id),
            related: true,
            partner_role: self.partner_role as i32,
            acquisition: self.acquisition as i32,
            admin_permissions: self.admin_permissions,
            create_time: Some(suite_time::timestamp(self.create_time)),
        }
    }
}

/// The answer for a partner that is not one of the customer's partners of record.
pub fn no_relationship(
    customer_tenant_id: Uuid,
    partner_tenant_id: Uuid,
) -> pb::CustomerRelationship {
    pb::CustomerRelationship {
        customer: format!("customers/{customer_tenant_id}"),
        partner: partner_name(partner_tenant_id),
        ..Default::default()
    }
}

impl From<&BillingProfile> for pb::BillingProfile {
    fn from(profile: &BillingProfile) -> Self {
        pb::BillingProfile {
            company_name: profile.company_name.clone(),
            address_line1: profile.address_line1.clone(),
            address_line2: profile.address_line2.clone(),
            city: profile.city.clone(),
            region: profile.region.clone(),
            postal_code: profile.postal_code.clone(),
            country_code: profile.country_code.clone(),
            contact_first_name: profile.contact_first_name.clone(),
            contact_last_name: profile.contact_last_name.clone(),
            contact_email: profile.contact_email.clone(),
            contact_phone: profile.contact_phone.clone(),
        }
    }
}

const MAX_DISPLAY_NAME: usize = 200;
const MAX_PROFILE_TEXT: usize = 200;

impl BillingProfile {
    /// Validates `profile`, sent in `field`, recording every problem in `violations`.
    pub fn parse(
        profile: &pb::BillingProfile,
        field: &str,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let mut required = |name: &str, value: &str| {
            violations.check(
                &format!("{field}.{name}"),
                fields::text(value, MAX_PROFILE_TEXT),
            )
        };
        let company_name = required("company_name", &profile.company_name);
        let address_line1 = required("address_line1", &profile.address_line1);
        let city = required("city", &profile.city);
        let postal_code = required("postal_code", &profile.postal_code);
        let contact_first_name = required("contact_first_name", &profile.contact_first_name);
        let contact_last_name = required("contact_last_name", &profile.contact_last_name);
        let mut optional = |name: &str, value: &str| {
            if value.trim().is_empty() {
                return Some(String::new());
            }
            violations.check(
                &format!("{field}.{name}"),
                fields::text(value, MAX_PROFILE_TEXT),
            )
        };
        let address_line2 = optional("address_line2", &profile.address_line2);
        let region = optional("region", &profile.region);
        let country_code = violations.check(
            &format!("{field}.country_code"),
            fields::country_code(&profile.country_code),
        );
        let contact_email = violations.check(
            &format!("{field}.contact_email"),
            fields::email(&profile.contact_email),
        );
        let contact_phone = violations.check(
            &format!("{field}.contact_phone"),
            parse_phone(&profile.contact_phone),
        );
        Some(Self {
            company_name: company_name?,
            address_line1: address_line1?,
            address_line2: address_line2?,
            city: city?,
            region: region?,
            postal_code: postal_code?,
            country_code: country_code?,
            contact_first_name: contact_first_name?,
            contact_last_name: contact_last_name?,
            contact_email: contact_email?,
            contact_phone: contact_phone?,
        })
    }
}

/// An optional phone number: digits, spaces and `+-().`, with 5 to 20 digits.
fn parse_phone(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits) || value.len() > 40 {
        return Err("must be a phone number such as +1 425 555 0100".into());
    }
    Ok(value.to_owned())
}

/// A customer record as a direct-bill partner submits it, validated.
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
    /// The billing profile, when given.
    pub billing: BillingProfile,
}

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
        let billing = match &customer.billing_profile {
            None => Some(BillingProfile::default()),
            Some(profile) => BillingProfile::parse(profile, "customer.billing_profile", violations),
        };
        Some(Self {
            customer_tenant_id: customer_tenant_id?,
            display_name: display_name?,
            domain: domain?,
            country_code: country_code?,
            billing: billing?,
        })
    }

    /// The direct-bill partner's view this record creates at `now`.
    pub fn into_direct_bill_view(self, partner_tenant_id: Uuid, now: i64) -> Customer {
        Customer {
            id: Uuid::now_v7(),
            partner_tenant_id,
            customer_tenant_id: self.customer_tenant_id,
            display_name: self.display_name,
            domain: self.domain,
            country_code: self.country_code,
            billing: self.billing,
            partner_role: pb::PartnerRole::DirectBillPartner,
            acquisition: pb::Acquisition::DirectBill,
            // The partner that adds a customer administers it.
            admin_permissions: true,
            create_time: now,
            update_time: now,
            version: 1,
        }
    }
}

impl NewCustomer {
    /// The views a provider's creation of the customer tenant for `reseller_tenant_id` makes
    /// at `now`: the provider's and the designated reseller's, both with admin permissions.
    pub fn into_views_created_by_provider(
        self,
        provider_tenant_id: Uuid,
        reseller_tenant_id: Uuid,
        now: i64,
    ) -> (Customer, Customer) {
        let mut provider = self.into_direct_bill_view(provider_tenant_id, now);
        provider.partner_role = pb::PartnerRole::IndirectProvider;
        provider.acquisition = pb::Acquisition::CreatedByProvider;
        let reseller = Customer {
            id: Uuid::now_v7(),
            partner_tenant_id: reseller_tenant_id,
            partner_role: pb::PartnerRole::IndirectReseller,
            ..provider.clone()
        };
        (provider, reseller)
    }
}

/// A change to a partner's view of a customer, validated against its `update_mask`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerUpdate {
    display_name: Option<String>,
    billing: Option<BillingProfile>,
    billing_fields: Vec<(String, String)>,
    /// The etag the caller read, if it sent one.
    pub etag: Option<i64>,
}

/// The fields of a billing profile an update mask may name one by one.
const BILLING_FIELDS: &[&str] = &[
    "company_name",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country_code",
    "contact_first_name",
    "contact_last_name",
    "contact_email",
    "contact_phone",
];

impl CustomerUpdate {
    /// Validates the fields `mask` names in `customer`, recording every problem.
    pub fn parse(
        customer: &pb::Customer,
        mask: &[String],
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        if mask.is_empty() {
            violations.add("update_mask", "required: name the fields to change");
            return None;
        }
        let mut update = Self {
            etag: match customer.etag.trim() {
                "" => None,
                etag => violations.check(
                    "customer.etag",
                    etag.parse()
                        .map_err(|_| "must be an etag read from this customer".to_owned()),
                ),
            },
            ..Self::default()
        };
        let given = customer.billing_profile.clone().unwrap_or_default();
        for path in mask {
            match path.as_str() {
                "display_name" => {
                    update.display_name = violations.check(
                        "customer.display_name",
                        fields::text(&customer.display_name, MAX_DISPLAY_NAME),
                    );
                }
                "billing_profile" => {
                    update.billing =
                        BillingProfile::parse(&given, "customer.billing_profile", violations);
                }
                other => match other.strip_prefix("billing_profile.") {
                    Some(field) if BILLING_FIELDS.contains(&field) => {
                        update
                            .billing_fields
                            .push((field.to_owned(), billing_field(&given, field)));
                    }
                    _ => violations.add(
                        "update_mask",
                        format!("{} cannot be updated", fields::quoted(other)),
                    ),
                },
            }
        }
        Some(update)
    }

    /// `current` with this change applied at `now`; the resulting billing profile must be
    /// complete, so single fields are checked against the whole.
    pub fn apply(&self, current: &Customer, now: i64) -> Result<Customer, Error> {
        let mut next = current.clone();
        if let Some(name) = &self.display_name {
            next.display_name = name.clone();
        }
        if let Some(billing) = &self.billing {
            next.billing = billing.clone();
        }
        if !self.billing_fields.is_empty() {
            let mut profile = pb::BillingProfile::from(&next.billing);
            for (field, value) in &self.billing_fields {
                set_billing_field(&mut profile, field, value);
            }
            let mut violations = FieldViolations::new();
            let checked =
                BillingProfile::parse(&profile, "customer.billing_profile", &mut violations);
            next.billing = match checked {
                Some(profile) if violations.is_empty() => profile,
                _ => return Err(Error::Invalid(violations)),
            };
        }
        next.update_time = now;
        next.version = current.version + 1;
        Ok(next)
    }
}

fn billing_field(profile: &pb::BillingProfile, field: &str) -> String {
    match field {
        "company_name" => &profile.company_name,
        "address_line1" => &profile.address_line1,
        "address_line2" => &profile.address_line2,
        "city" => &profile.city,
        "region" => &profile.region,
        "postal_code" => &profile.postal_code,
        "country_code" => &profile.country_code,
        "contact_first_name" => &profile.contact_first_name,
        "contact_last_name" => &profile.contact_last_name,
        "contact_email" => &profile.contact_email,
        _ => &profile.contact_phone,
    }
    .clone()
}

fn set_billing_field(profile: &mut pb::BillingProfile, field: &str, value: &str) {
    let slot = match field {
        "company_name" => &mut profile.company_name,
        "address_line1" => &mut profile.address_line1,
        "address_line2" => &mut profile.address_line2,
        "city" => &mut profile.city,
        "region" => &mut profile.region,
        "postal_code" => &mut profile.postal_code,
        "country_code" => &mut profile.country_code,
        "contact_first_name" => &mut profile.contact_first_name,
        "contact_last_name" => &mut profile.contact_last_name,
        "contact_email" => &mut profile.contact_email,
        _ => &mut profile.contact_phone,
    };
    *slot = value.to_owned();
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

/// A customer record is created or changed only in the caller's own tenant (any for the
/// operator).
pub fn authorize_write(caller: &Caller, partner_tenant_id: Uuid) -> Result<(), Error> {
    if !caller.can_access_tenant(partner_tenant_id) {
        return Err(Error::PartnerNotFound(partner_name(partner_tenant_id)));
    }
    Ok(())
}

/// Who may learn what `partner_tenant_id` is to customer `customer_tenant_id`: the
/// customer's own admin (GLOBAL_ADMIN of its tenant), that partner, or the operator. Another
/// partner of the customer may not: a partner's record of a customer is its own word, and
/// must not open what the customer's other partners are to it.
pub fn may_check_relationship(
    caller: &Caller,
    customer_tenant_id: Uuid,
    partner_tenant_id: Uuid,
) -> bool {
    may_list_partners(caller, customer_tenant_id)
        || caller.can_access_tenant(partner_tenant_id)
        // The transfer service checks a transfer's parties, acting for itself: before a
        // request is created and again when it runs, long after the requester's token expired.
        || caller.is_service("transfer")
}

/// A customer's list of partners is its own admin's (GLOBAL_ADMIN of the customer tenant)
/// and the operator's; anyone else is told the customer does not exist.
pub fn may_list_partners(caller: &Caller, customer_tenant_id: Uuid) -> bool {
    caller.is_operator()
        || (caller.can_access_tenant(customer_tenant_id)
            && caller.require_role(Role::GlobalAdmin).is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn view(role: pb::PartnerRole, acquisition: pb::Acquisition) -> Customer {
        Customer {
            id: Uuid::now_v7(),
            partner_tenant_id: Uuid::new_v4(),
            customer_tenant_id: Uuid::new_v4(),
            display_name: "Contoso".into(),
            domain: "contoso.example".into(),
            country_code: "US".into(),
            billing: BillingProfile::default(),
            partner_role: role,
            acquisition,
            admin_permissions: true,
            create_time: 1,
            update_time: 1,
            version: 1,
        }
    }

    #[test]
    fn products_belong_to_direct_bill_customers_without_an_indirect_relationship() {
        use pb::CustomerAction as A;
        let direct = view(
            pb::PartnerRole::DirectBillPartner,
            pb::Acquisition::DirectBill,
        );
        assert_eq!(
            direct.available_actions(false),
            [A::AddProducts, A::ViewProducts, A::ManageBillingProfile]
        );
        assert_eq!(direct.available_actions(true), [A::ManageBillingProfile]);
        let reseller = view(
            pb::PartnerRole::IndirectReseller,
            pb::Acquisition::Invitation,
        );
        assert_eq!(reseller.available_actions(false), [A::ManageBillingProfile]);
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(
            parse_phone(" +1 (425) 555-0100 ").unwrap(),
            "+1 (425) 555-0100"
        );
        assert_eq!(parse_phone("").unwrap(), "");
        for bad in ["call me", "12", "+1 425 555 0100 ext. 7"] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }
}
