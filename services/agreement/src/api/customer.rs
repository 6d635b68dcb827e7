use suite_auth::{Caller, PrincipalKind, Role};
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, fields};
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

use super::AgreementApi;
use crate::domain::customer::{
    self, AcceptanceMethod, CustomerAcceptance, customer_name, parse_customer_name, parse_signer,
};
use crate::domain::partner::{parse_partner_name, partner_name};
use crate::domain::versions::{parse_version_name, version_name};
use crate::error::Error;

impl AgreementApi {
    pub(super) async fn create_customer_acceptance(
        &self,
        caller: &Caller,
        request: pb::CreateCustomerAgreementAcceptanceRequest,
    ) -> Result<pb::CustomerAgreementAcceptance, Error> {
        let customer_tenant = parse_customer_name(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        // The customer's own admin accepts; a partner's admin agent attests.
        let method = if caller.tenant_id() == customer_tenant {
            caller.require_role(Role::GlobalAdmin)?;
            AcceptanceMethod::Customer
        } else {
            if caller.is_operator() || caller.actor().kind != PrincipalKind::User {
                return Err(Error::Forbidden {
                    reason: "CUSTOMER_OR_PARTNER_REQUIRED",
                    message: "the customer's admin accepts, or a partner's admin agent attests"
                        .into(),
                });
            }
            caller.require_role(Role::AdminAgent)?;
            AcceptanceMethod::PartnerAttestation
        };

        let now = suite_time::now_micros();
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateCustomerAgreementAcceptance",
                &request.request_id,
                &request,
            ),
        );
        let acceptance = request.acceptance.unwrap_or_default();
        let signer = parse_signer(acceptance.signer.as_ref(), method, &mut violations);
        let accept_time = match &acceptance.accept_time {
            None => Some(now),
            Some(time) => violations.check(
                "acceptance.accept_time",
                fields::timestamp_micros(Some(time)).and_then(|t| {
                    if t > now {
                        Err("must not be in the future".into())
                    } else {
                        Ok(t)
                    }
                }),
            ),
        };
        let requested_version = if acceptance.agreement_version.is_empty() {
            Some(None)
        } else {
            violations
                .check(
                    "acceptance.agreement_version",
                    parse_version_name(&acceptance.agreement_version),
                )
                .map(Some)
        };
        let (Some(key), Some(signer), Some(accept_time), Some(requested_version)) =
            (key, signer, accept_time, requested_version)
        else {
            return Err(Error::Invalid(violations));
        };
        // A retry is answered from the record of the first attempt before any peer is asked.
        if let Some(previous) = key
            .replayed::<pb::CustomerAgreementAcceptance>(self.store.database())
            .await?
        {
            return Ok(previous);
        }
        // A partner attests only for a customer it has: another's is not found.
        if method == AcceptanceMethod::PartnerAttestation
            && !self
                .peers
                .is_partner_of_record(caller, customer_tenant, caller.tenant_id())
                .await?
        {
            return Err(Error::CustomerNotFound(customer_name(customer_tenant)));
        }

        let version = match requested_version {
            Some(template_id) => self.store.get_version(&template_id).await?,
            None => {
                self.store
                    .current_version(pb::AgreementType::Customer, now)
                    .await?
            }
        };
        let version = version
            .filter(|v| v.agreement_type == pb::AgreementType::Customer)
            .ok_or_else(|| Error::Precondition {
                reason: "NO_CUSTOMER_AGREEMENT_VERSION",
                message:
                    "name a published Microsoft Customer Agreement version, or publish one first"
                        .into(),
                violations: Vec::new(),
            })?;
        let recorded = CustomerAcceptance {
            id: Uuid::now_v7(),
            customer_tenant_id: customer_tenant,
            agreement_version: version_name(&version.template_id),
            method,
            attesting_partner: (method == AcceptanceMethod::PartnerAttestation)
                .then(|| caller.tenant_id()),
            signer,
            accept_time,
            create_time: now,
            recorded_by: caller.actor().subject.clone(),
        };
        self.store
            .record_customer_acceptance(caller, &key, recorded)
            .await
    }

    pub(super) async fn list_customer_acceptances(
        &self,
        caller: &Caller,
        request: pb::ListCustomerAgreementAcceptancesRequest,
    ) -> Result<pb::ListCustomerAgreementAcceptancesResponse, Error> {
        let customer_tenant = parse_customer_name(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        let sees_everything = caller.can_access_tenant(customer_tenant);
        let partner_view = (!sees_everything).then(|| caller.tenant_id());
        let scope = format!(
            "{}|{}",
            request.parent,
            partner_view.map(|p| p.to_string()).unwrap_or_default()
        );
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &scope)?;
        let page = self
            .store
            .list_customer_acceptances(customer_tenant, partner_view, &page_request)
            .await?;
        Ok(pb::ListCustomerAgreementAcceptancesResponse {
            acceptances: page
                .items
                .iter()
                .map(pb::CustomerAgreementAcceptance::from)
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn check_customer_agreement(
        &self,
        caller: &Caller,
        request: pb::CheckCustomerAgreementRequest,
    ) -> Result<pb::CustomerAgreementValidity, Error> {
        let mut violations = FieldViolations::new();
        let customer_tenant = violations.check("customer", parse_customer_name(&request.customer));
        let partner = violations.check("partner", parse_partner_name(&request.partner));
        let (Some(customer_tenant), Some(partner)) = (customer_tenant, partner) else {
            return Err(Error::Invalid(violations));
        };
        // The customer's own admin and the operator may ask about any partner; a partner asks
        // about itself, and only for a customer it has. The transfer service checks the MCA
        // with the provider of a transfer, acting for itself, before and while it runs.
        let may_ask = caller.is_operator()
            || caller.is_service("transfer")
            || (caller.can_access_tenant(customer_tenant)
                && caller.require_role(Role::GlobalAdmin).is_ok())
            || (caller.tenant_id() == partner
                && matches!(
                    caller.actor().kind,
                    PrincipalKind::User | PrincipalKind::App
                )
                && self
                    .peers
                    .is_partner_of_record(caller, customer_tenant, partner)
                    .await?);
        if !may_ask {
            return Err(Error::CustomerNotFound(customer_name(customer_tenant)));
        }
        let acceptances = self.store.customer_acceptances(customer_tenant).await?;
        let (action, basis) = customer::validity(&acceptances, partner);
        Ok(pb::CustomerAgreementValidity {
            customer: customer_name(customer_tenant),
            partner: partner_name(partner),
            valid: action == customer::RequiredAction::None,
            required_action: action as i32,
            basis: basis.map(CustomerAcceptance::name).unwrap_or_default(),
            explanation: customer::explain(action).to_owned(),
        })
    }
}
