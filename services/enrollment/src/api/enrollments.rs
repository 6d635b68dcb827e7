use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, fields};
use suite_proto::enrollment::v1 as pb;
use uuid::Uuid;

use super::{EnrollmentApi, may_read, partner_in};
use crate::domain::partner::partner_name;
use crate::domain::program::{
    self, Program, enrollment_name, parse_enrollment_name, parse_program,
};
use crate::error::Error;
use crate::store::EnrollmentAction;

const MAX_REJECT_REASON: usize = 1_000;

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
        if !may_read(caller, tenant_id) {
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
        let tenant_id = self.readable_partner(caller, &request.partner).await?;
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
        let tenant_id = self.readable_partner(caller, &request.partner).await?;
        let now = self.now();
        let enrollments = self.store.enrollments_of(tenant_id).await?;
        let capabilities = program::capabilities(&enrollments, now);
        Ok(pb::Capabilities {
            partner: partner_name(tenant_id),
            app_access: capabilities.contains(&program::Capability::ApiSdkAccess),
            capabilities: capabilities.into_iter().map(|c| c as i32).collect(),
            transitioning_partner: program::is_transitioning(&enrollments, now),
        })
    }

    pub(super) async fn approve_enrollment(
        &self,
        caller: &Caller,
        request: pb::ApproveEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_operator()?;
        let (key, tenant_id, program) = self.action_target(
            caller,
            "ApproveEnrollment",
            &request.request_id,
            &request.name,
            &request,
        )?;
        self.store
            .change_enrollment(
                caller,
                &key,
                tenant_id,
                program,
                EnrollmentAction::Approve,
                self.now(),
            )
            .await
    }

    pub(super) async fn reject_enrollment(
        &self,
        caller: &Caller,
        request: pb::RejectEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_operator()?;
        let reason = fields::text(&request.reason, MAX_REJECT_REASON);
        let target = self.action_target(
            caller,
            "RejectEnrollment",
            &request.request_id,
            &request.name,
            &request,
        );
        let (target, reason) = match (target, reason) {
            (Ok(target), Ok(reason)) => (target, reason),
            (target, reason) => {
                let mut violations = match target {
                    Err(Error::Invalid(violations)) => violations,
                    Err(other) => return Err(other),
                    Ok(_) => FieldViolations::new(),
                };
                if let Err(description) = reason {
                    violations.add("reason", description);
                }
                return Err(Error::Invalid(violations));
            }
        };
        let (key, tenant_id, program) = target;
        self.store
            .change_enrollment(
                caller,
                &key,
                tenant_id,
                program,
                EnrollmentAction::Reject(reason),
                self.now(),
            )
            .await
    }

    pub(super) async fn restrict_enrollment(
        &self,
        caller: &Caller,
        request: pb::RestrictEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_operator()?;
        let (key, tenant_id, program) = self.action_target(
            caller,
            "RestrictEnrollment",
            &request.request_id,
            &request.name,
            &request,
        )?;
        self.store
            .change_enrollment(
                caller,
                &key,
                tenant_id,
                program,
                EnrollmentAction::Restrict,
                self.now(),
            )
            .await
    }

    pub(super) async fn activate_enrollment(
        &self,
        caller: &Caller,
        request: pb::ActivateEnrollmentRequest,
    ) -> Result<pb::Enrollment, Error> {
        caller.require_service("agreement")?;
        let mut violations = FieldViolations::new();
        let target = self.action_target(
            caller,
            "ActivateEnrollment",
            &request.request_id,
            &request.name,
            &request,
        );
        let version = violations.check(
            "agreement_version",
            parse_agreement_version(&request.agreement_version),
        );
        let accept_time = match &request.accept_time {
            None => Some(self.now()),
            Some(time) => violations.check("accept_time", fields::timestamp_micros(Some(time))),
        };
        let (key, tenant_id, program) = match target {
            Ok(target) if violations.is_empty() => target,
            Err(Error::Invalid(more)) => {
                more.iter()
                    .for_each(|v| violations.add(v.field.clone(), v.description.clone()));
                return Err(Error::Invalid(violations));
            }
            Err(other) => return Err(other),
            Ok(_) => return Err(Error::Invalid(violations)),
        };
        let (Some(agreement_version), Some(accept_time)) = (version, accept_time) else {
            return Err(Error::Invalid(violations));
        };
        let grace_micros = i64::try_from(self.override_grace.as_micros()).unwrap_or(i64::MAX);
        let action = EnrollmentAction::Activate {
            agreement_version,
            accept_time,
            grace_micros,
        };
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
        let policy = request.policy.unwrap_or_default();
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

    /// The partner named in `partner` if `caller` may read it and it exists.
    pub(super) async fn readable_partner(
        &self,
        caller: &Caller,
        partner: &str,
    ) -> Result<Uuid, Error> {
        let tenant_id = partner_in("partner", partner)?;
        if !may_read(caller, tenant_id) || self.store.get_partner(tenant_id).await?.is_none() {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        Ok(tenant_id)
    }

    /// The idempotency key and enrollment of an action request.
    fn action_target(
        &self,
        caller: &Caller,
        method: &'static str,
        request_id: &str,
        name: &str,
        request: &impl prost::Message,
    ) -> Result<(IdempotencyKey, Uuid, Program), Error> {
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, method, request_id, request),
        );
        let target = violations.check("name", parse_enrollment_name(name));
        match (key, target) {
            (Some(key), Some((tenant_id, program))) => Ok((key, tenant_id, program)),
            _ => Err(Error::Invalid(violations)),
        }
    }
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
