//! The reseller relationship extension: a transitioning partner extends its relationship
//! with an existing direct-bill customer to one of its providers, with the customer's
//! recorded consent; the provider gets a copy of the billing profile and no admin rights.

use suite_errors::{FieldViolations, fields};
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::customer::{Customer, customer_name};
use crate::error::Error;

/// The customer's consent, as the partner records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Who at the customer consented.
    pub consented_by: String,
    /// When, microseconds since the epoch.
    pub consent_time: i64,
    /// The notice the customer agreed to.
    pub notice_text: String,
}

impl Consent {
    /// Validates `consent` (sent in `consent`) at `now`, recording every problem.
    pub fn parse(
        consent: Option<&pb::CustomerConsent>,
        now: i64,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let Some(consent) = consent else {
            violations.add(
                "consent",
                "required: notify the customer and record its consent first",
            );
            return None;
        };
        let consented_by = violations.check(
            "consent.consented_by",
            fields::text(&consent.consented_by, 200),
        );
        let consent_time = violations.check(
            "consent.consent_time",
            fields::timestamp_micros(consent.consent_time.as_ref()).and_then(|time| {
                if time > now {
                    Err("must not be in the future".into())
                } else {
                    Ok(time)
                }
            }),
        );
        let notice_text = violations.check(
            "consent.notice_text",
            fields::text(&consent.notice_text, 10_000),
        );
        Some(Self {
            consented_by: consented_by?,
            consent_time: consent_time?,
            notice_text: notice_text?,
        })
    }
}

/// The provider's view an extension of `partner_view` creates at `now`: a copy of the
/// billing profile, no admin permissions. Only a direct-bill customer of the partner is
/// extended; a customer it serves as indirect reseller is refused.
pub fn provider_view(
    partner_view: &Customer,
    provider_tenant_id: Uuid,
    now: i64,
) -> Result<Customer, Error> {
    let direct_bill = partner_view.partner_role == pb::PartnerRole::DirectBillPartner
        && partner_view.acquisition == pb::Acquisition::DirectBill;
    if !direct_bill {
        return Err(Error::Precondition {
            reason: "DIRECT_BILL_CUSTOMER_REQUIRED",
            subject: customer_name(partner_view.partner_tenant_id, partner_view.customer_tenant_id),
            message: "only an existing direct-bill customer's relationship is extended; invite this customer to the provider instead".into(),
        });
    }
    Ok(Customer {
        id: Uuid::now_v7(),
        partner_tenant_id: provider_tenant_id,
        partner_role: pb::PartnerRole::IndirectProvider,
        acquisition: pb::Acquisition::RelationshipExtension,
        admin_permissions: false,
        create_time: now,
        update_time: now,
        version: 1,
        ..partner_view.clone()
    })
}

/// The partner's own view after the extension at `now`: it is now the customer's indirect
/// reseller (the provider's, in the transfer service's terms), still by direct bill, with its
/// admin permissions unchanged.
pub fn extended_partner_view(partner_view: &Customer, now: i64) -> Customer {
    Customer {
        partner_role: pb::PartnerRole::IndirectReseller,
        update_time: now,
        version: partner_view.version + 1,
        ..partner_view.clone()
    }
}
