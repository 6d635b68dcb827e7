//! Enrollment rules, free of transport and storage: what a partner is, what a valid one
//! looks like, and who may do what with it.

use suite_auth::Caller;
use suite_errors::{FieldViolations, fields};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use crate::error::Error;

/// A registered partner tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The partner's Entra tenant.
    pub tenant_id: Uuid,
    /// Registered legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: String,
    /// Primary contact e-mail.
    pub primary_contact_email: String,
    /// AI Cloud Partner Program id, if known.
    pub partner_program_id: Option<String>,
    /// Creation time, microseconds since the epoch.
    pub create_time: i64,
    /// Last change, microseconds since the epoch.
    pub update_time: i64,
    /// Incremented on every change; the etag.
    pub version: i64,
}

/// `partners/{tenant_id}`.
pub fn partner_name(tenant_id: Uuid) -> String {
    format!("partners/{tenant_id}")
}

/// The tenant id in a `partners/{tenant_id}` name.
pub fn parse_partner_name(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["partners"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))
}

impl From<&Partner> for pb::Partner {
    fn from(partner: &Partner) -> Self {
        pb::Partner {
            name: partner_name(partner.tenant_id),
            tenant_id: partner.tenant_id.to_string(),
            legal_name: partner.legal_name.clone(),
            country_code: partner.country_code.clone(),
            primary_contact_email: partner.primary_contact_email.clone(),
            partner_program_id: partner.partner_program_id.clone().unwrap_or_default(),
            create_time: Some(suite_db::timestamp(partner.create_time)),
            update_time: Some(suite_db::timestamp(partner.update_time)),
            etag: partner.version.to_string(),
        }
    }
}

/// A partner profile as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartner {
    /// Tenant to register; the caller's own when not given.
    pub tenant_id: Option<Uuid>,
    /// Registered legal name.
    pub legal_name: String,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: String,
    /// Primary contact e-mail.
    pub primary_contact_email: String,
    /// AI Cloud Partner Program id, if known.
    pub partner_program_id: Option<String>,
}

const MAX_LEGAL_NAME: usize = 200;

impl NewPartner {
    /// Validates `partner`, recording every problem in `violations`.
    pub fn parse(partner: Option<&pb::Partner>, violations: &mut FieldViolations) -> Option<Self> {
        let Some(partner) = partner else {
            violations.add("partner", "required");
            return None;
        };
        let tenant_id = if partner.tenant_id.is_empty() {
            Some(None)
        } else {
            violations
                .check("partner.tenant_id", fields::uuid(&partner.tenant_id))
                .map(Some)
        };
        let legal_name = violations.check(
            "partner.legal_name",
            fields::text(&partner.legal_name, MAX_LEGAL_NAME),
        );
        let country_code = violations.check(
            "partner.country_code",
            fields::country_code(&partner.country_code),
        );
        let primary_contact_email = violations.check(
            "partner.primary_contact_email",
            fields::email(&partner.primary_contact_email),
        );
        let partner_program_id = violations.check(
            "partner.partner_program_id",
            parse_partner_program_id(&partner.partner_program_id),
        );
        Some(Self {
            tenant_id: tenant_id?,
            legal_name: legal_name?,
            country_code: country_code?,
            primary_contact_email: primary_contact_email?,
            partner_program_id: partner_program_id?,
        })
    }

    /// The tenant to register: the caller's own, or any for the operator.
    pub fn tenant(&self, caller: &Caller) -> Result<Uuid, Error> {
        let tenant_id = self.tenant_id.unwrap_or(caller.tenant_id());
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::ForeignTenant);
        }
        Ok(tenant_id)
    }
}

/// A PartnerID: 6 to 10 digits, or empty when not known yet.
fn parse_partner_program_id(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if !(6..=10).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be 6 to 10 digits".into());
    }
    Ok(Some(value.to_owned()))
}

/// Whether `caller` may read the partner of `tenant_id`. Other tenants' partners are
/// reported as not found, never as forbidden, so their existence does not leak.
pub fn may_read(caller: &Caller, tenant_id: Uuid) -> bool {
    caller.can_access_tenant(tenant_id)
}
