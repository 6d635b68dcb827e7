use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1 as pb;

use super::{EnrollmentApi, partner_in};
use crate::domain::incentive::parse_incentive_program;
use crate::domain::partner::{parse_partner_name, partner_name};
use crate::error::Error;

impl EnrollmentApi {
    pub(super) async fn list_incentives(
        &self,
        caller: &Caller,
        request: pb::ListIncentiveEnrollmentsRequest,
    ) -> Result<pb::ListIncentiveEnrollmentsResponse, Error> {
        let tenant_id = partner_in("parent", &request.parent)?;
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &request.parent)?;
        let page = self.store.list_incentives(tenant_id, &page_request).await?;
        Ok(pb::ListIncentiveEnrollmentsResponse {
            incentive_enrollments: page
                .items
                .iter()
                .map(pb::IncentiveEnrollment::from)
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn create_incentive(
        &self,
        caller: &Caller,
        request: pb::CreateIncentiveEnrollmentRequest,
    ) -> Result<pb::IncentiveEnrollment, Error> {
        caller.require_role(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateIncentiveEnrollment",
                &request.request_id,
                &request,
            ),
        );
        let tenant_id = violations.check("parent", parse_partner_name(&request.parent));
        let program = violations.check("program", parse_incentive_program(request.program));
        let (Some(key), Some(tenant_id), Some(program)) = (key, tenant_id, program) else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        self.store
            .create_incentive_enrollment(caller, &key, tenant_id, program, self.now())
            .await
    }
}
