use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, fields};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::{EnrollmentApi, checkable_tenant, checked_by};
use crate::domain::partner::{parse_partner_name, partner_name};
use crate::domain::program::{
    self, Program, enrollment_name, parse_enrollment_name, parse_program,
};
use crate::error::Error;
use crate::store::{EnrollmentAction, Standing};

const MAX_REJECT_REASON: usize = 1_000;
/// Most partners one `BatchGetCapabilities` asks about.
const MAX_BATCH_PARTNERS: usize = 100;
/// The services that check any tenant's capabilities, acting for themselves.
const CHECKING_SERVICES: &[&str] = &["transfer", "relationship"];

/// What `tenant_id` may do now, from its `standing`.
fn capabilities_of(tenant_id: Uuid, standing: &Standing, now: i64) -> pb::Capabilities {
    let capabilities = program::capabilities(&standing.enrollments, now);
    pb::Capabilities {
        partner: partner_name(tenant_id),
        app_access: capabilities.contains(&program::Capability::ApiSdkAccess),
        capabilities: capabilities.into_iter().map(|c| c as i32).collect(),
        transitioning_partner: program::is_transitioning(&standing.enrollments, now),
        official_indirect_provider: standing.official_indirect_provider,
        integration_sandbox: standing.integration_sandbox,
    }
}

impl EnrollmentApi {
    pub(super) async fn create_enrollment(
        &self,
        caller: &Caller,
        request: pb::CreateEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_role(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CreateEnrollment", &request.request_id, &request),
        );
        let tenant_id = violations.check(
            "parent",
            crate::domain::partner::parse_partner_name(&request.parent),
        );
        let program = violations.check("program", parse_program(request.program));
        let (Some(key), Some(tenant_id), Some(program)) = (key, tenant_id, program) else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        self.store
            .create_enrollment(caller, &key, tenant_id, program, self.now())
            .await
    }

    pub(super) async fn get_enrollment(
        &self,
        caller: &Caller,
        request: pb::GetEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        let (tenant_id, program) = enrollment_in(&request.name)?;
        let not_found = || Error::EnrollmentNotFound(enrollment_name(tenant_id, program));
        if !caller.can_access_tenant(tenant_id) {
            return Err(not_found());
        }
        let enrollment = self
            .store
            .get_enrollment(tenant_id, program)
            .await?
            .ok_or_else(not_found)?;
        Ok(enrollment.to_proto(self.now()))
    }

    pub(super) async fn program_information(
        &self,
        caller: &Caller,
        request: pb::GetProgramInformationRequest,
    ) -> Result<pb::ProgramInformation, Error> {
        let tenant_id = self
            .readable_partner(caller, "partner", &request.partner)
            .await?
            .tenant_id;
        let now = self.now();
        let enrollments = self.store.enrollments_of(tenant_id).await?;
        Ok(pb::ProgramInformation {
            partner: partner_name(tenant_id),
            enrollments: enrollments.iter().map(|e| e.to_proto(now)).collect(),
            transitioning_partner: program::is_transitioning(&enrollments, now),
            warnings: program::warnings(&enrollments, now),
        })
    }

    pub(super) async fn capabilities(
        &self,
        caller: &Caller,
        request: pb::GetCapabilitiesRequest,
    ) -> Result<pb::Capabilities, Error> {
        let tenant_id = checkable_tenant(caller, "partner", &request.partner, CHECKING_SERVICES)?;
        let standing = self
            .store
            .standing(tenant_id)
            .await?
            .ok_or_else(|| Error::PartnerNotFound(partner_name(tenant_id)))?;
        Ok(capabilities_of(tenant_id, &standing, self.now()))
    }

    pub(super) async fn batch_capabilities(
        &self,
        caller: &Caller,
        request: pb::BatchGetCapabilitiesRequest,
    ) -> Result<pb::BatchGetCapabilitiesResponse, Error> {
        let mut violations = FieldViolations::new();
        let Some(tenant_ids) = violations.check_each(
            "partners",
            &request.partners,
            MAX_BATCH_PARTNERS,
            parse_partner_name,
        ) else {
            return Err(Error::Invalid(violations));
        };
        for tenant_id in &tenant_ids {
            checked_by(caller, *tenant_id, CHECKING_SERVICES)?;
        }
        let standings = self.store.standings(&tenant_ids).await?;
        let now = self.now();
        Ok(pb::BatchGetCapabilitiesResponse {
            capabilities: tenant_ids
                .iter()
                .filter_map(|tenant_id| {
                    let standing = standings.get(tenant_id)?;
                    Some(capabilities_of(*tenant_id, standing, now))
                })
                .collect(),
        })
    }

    pub(super) async fn approve_enrollment(
        &self,
        caller: &Caller,
        request: pb::ApproveEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        let action = EnrollmentAction::Approve;
        self.operator_action(
            caller,
            "ApproveEnrollment",
            &request.request_id,
            &request.name,
            &request,
            action,
        )
        .await
    }

    pub(super) async fn reject_enrollment(
        &self,
        caller: &Caller,
        request: pb::RejectEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let target = action_target(
            caller,
            "RejectEnrollment",
            &request.request_id,
            &request.name,
            &request,
            &mut violations,
        );
        let reason = violations.check("reason", fields::text(&request.reason, MAX_REJECT_REASON));
        let (Some(target), Some(reason)) = (target, reason) else {
            return Err(Error::Invalid(violations));
        };
        self.change(caller, target, EnrollmentAction::Reject(reason))
            .await
    }

    pub(super) async fn restrict_enrollment(
        &self,
        caller: &Caller,
        request: pb::RestrictEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        let action = EnrollmentAction::Restrict;
        self.operator_action(
            caller,
            "RestrictEnrollment",
            &request.request_id,
            &request.name,
            &request,
            action,
        )
        .await
    }

    /// An operator's action that needs nothing but the enrollment's name.
    async fn operator_action(
        &self,
        caller: &Caller,
        method: &'static str,
        request_id: &str,
        name: &str,
        request: &impl prost::Message,
        action: EnrollmentAction,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let Some(target) =
            action_target(caller, method, request_id, name, request, &mut violations)
        else {
            return Err(Error::Invalid(violations));
        };
        self.change(caller, target, action).await
    }

    pub(super) async fn activate_enrollment(
        &self,
        caller: &Caller,
        request: pb::ActivateEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_service("agreement")?;
        let mut violations = FieldViolations::new();
        let target = action_target(
            caller,
            "ActivateEnrollment",
            &request.request_id,
            &request.name,
            &request,
            &mut violations,
        );
        let agreement_version = violations.check(
            "agreement_version",
            parse_agreement_version(&request.agreement_version),
        );
        let accept_time = match &request.accept_time {
            None => Some(self.now()),
            Some(time) => violations.check("accept_time", fields::timestamp_micros(Some(time))),
        };
        let (Some(target), Some(agreement_version), Some(accept_time)) =
            (target, agreement_version, accept_time)
        else {
            return Err(Error::Invalid(violations));
        };
        let grace_micros = i64::try_from(self.override_grace.as_micros()).unwrap_or(i64::MAX);
        self.change(
            caller,
            target,
            EnrollmentAction::Activate {
                agreement_version,
                accept_time,
                grace_micros,
            },
        )
        .await
    }

    async fn change(
        &self,
        caller: &Caller,
        target: ActionTarget,
        action: EnrollmentAction,
    ) -> Result<pb::Enrollment, Error> {
        let (key, tenant_id, program) = target;
        self.store
            .change_enrollment(caller, &key, tenant_id, program, action, self.now())
            .await
    }

    pub(super) async fn approval_policy(
        &self,
        caller: &Caller,
    ) -> Result<pb::ApprovalPolicy, Error> {
        caller.require_operator()?;
        Ok(pb::ApprovalPolicy::from(
            &self.store.approval_policy().await?,
        ))
    }

    pub(super) async fn update_approval_policy(
        &self,
        caller: &Caller,
        request: pb::UpdateApprovalPolicyRequest,
    ) -> Result<pb::ApprovalPolicy, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "UpdateApprovalPolicy",
                &request.request_id,
                &request,
            ),
        );
        let Some(policy) = request.policy else {
            violations.add("policy", "required: the complete new policy");
            return Err(Error::Invalid(violations));
        };
        let mut programs = Vec::new();
        for (index, value) in policy.auto_approved_programs.iter().enumerate() {
            if let Some(program) = violations.check(
                &format!("policy.auto_approved_programs[{index}]"),
                parse_program(*value),
            ) {
                programs.push(program);
            }
        }
        programs.sort_by_key(|p| *p as i32);
        programs.dedup();
        let (Some(key), true) = (key, violations.is_empty()) else {
            return Err(Error::Invalid(violations));
        };
        self.store
            .update_approval_policy(caller, &key, programs, &policy.etag)
            .await
    }
}

/// The idempotency key and enrollment an action request names.
type ActionTarget = (IdempotencyKey, Uuid, Program);

/// The target of an action request, with its problems recorded in `violations`.
fn action_target(
    caller: &Caller,
    method: &'static str,
    request_id: &str,
    name: &str,
    request: &impl prost::Message,
    violations: &mut FieldViolations,
) -> Option<ActionTarget> {
    let key = violations.check(
        "request_id",
        IdempotencyKey::new(caller, method, request_id, request),
    );
    let (tenant_id, program) = violations.check("name", parse_enrollment_name(name))?;
    Some((key?, tenant_id, program))
}

fn enrollment_in(name: &str) -> Result<(Uuid, Program), Error> {
    parse_enrollment_name(name)
        .map_err(|reason| Error::Invalid(FieldViolations::single("name", reason)))
}

/// `agreementVersions/{template_id}`.
fn parse_agreement_version(value: &str) -> Result<String, String> {
    fields::resource_name(value, &["agreementVersions"])?;
    Ok(value.to_owned())
}
