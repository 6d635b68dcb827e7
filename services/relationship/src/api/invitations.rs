//! Customer invitations: an indirect reseller invites a customer to it and its provider at
//! once; the customer's admin accepts.

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;

use super::RelationshipApi;
use crate::domain::invitations::{
    CustomerInvitation, InvitationEmail, customer_details, invitation_name, parse_invitation_name,
};
use crate::domain::{self, partnerships};
use crate::error::Error;

impl RelationshipApi {
    pub(super) async fn create_customer_invitation(
        &self,
        caller: &Caller,
        request: pb::CreateCustomerInvitationRequest,
    ) -> Result<pb::CustomerInvitation, Error> {
        caller.require_role(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateCustomerInvitation",
                &request.request_id,
                &request,
            ),
        );
        let reseller = violations.check("parent", domain::parse_parent(&request.parent));
        let provider = violations.check("provider", domain::parse_parent(&request.provider));
        let customer = match request.customer_tenant_id.trim() {
            "" => Some(None),
            tenant => violations
                .check("customer_tenant_id", suite_errors::fields::uuid(tenant))
                .map(Some),
        };
        if let (Some(reseller), Some(provider), Some(Some(customer))) =
            (reseller, provider, customer)
            && (customer == reseller || customer == provider)
        {
            violations.add(
                "customer_tenant_id",
                "must be the customer's tenant, not the reseller's or the provider's",
            );
        }
        let (Some(key), Some(reseller), Some(provider), Some(customer), true) =
            (key, reseller, provider, customer, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        domain::authorize_write(caller, reseller)?;
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        self.capabilities
            .require(
                caller,
                reseller,
                Capability::RequestProviderOrders,
                "invite customers to an indirect provider",
            )
            .await?;
        self.require_provider_still_official(provider).await?;
        if !self.store.active_partnership(provider, reseller).await? {
            return Err(Error::Precondition {
                reason: "PARTNERSHIP_NOT_ACTIVE",
                subject: format!("partners/{reseller}/indirectProviders/{provider}"),
                message:
                    "invite customers only to a provider you are in an ACTIVE partnership with"
                        .into(),
            });
        }
        let (invitation, token) = CustomerInvitation::new(
            reseller,
            provider,
            customer,
            self.now(),
            self.options.invitation_lifetime_micros(),
        );
        let link = invitation.link(&self.options.customer_invitation_link_base, &token);
        let response = invitation.to_proto(Some(&link));
        self.store
            .create_customer_invitation(caller, &key, &invitation, response)
            .await
    }

    pub(super) async fn send_customer_invitation(
        &self,
        caller: &Caller,
        request: pb::SendCustomerInvitationRequest,
    ) -> Result<pb::CustomerInvitation, Error> {
        caller.require_role(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "SendCustomerInvitation",
                &request.request_id,
                &request,
            ),
        );
        let names = violations.check("name", parse_invitation_name(&request.name));
        let (Some(key), Some((reseller, id))) = (key, names) else {
            return Err(Error::Invalid(violations));
        };
        let not_found = || Error::CustomerInvitationNotFound(invitation_name(reseller, id));
        if !domain::may_read(caller, reseller) {
            return Err(not_found());
        }
        let invitation = self
            .store
            .customer_invitation(reseller, id)
            .await?
            .ok_or_else(not_found)?;
        let email = InvitationEmail::parse(
            &request,
            &invitation,
            &self.options.customer_invitation_link_base,
            &mut violations,
        );
        let (Some(email), true) = (email, violations.is_empty()) else {
            return Err(Error::Invalid(violations));
        };
        invitation.check_sending(self.now())?;
        self.store
            .send_customer_invitation(caller, &key, &invitation, &email)
            .await
    }

    pub(super) async fn accept_customer_invitation(
        &self,
        caller: &Caller,
        request: pb::AcceptCustomerInvitationRequest,
    ) -> Result<pb::CustomerInvitation, Error> {
        // The customer's own admin accepts, for its own tenant.
        caller.require_role(Role::GlobalAdmin)?;
        let customer_tenant = caller.tenant_id();
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "AcceptCustomerInvitation",
                &request.request_id,
                &request,
            ),
        );
        let names = violations.check("name", parse_invitation_name(&request.name));
        let token = violations.check(
            "invitation_token",
            partnerships::parse_token(&request.invitation_token),
        );
        let details = customer_details(request.customer.as_ref(), customer_tenant, &mut violations);
        let (Some(key), Some((reseller, id)), Some(token), Some(details)) =
            (key, names, token, details)
        else {
            return Err(Error::Invalid(violations));
        };
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        if let Some(invitation) = self.store.customer_invitation(reseller, id).await? {
            self.require_provider_still_official(invitation.provider_tenant_id)
                .await?;
        }
        self.store
            .accept_customer_invitation(
                caller,
                &key,
                reseller,
                id,
                &partnerships::token_hash(&token),
                customer_tenant,
                details.as_ref(),
                self.now(),
            )
            .await
    }
}
