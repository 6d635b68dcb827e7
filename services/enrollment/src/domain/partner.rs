//! Partners and their profiles: what a valid profile is, how it changes, and when it is
//! current enough to enroll.

use suite_errors::{FieldViolations, fields};
use suite_identity::Caller;
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::calendar::DAY_MICROS;
use crate::error::Error;

/// A profile not changed for this long must be reviewed before enrolling.
pub const PROFILE_REVIEW_INTERVAL_DAYS: i64 = 365;
const MAX_LEGAL_NAME: usize = 200;

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
    /// Whether the operator verified the PartnerID.
    pub partner_program_id_verified: bool,
    /// AI Cloud Partner Program account e-mail, if known.
    pub program_account_email: Option<String>,
    /// An integration sandbox account; fixed at registration.
    pub integration_sandbox: bool,
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
            partner_program_id_verified: partner.partner_program_id_verified,
            program_account_email: partner.program_account_email.clone().unwrap_or_default(),
            integration_sandbox: partner.integration_sandbox,
            create_time: Some(suite_time::timestamp(partner.create_time)),
            update_time: Some(suite_time::timestamp(partner.update_time)),
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
    /// AI Cloud Partner Program account e-mail, if known.
    pub program_account_email: Option<String>,
    /// An integration sandbox account.
    pub integration_sandbox: bool,
}

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
        let program_account_email = violations.check(
            "partner.program_account_email",
            optional_email(&partner.program_account_email),
        );
        Some(Self {
            tenant_id: tenant_id?,
            legal_name: legal_name?,
            country_code: country_code?,
            primary_contact_email: primary_contact_email?,
            partner_program_id: partner_program_id?,
            program_account_email: program_account_email?,
            integration_sandbox: partner.integration_sandbox,
        })
    }

    /// The tenant to register: the caller's own, or any for the operator. Only the operator
    /// registers an integration sandbox: a partner cannot make its own tenant one, nor
    /// vouch that it is none.
    pub fn tenant(&self, caller: &Caller) -> Result<Uuid, Error> {
        if self.integration_sandbox && !caller.is_operator() {
            return Err(Error::Invalid(FieldViolations::single(
                "partner.integration_sandbox",
                "set by the operator, who registers integration sandboxes",
            )));
        }
        let tenant_id = match self.tenant_id {
            Some(tenant_id) => tenant_id,
            // The operator has no tenant of its own to register.
            None if caller.is_operator() => {
                return Err(Error::Invalid(FieldViolations::single(
                    "partner.tenant_id",
                    "required when the operator registers a partner",
                )));
            }
            None => caller.tenant_id(),
        };
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::ForeignTenant);
        }
        Ok(tenant_id)
    }

    /// The partner this registration creates at `now`.
    pub fn into_partner(self, tenant_id: Uuid, now: i64) -> Partner {
        Partner {
            tenant_id,
            legal_name: self.legal_name,
            country_code: self.country_code,
            primary_contact_email: self.primary_contact_email,
            partner_program_id: self.partner_program_id,
            partner_program_id_verified: false,
            program_account_email: self.program_account_email,
            integration_sandbox: self.integration_sandbox,
            create_time: now,
            update_time: now,
            version: 1,
        }
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

fn optional_email(value: &str) -> Result<Option<String>, String> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        fields::email(value).map(Some)
    }
}

/// A validated profile change: the fields named by the update mask, with their new values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartnerUpdate {
    legal_name: Option<String>,
    country_code: Option<String>,
    primary_contact_email: Option<String>,
    partner_program_id: Option<Option<String>>,
    program_account_email: Option<Option<String>>,
    partner_program_id_verified: Option<bool>,
}

impl PartnerUpdate {
    /// Validates the masked fields of `partner`, recording every problem in `violations`.
    pub fn parse(
        partner: &pb::Partner,
        mask: &[String],
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        if mask.is_empty() {
            violations.add("update_mask", "required: name the fields to change");
            return None;
        }
        let mut update = Self::default();
        for path in mask {
            match path.as_str() {
                "legal_name" => {
                    update.legal_name = violations.check(
                        "partner.legal_name",
                        fields::text(&partner.legal_name, MAX_LEGAL_NAME),
                    );
                }
                "country_code" => {
                    update.country_code = violations.check(
                        "partner.country_code",
                        fields::country_code(&partner.country_code),
                    );
                }
                "primary_contact_email" => {
                    update.primary_contact_email = violations.check(
                        "partner.primary_contact_email",
                        fields::email(&partner.primary_contact_email),
                    );
                }
                "partner_program_id" => {
                    update.partner_program_id = violations.check(
                        "partner.partner_program_id",
                        parse_partner_program_id(&partner.partner_program_id),
                    );
                }
                "program_account_email" => {
                    update.program_account_email = violations.check(
                        "partner.program_account_email",
                        optional_email(&partner.program_account_email),
                    );
                }
                "partner_program_id_verified" => {
                    update.partner_program_id_verified = Some(partner.partner_program_id_verified)
                }
                other => violations.add(
                    "update_mask",
                    format!("{} cannot be updated", fields::quoted(other)),
                ),
            }
        }
        Some(update)
    }

    /// `current` with this change applied at `now`. Verifying a PartnerID is the operator's;
    /// changing the PartnerID clears its verification.
    pub fn apply(&self, caller: &Caller, current: &Partner, now: i64) -> Result<Partner, Error> {
        if self.partner_program_id_verified.is_some() && !caller.is_operator() {
            return Err(Error::Forbidden {
                reason: "OPERATOR_REQUIRED",
                message: "only the platform operator verifies a PartnerID".into(),
            });
        }
        let mut next = current.clone();
        if let Some(value) = &self.legal_name {
            next.legal_name = value.clone();
        }
        if let Some(value) = &self.country_code {
            next.country_code = value.clone();
        }
        if let Some(value) = &self.primary_contact_email {
            next.primary_contact_email = value.clone();
        }
        if let Some(value) = &self.program_account_email {
            next.program_account_email = value.clone();
        }
        if let Some(value) = &self.partner_program_id
            && *value != current.partner_program_id
        {
            next.partner_program_id = value.clone();
            next.partner_program_id_verified = false;
        }
        if let Some(verified) = self.partner_program_id_verified {
            next.partner_program_id_verified = verified && next.partner_program_id.is_some();
        }
        next.update_time = now;
        next.version = current.version + 1;
        Ok(next)
    }
}

/// What keeps a profile from being current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileIssue {
    /// Profile field.
    pub field: &'static str,
    /// `MISSING`, `UNVERIFIED` or `STALE`.
    pub kind: &'static str,
    /// What to do.
    pub description: String,
}

/// Every reason `partner` is not current at `now`; empty when it is.
pub fn profile_issues(partner: &Partner, now: i64) -> Vec<ProfileIssue> {
    let mut issues = Vec::new();
    match &partner.partner_program_id {
        None => issues.push(ProfileIssue {
            field: "partner_program_id",
            kind: "MISSING",
            description: "add the partner's AI Cloud Partner Program id (PartnerID)".into(),
        }),
        Some(_) if !partner.partner_program_id_verified => issues.push(ProfileIssue {
            field: "partner_program_id",
            kind: "UNVERIFIED",
            description: "the PartnerID has not been verified yet".into(),
        }),
        Some(_) => {}
    }
    if now - partner.update_time > PROFILE_REVIEW_INTERVAL_DAYS * DAY_MICROS {
        issues.push(ProfileIssue {
            field: "profile",
            kind: "STALE",
            description: format!("the profile was last updated over {PROFILE_REVIEW_INTERVAL_DAYS} days ago: review and save it"),
        });
    }
    issues
}

impl From<&ProfileIssue> for pb::ProfileIssue {
    fn from(issue: &ProfileIssue) -> Self {
        pb::ProfileIssue {
            field: issue.field.into(),
            kind: issue.kind.into(),
            description: issue.description.clone(),
        }
    }
}
