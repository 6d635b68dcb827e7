//! Partnerships between official indirect providers and indirect resellers.

use suite_auth::{Caller, Role};
use suite_client::TenantCapabilities;
use suite_db::IdempotencyKey;
use suite_errors::{ApiError, FieldViolations};
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;

use super::RelationshipApi;
use crate::domain::partner_name;
use crate::domain::partnerships::{
    self, Invitation, PartnershipName, PartnershipState, Side, Transition, parse_partnership_name,
    token_hash,
};
use crate::error::Error;
use crate::store::InvitationSettings;

impl RelationshipApi {
    pub(super) async fn invite_reseller(
        &self,
        caller: &Caller,
        request: pb::InviteIndirectResellerRequest,
    ) -> Result<pb::Partnership, Error> {
        caller.require_role(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "InviteIndirectReseller",
                &request.request_id,
                &request,
            ),
        );
        let invitation = Invitation::parse(&request, &mut violations);
        let (Some(key), Some(invitation)) = (key, invitation) else {
            return Err(Error::Invalid(violations));
        };
        let provider = invitation.provider_tenant_id;
        if !caller.can_access_tenant(provider) {
            return Err(Error::PartnerNotFound(partner_name(provider)));
        }
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        let official = |answer: &TenantCapabilities| answer.official_indirect_provider;
        if !official(&*self.capabilities.of(caller, provider, official).await?) {
            return Err(Error::Api(
                ApiError::failed_precondition(
                    "OFFICIAL_INDIRECT_PROVIDER_REQUIRED",
                    "only an official indirect provider, listed in the directory of indirect providers, invites resellers",
                )
                .with_precondition(
                    "OFFICIAL_INDIRECT_PROVIDER",
                    partner_name(provider),
                    "must be listed in the directory of indirect providers",
                ),
            ));
        }
        let settings = InvitationSettings {
            link_base: &self.options.invitation_link_base,
            lifetime_micros: self.options.invitation_lifetime_micros(),
            now: self.now(),
        };
        self.store
            .invite_reseller(caller, &key, &invitation, settings)
            .await
    }

    pub(super) async fn accept_invitation(
        &self,
        caller: &Caller,
        request: pb::AcceptPartnershipInvitationRequest,
    ) -> Result<pb::Partnership, Error> {
        caller.require_role(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "AcceptPartnershipInvitation",
                &request.request_id,
                &request,
            ),
        );
        let name = violations.check("name", parse_partnership_name(&request.name));
        let token = violations.check(
            "invitation_token",
            partnerships::parse_token(&request.invitation_token),
        );
        if let Some(name) = name
            && name.side != Side::Reseller
        {
            violations.add(
                "name",
                "must be partners/{reseller}/indirectProviders/{provider}, as in the link",
            );
        }
        let (Some(key), Some(name), Some(token), true) = (key, name, token, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        self.visible(caller, &name)?;
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        self.capabilities
            .require(
                caller,
                name.reseller_tenant_id,
                Capability::RequestProviderOrders,
                "accept a partnership as indirect reseller",
            )
            .await?;
        self.require_provider_still_official(name.provider_tenant_id)
            .await?;
        self.store
            .accept_invitation(caller, &key, name, &token_hash(&token), self.now())
            .await
    }

    pub(super) async fn get_partnership(
        &self,
        caller: &Caller,
        request: pb::GetPartnershipRequest,
    ) -> Result<pb::Partnership, Error> {
        let name = parse_partnership_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        self.visible(caller, &name)?;
        let partnership = self
            .store
            .get_partnership(name.provider_tenant_id, name.reseller_tenant_id)
            .await?
            .ok_or_else(|| Error::PartnershipNotFound(name.name()))?;
        Ok(partnership.to_proto(name.side))
    }

    pub(super) async fn check_partnership(
        &self,
        caller: &Caller,
        request: pb::CheckPartnershipRequest,
    ) -> Result<pb::PartnershipCheck, Error> {
        let name = parse_partnership_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        // The transfer service checks a transfer's source and provider for itself: before
        // the request is created and again when it runs, long after the requester's token
        // expired.
        let may_check = caller.can_access_tenant(name.provider_tenant_id)
            || caller.can_access_tenant(name.reseller_tenant_id)
            || caller.is_service("transfer");
        if !may_check {
            return Err(Error::PartnershipNotFound(name.name()));
        }
        let state = self
            .store
            .get_partnership(name.provider_tenant_id, name.reseller_tenant_id)
            .await?
            .map(|partnership| partnership.state);
        Ok(pb::PartnershipCheck {
            name: name.canonical(),
            exists: state.is_some(),
            state: state.unwrap_or(PartnershipState::Unspecified) as i32,
        })
    }

    pub(super) async fn list_partnerships(
        &self,
        caller: &Caller,
        side: Side,
        parent: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<pb::Partnership>, String), Error> {
        let tenant = crate::domain::parse_parent(parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !caller.can_access_tenant(tenant) {
            return Err(Error::PartnerNotFound(partner_name(tenant)));
        }
        let collection = match side {
            Side::Provider => "indirectResellers",
            Side::Reseller => "indirectProviders",
        };
        let page_request =
            self.store
                .pages()
                .request(page_size, page_token, &format!("{parent}/{collection}"))?;
        let page = self
            .store
            .list_partnerships(side, tenant, &page_request)
            .await?;
        let partnerships = page.items.iter().map(|p| p.to_proto(side)).collect();
        Ok((partnerships, page.next_page_token))
    }

    pub(super) async fn change_partnership(
        &self,
        caller: &Caller,
        transition: Transition,
        request_id: &str,
        name: &str,
        etag: &str,
        request: &impl prost::Message,
    ) -> Result<pb::Partnership, Error> {
        partnerships::require_partnership_admin(caller)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, transition.action(), request_id, request),
        );
        let name = violations.check("name", parse_partnership_name(name));
        let (Some(key), Some(name)) = (key, name) else {
            return Err(Error::Invalid(violations));
        };
        self.visible(caller, &name)?;
        let expected_version = match etag.trim() {
            "" => None,
            etag => Some(etag.parse::<i64>().map_err(|_| {
                FieldViolations::single("etag", "must be an etag read from this partnership")
            })?),
        };
        self.store
            .change_partnership(caller, &key, name, transition, expected_version, self.now())
            .await
    }

    /// A partnership is seen by its two sides, each under its own name (and by the
    /// operator); anyone else is told it does not exist.
    fn visible(&self, caller: &Caller, name: &PartnershipName) -> Result<(), Error> {
        if !caller.can_access_tenant(name.owner()) {
            return Err(Error::PartnershipNotFound(name.name()));
        }
        Ok(())
    }

    pub(super) fn now(&self) -> i64 {
        self.options.clock.now_micros()
    }
}
