use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1 as pb;

use super::EnrollmentApi;
use crate::domain::partner::{NewPartner, PartnerUpdate, partner_name, profile_issues};
use crate::error::Error;

impl EnrollmentApi {
    pub(super) async fn create_partner(
        &self,
        caller: &Caller,
        request: pb::CreatePartnerRequest,
    ) -> Result<pb::Partner, Error> {
        caller.require_role_or_operator(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CreatePartner", &request.request_id, &request),
        );
        let partner = NewPartner::parse(request.partner.as_ref(), &mut violations);
        let (Some(key), Some(partner)) = (key, partner) else {
            return Err(Error::Invalid(violations));
        };
        let tenant_id = partner.tenant(caller)?;
        self.store
            .create_partner(caller, &key, tenant_id, partner, self.now())
            .await
    }

    pub(super) async fn get_partner(
        &self,
        caller: &Caller,
        request: pb::GetPartnerRequest,
    ) -> Result<pb::Partner, Error> {
        let partner = self
            .checkable_partner(caller, "name", &request.name, &["transfer"])
            .await?;
        Ok(pb::Partner::from(&partner))
    }

    pub(super) async fn list_partners(
        &self,
        caller: &Caller,
        request: pb::ListPartnersRequest,
    ) -> Result<pb::ListPartnersResponse, Error> {
        let only = (!caller.is_operator()).then(|| caller.tenant_id());
        let scope = only.map(|t| t.to_string()).unwrap_or_default();
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &scope)?;
        let page = self.store.list_partners(only, &page_request).await?;
        Ok(pb::ListPartnersResponse {
            partners: page.items.iter().map(pb::Partner::from).collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn update_partner(
        &self,
        caller: &Caller,
        request: pb::UpdatePartnerRequest,
    ) -> Result<pb::Partner, Error> {
        caller.require_role_or_operator(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "UpdatePartner", &request.request_id, &request),
        );
        let Some(partner) = request.partner.as_ref() else {
            violations.add("partner", "required");
            return Err(Error::Invalid(violations));
        };
        let tenant_id = violations.check(
            "partner.name",
            crate::domain::partner::parse_partner_name(&partner.name),
        );
        let mask = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.clone())
            .unwrap_or_default();
        let update = PartnerUpdate::parse(partner, &mask, &mut violations);
        let (Some(key), Some(tenant_id), Some(update), true) =
            (key, tenant_id, update, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(tenant_id) {
            return Err(Error::PartnerNotFound(partner_name(tenant_id)));
        }
        self.store
            .update_partner(caller, &key, tenant_id, &partner.etag, &update, self.now())
            .await
    }

    pub(super) async fn check_profile(
        &self,
        caller: &Caller,
        request: pb::CheckPartnerProfileRequest,
    ) -> Result<pb::PartnerProfileCheck, Error> {
        let partner = self.readable_partner(caller, "name", &request.name).await?;
        let issues = profile_issues(&partner, self.now());
        Ok(pb::PartnerProfileCheck {
            partner: partner_name(partner.tenant_id),
            current: issues.is_empty(),
            issues: issues.iter().map(pb::ProfileIssue::from).collect(),
        })
    }
}
