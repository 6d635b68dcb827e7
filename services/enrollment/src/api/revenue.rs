use suite_auth::{Caller, PrincipalKind};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1 as pb;

use super::EnrollmentApi;
use crate::domain::partner::partner_name;
use crate::domain::revenue::{eligibility, parse_revenue, trailing_window};
use crate::error::Error;

impl EnrollmentApi {
    pub(super) async fn record_revenue(
        &self,
        caller: &Caller,
        request: pb::RecordMonthlyRevenueRequest,
    ) -> Result<pb::MonthlyRevenue, Error> {
        let now = self.now();
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "RecordMonthlyRevenue",
                &request.request_id,
                &request,
            ),
        );
        let tenant_id = violations.check(
            "parent",
            crate::domain::partner::parse_partner_name(&request.parent),
        );
        let revenue = match parse_revenue(request.revenue.as_ref(), now) {
            Ok(revenue) => Some(revenue),
            Err(problems) => {
                problems
                    .into_iter()
                    .for_each(|(field, reason)| violations.add(field, reason));
                None
            }
        };
        let (Some(key), Some(tenant_id), Some((month, amount_minor))) = (key, tenant_id, revenue)
        else {
            return Err(Error::Invalid(violations));
        };
        let app_of_tenant =
            caller.actor().kind == PrincipalKind::App && caller.tenant_id() == tenant_id;
        if !caller.is_operator() && !app_of_tenant {
            if !caller.can_access_tenant(tenant_id) {
                return Err(Error::PartnerNotFound(partner_name(tenant_id)));
            }
            return Err(Error::Forbidden {
                reason: "OPERATOR_OR_APP_REQUIRED",
                message: "revenue is recorded by the platform operator or by an app of the partner's tenant".into(),
            });
        }
        self.store
            .record_revenue(caller, &key, tenant_id, month, amount_minor, now)
            .await
    }

    pub(super) async fn eligibility(
        &self,
        caller: &Caller,
        request: pb::GetDirectBillEligibilityRequest,
    ) -> Result<pb::DirectBillEligibility, Error> {
        let partner = self
            .readable_partner(caller, "partner", &request.partner)
            .await?;
        let now = self.now();
        let (first, last) = trailing_window(now);
        let months = self.store.counted_revenue(&partner, first, last).await?;
        Ok(eligibility(&months, now).to_proto(partner_name(partner.tenant_id)))
    }
}
