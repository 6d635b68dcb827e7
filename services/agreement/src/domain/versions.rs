//! The catalogue of agreement versions.

use suite_errors::{FieldViolations, fields};
use suite_proto::agreement::v1 as pb;

/// One published version of an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementVersion {
    /// Template id, e.g. `mca-2026-01`.
    pub template_id: String,
    /// Which agreement.
    pub agreement_type: pb::AgreementType,
    /// Title.
    pub display_name: String,
    /// From when new acceptances bind to it, microseconds since the epoch.
    pub effective_time: i64,
    /// Publication time, microseconds since the epoch.
    pub create_time: i64,
}

/// `agreementVersions/{template_id}`.
pub fn version_name(template_id: &str) -> String {
    format!("agreementVersions/{template_id}")
}

/// The template id in an `agreementVersions/{template_id}` name.
pub fn parse_version_name(name: &str) -> Result<String, String> {
    let ids = fields::resource_name(name, &["agreementVersions"])?;
    parse_template_id(ids[0])
}

/// 3 to 63 characters: lower-case letters, digits and `-`, starting with a letter.
fn parse_template_id(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("required".into());
    }
    let well_formed = (3..=63).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Err(
            "must be 3 to 63 lower-case letters, digits or '-', starting with a letter".into(),
        );
    }
    Ok(value.to_owned())
}

/// A known agreement type; unspecified is refused where a type is required.
pub fn parse_agreement_type(value: i32) -> Result<pb::AgreementType, String> {
    match pb::AgreementType::try_from(value) {
        Ok(pb::AgreementType::Unspecified) => Err("required".into()),
        Ok(agreement_type) => Ok(agreement_type),
        Err(_) => Err(format!("unknown agreement type {value}")),
    }
}

impl From<&AgreementVersion> for pb::AgreementVersion {
    fn from(version: &AgreementVersion) -> Self {
        pb::AgreementVersion {
            name: version_name(&version.template_id),
            template_id: version.template_id.clone(),
            agreement_type: version.agreement_type as i32,
            display_name: version.display_name.clone(),
            effective_time: Some(suite_time::timestamp(version.effective_time)),
            create_time: Some(suite_time::timestamp(version.create_time)),
        }
    }
}

const MAX_DISPLAY_NAME: usize = 200;

/// A version as submitted, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgreementVersion {
    /// Template id.
    pub template_id: String,
    /// Which agreement.
    pub agreement_type: pb::AgreementType,
    /// Title.
    pub display_name: String,
    /// When it takes effect, microseconds since the epoch.
    pub effective_time: i64,
}

impl NewAgreementVersion {
    /// Validates `version`, recording every problem in `violations`.
    pub fn parse(
        version: Option<&pb::AgreementVersion>,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(version) = version else {
            violations.add("agreement_version", "required");
            return None;
        };
        let template_id = violations.check(
            "agreement_version.template_id",
            parse_template_id(&version.template_id),
        );
        let agreement_type = violations.check(
            "agreement_version.agreement_type",
            parse_agreement_type(version.agreement_type),
        );
        let display_name = violations.check(
            "agreement_version.display_name",
            fields::text(&version.display_name, MAX_DISPLAY_NAME),
        );
        let effective_time = violations.check(
            "agreement_version.effective_time",
            fields::timestamp_micros(version.effective_time.as_ref()),
        );
        Some(Self {
            template_id: template_id?,
            agreement_type: agreement_type?,
            display_name: display_name?,
            effective_time: effective_time?,
        })
    }
}
