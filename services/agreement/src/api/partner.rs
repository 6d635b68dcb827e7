use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, PreconditionViolation};
use suite_proto::agreement::v1 as pb;
use uuid::Uuid;

use super::AgreementApi;
use crate::domain::partner::{
    PartnerAcceptance, activation_for, parse_acceptance_name, parse_partner_name, partner_name,
    program_slug,
};
use crate::domain::versions::{parse_agreement_type, version_name};
use crate::error::Error;

impl AgreementApi {
    pub(super) async fn accept_partner_agreement(
        &self,
        caller: &Caller,
        request: pb::AcceptPartnerAgreementRequest,
    ) -> Result<pb::PartnerAgreementAcceptance, Error> {
        caller.require_role(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "AcceptPartnerAgreement",
                &request.request_id,
                &request,
            ),
        );
        let tenant_id = violations.check("parent", parse_partner_name(&request.parent));
        let program = violations.check(
            "agreement_type",
            parse_agreement_type(request.agreement_type).and_then(|agreement_type| {
                program_slug(agreement_type)
                    .map(|slug| (agreement_type, slug))
                    .ok_or_else(|| "must be a partner agreement type".to_owned())
            }),
        );
        let (Some(key), Some(tenant_id), Some((agreement_type, slug))) = (key, tenant_id, program)
        else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        // A retry of an accepted request answers as the first time, whatever the enrollment is now.
        if let Some(previous) = key
            .replayed::<pb::PartnerAgreementAcceptance>(self.store.database())
            .await?
        {
            return Ok(previous);
        }

        let now = suite_time::now_micros();
        let version = self
            .store
            .current_version(agreement_type, now)
            .await?
            .ok_or_else(|| Error::Precondition {
                reason: "NO_CURRENT_VERSION",
                message: format!(
                    "no {} version is in effect yet",
                    agreement_type.as_str_name()
                ),
                violations: Vec::new(),
            })?;
        let enrollment = format!("partners/{tenant_id}/enrollments/{slug}");
        let standing = self.peers.enrollment_standing(caller, &enrollment).await?;
        let activation_state = activation_for(standing).ok_or_else(|| Error::Precondition {
            reason: "ENROLLMENT_NOT_APPROVED",
            message: format!(
                "{enrollment} must be APPROVED before its Microsoft Partner Agreement is accepted"
            ),
            violations: vec![PreconditionViolation {
                kind: "ENROLLMENT_NOT_APPROVED".into(),
                subject: enrollment.clone(),
                description: "enroll in the program and wait for approval".into(),
            }],
        })?;
        let acceptance = PartnerAcceptance {
            id: Uuid::now_v7(),
            partner_tenant_id: tenant_id,
            agreement_version: version_name(&version.template_id),
            enrollment,
            accepted_by: caller.actor().subject.clone(),
            accept_time: now,
            activation_state,
            activation_error: None,
            update_time: now,
        };
        let accepted = self
            .store
            .accept_partner_agreement(caller, &key, acceptance)
            .await?;
        self.relay.wake();
        Ok(accepted)
    }

    pub(super) async fn get_partner_acceptance(
        &self,
        caller: &Caller,
        request: pb::GetPartnerAgreementAcceptanceRequest,
    ) -> Result<pb::PartnerAgreementAcceptance, Error> {
        let (tenant_id, id) = parse_acceptance_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::AcceptanceNotFound(request.name.clone());
        if !caller.can_access_tenant(tenant_id) {
            return Err(not_found());
        }
        let acceptance = self
            .store
            .get_partner_acceptance(tenant_id, id)
            .await?
            .ok_or_else(not_found)?;
        Ok(pb::PartnerAgreementAcceptance::from(&acceptance))
    }

    pub(super) async fn list_partner_acceptances(
        &self,
        caller: &Caller,
        request: pb::ListPartnerAgreementAcceptancesRequest,
    ) -> Result<pb::ListPartnerAgreementAcceptancesResponse, Error> {
        let tenant_id = parse_partner_name(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &request.parent)?;
        let page = self
            .store
            .list_partner_acceptances(tenant_id, &page_request)
            .await?;
        Ok(pb::ListPartnerAgreementAcceptancesResponse {
            acceptances: page
                .items
                .iter()
                .map(pb::PartnerAgreementAcceptance::from)
                .collect(),
            next_page_token: page.next_page_token,
        })
    }
}
