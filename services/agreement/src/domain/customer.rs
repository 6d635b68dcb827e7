//! The Microsoft Customer Agreement: acceptances by customers and attestations by partners,
//! and whether they make the MCA valid with a given partner.

use suite_errors::{FieldViolations, fields};
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

pub use pb::{AcceptanceMethod, RequiredAction};

/// `customers/{tenant}`.
pub fn customer_name(tenant_id: Uuid) -> String {
    format!("customers/{tenant_id}")
}

/// The tenant in a `customers/{tenant}` name.
pub fn parse_customer_name(name: &str) -> Result<Uuid, String> {
    let ids = fields::resource_name(name, &["customers"])?;
    fields::uuid(ids[0]).map_err(|reason| format!("customer id {reason}"))
}

/// The person who signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email: String,
    /// Phone, empty when not given.
    pub phone_number: String,
}

/// One MCA acceptance; never changed once recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAcceptance {
    /// Id.
    pub id: Uuid,
    /// The customer.
    pub customer_tenant_id: Uuid,
    /// `agreementVersions/{id}`.
    pub agreement_version: String,
    /// The customer's own, or a partner's attestation.
    pub method: AcceptanceMethod,
    /// The attesting partner.
    pub attesting_partner: Option<Uuid>,
    /// Who signed.
    pub signer: Signer,
    /// When the customer agreed.
    pub accept_time: i64,
    /// When it was recorded.
    pub create_time: i64,
    /// Who recorded it.
    pub recorded_by: String,
}

impl CustomerAcceptance {
    /// `customers/{c}/agreementAcceptances/{id}`.
    pub fn name(&self) -> String {
        format!(
            "customers/{}/agreementAcceptances/{}",
            self.customer_tenant_id, self.id
        )
    }
}

impl From<&CustomerAcceptance> for pb::CustomerAgreementAcceptance {
    fn from(acceptance: &CustomerAcceptance) -> Self {
        pb::CustomerAgreementAcceptance {
            name: acceptance.name(),
            agreement_version: acceptance.agreement_version.clone(),
            method: acceptance.method as i32,
            attesting_partner: acceptance
                .attesting_partner
                .map(|p| format!("partners/{p}"))
                .unwrap_or_default(),
            signer: Some(pb::Signer {
                first_name: acceptance.signer.first_name.clone(),
                last_name: acceptance.signer.last_name.clone(),
                email: acceptance.signer.email.clone(),
                phone_number: acceptance.signer.phone_number.clone(),
            }),
            accept_time: Some(suite_time::timestamp(acceptance.accept_time)),
            create_time: Some(suite_time::timestamp(acceptance.create_time)),
        }
    }
}

const MAX_NAME: usize = 100;

/// Validates the signer; a phone number is required for a partner attestation.
pub fn parse_signer(
    signer: Option<&pb::Signer>,
    method: AcceptanceMethod,
    violations: &mut FieldViolations,
) -> Option<Signer> {
    let Some(signer) = signer else {
        violations.add("acceptance.signer", "required");
        return None;
    };
    let first_name = violations.check(
        "acceptance.signer.first_name",
        fields::text(&signer.first_name, MAX_NAME),
    );
    let last_name = violations.check(
        "acceptance.signer.last_name",
        fields::text(&signer.last_name, MAX_NAME),
    );
    let email = violations.check("acceptance.signer.email", fields::email(&signer.email));
    let phone_number = violations.check(
        "acceptance.signer.phone_number",
        parse_phone(&signer.phone_number, method),
    );
    Some(Signer {
        first_name: first_name?,
        last_name: last_name?,
        email: email?,
        phone_number: phone_number?,
    })
}

fn parse_phone(value: &str, method: AcceptanceMethod) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return match method {
            AcceptanceMethod::PartnerAttestation => {
                Err("required for a partner attestation".into())
            }
            _ => Ok(String::new()),
        };
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(6..=20).contains(&digits) {
        return Err("must be a phone number such as +1 425 555 0100".into());
    }
    Ok(value.to_owned())
}

/// Whether the customer's MCA is valid with `partner`, from the customer's acceptances
/// (newest first): the customer's own acceptance counts for every partner; an attestation
/// only for the partner that made it.
pub fn validity(
    acceptances: &[CustomerAcceptance],
    partner: Uuid,
) -> (RequiredAction, Option<&CustomerAcceptance>) {
    let own = acceptances
        .iter()
        .find(|a| a.method == AcceptanceMethod::Customer);
    let attested_by_partner = acceptances
        .iter()
        .find(|a| a.attesting_partner == Some(partner));
    match own.or(attested_by_partner) {
        Some(basis) => (RequiredAction::None, Some(basis)),
        None if acceptances.is_empty() => (RequiredAction::AcceptMca, None),
        None => (RequiredAction::ReattestWithProvider, None),
    }
}

/// The explanation shown with a validity answer.
pub fn explain(action: RequiredAction) -> &'static str {
    match action {
        RequiredAction::None => {
            "the customer's Microsoft Customer Agreement is valid with this partner"
        }
        RequiredAction::AcceptMca => {
            "the customer has not accepted the Microsoft Customer Agreement: work with the provider to have the customer accept it"
        }
        RequiredAction::ReattestWithProvider => {
            "the customer accepted only through another partner's attestation, which is not retained: update the customer's acceptance with the provider"
        }
        RequiredAction::Unspecified => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acceptance(method: AcceptanceMethod, attesting_partner: Option<Uuid>) -> CustomerAcceptance {
        CustomerAcceptance {
            id: Uuid::now_v7(),
            customer_tenant_id: Uuid::nil(),
            agreement_version: "agreementVersions/mca-2026".into(),
            method,
            attesting_partner,
            signer: Signer {
                first_name: "A".into(),
                last_name: "B".into(),
                email: "a@b.example".into(),
                phone_number: String::new(),
            },
            accept_time: 0,
            create_time: 0,
            recorded_by: "x".into(),
        }
    }

    #[test]
    fn the_table_of_the_article() {
        let (provider, other) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(validity(&[], provider).0, RequiredAction::AcceptMca);
        let attested_elsewhere = [acceptance(
            AcceptanceMethod::PartnerAttestation,
            Some(other),
        )];
        assert_eq!(
            validity(&attested_elsewhere, provider).0,
            RequiredAction::ReattestWithProvider
        );
        assert_eq!(validity(&attested_elsewhere, other).0, RequiredAction::None);
        let own = [acceptance(AcceptanceMethod::Customer, None)];
        assert_eq!(validity(&own, provider).0, RequiredAction::None);
    }
}
