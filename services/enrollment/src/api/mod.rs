//! gRPC handlers: destructure, validate, authorize, call the store, map the error, convert.
//! One module per part of the service; this one wires them to the generated trait.

mod directory;
mod enrollments;
mod incentives;
mod partners;
mod revenue;

use std::future::Future;
use std::time::Duration;

use suite_auth::{Caller, PrincipalKind, with_caller};
use suite_db::Clock;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::enrollment_service_server::EnrollmentService;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::domain::partner::{Partner, parse_partner_name, partner_name};
use crate::domain::program;
use crate::error::Error;
use crate::status::to_status;
use crate::store::EnrollmentStore;

/// The `enrollment.v1.EnrollmentService` implementation.
pub struct EnrollmentApi {
    store: EnrollmentStore,
    clock: Clock,
    override_grace: Duration,
}

impl EnrollmentApi {
    /// Handlers over `store`, reading time from `clock`; direct bill overrides indirect
    /// reseller access `override_grace` after it becomes active on the same tenant.
    pub fn new(store: EnrollmentStore, clock: Clock, override_grace: Duration) -> Self {
        Self {
            store,
            clock,
            override_grace,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now_micros()
    }

    /// Runs `handler` for an authenticated request, after [`Self::admit`].
    async fn handle<Req, Resp, Fut>(
        &self,
        request: Request<Req>,
        handler: impl FnOnce(Caller, Req) -> Fut,
    ) -> Result<Response<Resp>, Status>
    where
        Req: suite_proto::Resource,
        Fut: Future<Output = Result<Resp, Error>>,
    {
        with_caller(request, to_status, |caller, message| async move {
            self.admit(&caller).await?;
            handler(caller, message).await
        })
        .await
    }

    /// Partner Center API/SDK access belongs to direct bill: an app (API caller) is refused
    /// unless its tenant has it.
    async fn admit(&self, caller: &Caller) -> Result<(), Error> {
        if caller.actor().kind != PrincipalKind::App {
            return Ok(());
        }
        let enrollments = self.store.enrollments_of(caller.tenant_id()).await?;
        if program::capabilities(&enrollments, self.now())
            .contains(&program::Capability::ApiSdkAccess)
        {
            return Ok(());
        }
        Err(Error::Api(suite_client::api_access_not_allowed()))
    }

    /// The partner named by `name` (sent in `field`) if `caller` may read it; NOT_FOUND
    /// otherwise, whether it exists or not.
    async fn readable_partner(
        &self,
        caller: &Caller,
        field: &str,
        name: &str,
    ) -> Result<Partner, Error> {
        self.checkable_partner(caller, field, name, &[]).await
    }

    /// As [`Self::readable_partner`], and for the `services` acting for themselves: the
    /// transfer service checks a transfer's parties before the request and again when it
    /// runs, long after the requester's token expired, and e-mails the source of a
    /// partner-to-partner transfer; the relationship service checks that the provider a
    /// reseller names is still an official one.
    async fn checkable_partner(
        &self,
        caller: &Caller,
        field: &str,
        name: &str,
        services: &[&str],
    ) -> Result<Partner, Error> {
        let tenant_id = checkable_tenant(caller, field, name, services)?;
        self.store
            .get_partner(tenant_id)
            .await?
            .ok_or_else(|| Error::PartnerNotFound(partner_name(tenant_id)))
    }
}

/// The tenant of the partner named by `name` (sent in `field`) if `caller` may check it, as
/// [`EnrollmentApi::checkable_partner`] decides, without reading it: NOT_FOUND otherwise.
fn checkable_tenant(
    caller: &Caller,
    field: &str,
    name: &str,
    services: &[&str],
) -> Result<Uuid, Error> {
    let tenant_id = partner_in(field, name)?;
    checked_by(caller, tenant_id, services)
}

/// `tenant_id` if `caller` may check it: its own tenant, the operator, or one of `services`
/// acting for itself; NOT_FOUND otherwise.
fn checked_by(caller: &Caller, tenant_id: Uuid, services: &[&str]) -> Result<Uuid, Error> {
    let may_check = services.iter().any(|service| caller.is_service(service))
        || caller.can_access_tenant(tenant_id);
    match may_check {
        true => Ok(tenant_id),
        false => Err(Error::PartnerNotFound(partner_name(tenant_id))),
    }
}

/// The tenant in a `partners/{tenant}` name sent in `field`.
fn partner_in(field: &str, name: &str) -> Result<Uuid, Error> {
    parse_partner_name(name)
        .map_err(|reason| Error::Invalid(FieldViolations::single(field, reason)))
}

#[tonic::async_trait]
impl EnrollmentService for EnrollmentApi {
    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        self.handle(request, |caller, message| async move {
            self.create_partner(&caller, message).await
        })
        .await
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        self.handle(request, |caller, message| async move {
            self.get_partner(&caller, message).await
        })
        .await
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        self.handle(request, |caller, message| async move {
            self.list_partners(&caller, message).await
        })
        .await
    }

    async fn update_partner(
        &self,
        request: Request<pb::UpdatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        self.handle(request, |caller, message| async move {
            self.update_partner(&caller, message).await
        })
        .await
    }

    async fn check_partner_profile(
        &self,
        request: Request<pb::CheckPartnerProfileRequest>,
    ) -> Result<Response<pb::PartnerProfileCheck>, Status> {
        self.handle(request, |caller, message| async move {
            self.check_profile(&caller, message).await
        })
        .await
    }

    async fn record_monthly_revenue(
        &self,
        request: Request<pb::RecordMonthlyRevenueRequest>,
    ) -> Result<Response<pb::MonthlyRevenue>, Status> {
        self.handle(request, |caller, message| async move {
            self.record_revenue(&caller, message).await
        })
        .await
    }

    async fn get_direct_bill_eligibility(
        &self,
        request: Request<pb::GetDirectBillEligibilityRequest>,
    ) -> Result<Response<pb::DirectBillEligibility>, Status> {
        self.handle(request, |caller, message| async move {
            self.eligibility(&caller, message).await
        })
        .await
    }

    async fn create_enrollment(
        &self,
        request: Request<pb::CreateEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.create_enrollment(&caller, message).await
        })
        .await
    }

    async fn get_enrollment(
        &self,
        request: Request<pb::GetEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.get_enrollment(&caller, message).await
        })
        .await
    }

    async fn get_program_information(
        &self,
        request: Request<pb::GetProgramInformationRequest>,
    ) -> Result<Response<pb::ProgramInformation>, Status> {
        self.handle(request, |caller, message| async move {
            self.program_information(&caller, message).await
        })
        .await
    }

    async fn approve_enrollment(
        &self,
        request: Request<pb::ApproveEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.approve_enrollment(&caller, message).await
        })
        .await
    }

    async fn reject_enrollment(
        &self,
        request: Request<pb::RejectEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.reject_enrollment(&caller, message).await
        })
        .await
    }

    async fn restrict_enrollment(
        &self,
        request: Request<pb::RestrictEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.restrict_enrollment(&caller, message).await
        })
        .await
    }

    async fn activate_enrollment(
        &self,
        request: Request<pb::ActivateEnrollmentRequest>,
    ) -> Result<Response<pb::Enrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.activate_enrollment(&caller, message).await
        })
        .await
    }

    async fn get_approval_policy(
        &self,
        request: Request<pb::GetApprovalPolicyRequest>,
    ) -> Result<Response<pb::ApprovalPolicy>, Status> {
        self.handle(request, |caller, _message| async move {
            self.approval_policy(&caller).await
        })
        .await
    }

    async fn update_approval_policy(
        &self,
        request: Request<pb::UpdateApprovalPolicyRequest>,
    ) -> Result<Response<pb::ApprovalPolicy>, Status> {
        self.handle(request, |caller, message| async move {
            self.update_approval_policy(&caller, message).await
        })
        .await
    }

    async fn get_capabilities(
        &self,
        request: Request<pb::GetCapabilitiesRequest>,
    ) -> Result<Response<pb::Capabilities>, Status> {
        self.handle(request, |caller, message| async move {
            self.capabilities(&caller, message).await
        })
        .await
    }

    async fn batch_get_capabilities(
        &self,
        request: Request<pb::BatchGetCapabilitiesRequest>,
    ) -> Result<Response<pb::BatchGetCapabilitiesResponse>, Status> {
        self.handle(request, |caller, message| async move {
            self.batch_capabilities(&caller, message).await
        })
        .await
    }

    async fn list_incentive_enrollments(
        &self,
        request: Request<pb::ListIncentiveEnrollmentsRequest>,
    ) -> Result<Response<pb::ListIncentiveEnrollmentsResponse>, Status> {
        self.handle(request, |caller, message| async move {
            self.list_incentives(&caller, message).await
        })
        .await
    }

    async fn create_incentive_enrollment(
        &self,
        request: Request<pb::CreateIncentiveEnrollmentRequest>,
    ) -> Result<Response<pb::IncentiveEnrollment>, Status> {
        self.handle(request, |caller, message| async move {
            self.create_incentive(&caller, message).await
        })
        .await
    }

    async fn create_indirect_provider(
        &self,
        request: Request<pb::CreateIndirectProviderRequest>,
    ) -> Result<Response<pb::IndirectProvider>, Status> {
        self.handle(request, |caller, message| async move {
            self.create_provider(&caller, message).await
        })
        .await
    }

    async fn update_indirect_provider(
        &self,
        request: Request<pb::UpdateIndirectProviderRequest>,
    ) -> Result<Response<pb::IndirectProvider>, Status> {
        self.handle(request, |caller, message| async move {
            self.update_provider(&caller, message).await
        })
        .await
    }

    async fn get_indirect_provider(
        &self,
        request: Request<pb::GetIndirectProviderRequest>,
    ) -> Result<Response<pb::IndirectProvider>, Status> {
        self.handle(request, |_caller, message| async move {
            self.get_provider(message).await
        })
        .await
    }

    async fn search_indirect_providers(
        &self,
        request: Request<pb::SearchIndirectProvidersRequest>,
    ) -> Result<Response<pb::SearchIndirectProvidersResponse>, Status> {
        self.handle(request, |_caller, message| async move {
            self.search_providers(message).await
        })
        .await
    }
}
