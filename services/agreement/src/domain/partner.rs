//! Partner agreement (MPA) acceptances and the enrollment they activate.

use serde::{Deserialize, Serialize};
use suite_errors::fields;
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

pub use pb::ActivationState;

/// The enrollment program whose Microsoft Partner Agreement `agreement_type` is, as the URL
/// segment the enrollment service uses; `None` for a customer agreement.
pub fn program_slug(agreement_type: pb::AgreementType) -> Option<&'static str> {
    match agreement_type {
        pb::AgreementType::PartnerDirectBill => Some("direct-bill"),
        pb::AgreementType::PartnerIndirectReseller => Some("indirect-reseller"),
        pb::AgreementType::PartnerIndirectProvider => Some("indirect-provider"),
        pb::AgreementType::Customer | pb::AgreementType::Unspecified => None,
    }
}

/// `partners/{tenant}`.
pub fn partner_name(tenant_id: Uuid) -> String {
    format!("partners/{tenant_id}")
}

/// The tenant in a `partners/{tenant}` name.
pub fn parse_partner_name(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["partners"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))
}

/// The partner tenant and acceptance id in `partners/{p}/agreementAcceptances/{id}`.
pub fn parse_acceptance_name(name: &str) -> Result<(Uuid, Uuid), String> {
    let ids = fields::resource_name(name, &["partners", "agreementAcceptances"])?;
    let partner = fields::uuid(ids[0]).map_err(|reason| format!("partner id {reason}"))?;
    let id = fields::uuid(ids[1]).map_err(|reason| format!("acceptance id {reason}"))?;
    Ok((partner, id))
}

/// A partner's acceptance of an MPA version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerAcceptance {
    /// Acceptance id; also the `request_id` of the activation it triggers, so a repeated
    /// delivery activates once.
    pub id: Uuid,
    /// The partner.
    pub partner_tenant_id: Uuid,
    /// `agreementVersions/{id}`.
    pub agreement_version: String,
    /// `partners/{p}/enrollments/{program}`.
    pub enrollment: String,
    /// Who accepted.
    pub accepted_by: String,
    /// When.
    pub accept_time: i64,
    /// The activation.
    pub activation_state: ActivationState,
    /// Why the activation failed.
    pub activation_error: Option<String>,
    /// Last change.
    pub update_time: i64,
}

impl PartnerAcceptance {
    /// `partners/{p}/agreementAcceptances/{id}`.
    pub fn name(&self) -> String {
        format!(
            "partners/{}/agreementAcceptances/{}",
            self.partner_tenant_id, self.id
        )
    }
}

impl From<&PartnerAcceptance> for pb::PartnerAgreementAcceptance {
    fn from(acceptance: &PartnerAcceptance) -> Self {
        pb::PartnerAgreementAcceptance {
            name: acceptance.name(),
            agreement_version: acceptance.agreement_version.clone(),
            enrollment: acceptance.enrollment.clone(),
            accepted_by: acceptance.accepted_by.clone(),
            accept_time: Some(suite_time::timestamp(acceptance.accept_time)),
            activation_state: acceptance.activation_state as i32,
            activation_error: acceptance.activation_error.clone().unwrap_or_default(),
        }
    }
}

/// What the enrollment service said about the program's enrollment before accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentStanding {
    /// APPROVED: the acceptance activates it.
    Approved,
    /// Already ACTIVE: a newer version is being accepted.
    Active,
    /// Any other state, or no enrollment: accepting is refused.
    NotApproved,
    /// The enrollment service did not answer: accept, and activate once it is back (it
    /// refuses then if the enrollment was not approved).
    Unknown,
}

/// The activation to expect from an acceptance, or `None` when accepting is refused.
pub fn activation_for(standing: EnrollmentStanding) -> Option<ActivationState> {
    match standing {
        EnrollmentStanding::Approved | EnrollmentStanding::Unknown => {
            Some(ActivationState::Pending)
        }
        EnrollmentStanding::Active => Some(ActivationState::NotRequired),
        EnrollmentStanding::NotApproved => None,
    }
}

/// The outbox message asking the enrollment service to activate an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationRequest {
    /// The acceptance, and the activation's `request_id`.
    pub acceptance_id: Uuid,
    /// `partners/{p}/agreementAcceptances/{id}`.
    pub acceptance: String,
    /// `partners/{p}/enrollments/{program}`.
    pub enrollment: String,
    /// `agreementVersions/{id}`.
    pub agreement_version: String,
    /// When it was accepted.
    pub accept_time: i64,
}

/// Outbox topic of activation requests.
pub const ACTIVATION_TOPIC: &str = "agreement.v1.enrollment_activation";
