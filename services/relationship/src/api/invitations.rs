//! Customer invitations: an indirect reseller invites a customer to it and its provider at
//! once, or a direct-bill partner asks a customer for a relationship alone; the
//! customer's admin accepts.

use suite_auth::{Caller, Role};
use suite_client::TenantCapabilities;
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;
use uuid::Uuid;

use super::RelationshipApi;
use crate::domain::invitations::{
    CustomerInvitation, InvitationEmail, Inviter, customer_details, invitation_name,
    parse_invitation_name, parse_subscriptions,
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
        let inviter = violations.check("parent", domain::parse_parent(&request.parent));
        let provider = match request.provider.trim() {
            "" => Some(None),
            provider => violations
                .check("provider", domain::parse_parent(provider))
                .map(Some),
        };
        let customer = match request.customer_tenant_id.trim() {
            "" => Some(None),
            tenant => violations
                .check("customer_tenant_id", suite_errors::fields::uuid(tenant))
                .map(Some),
        };
        if let (Some(inviter), Some(provider), Some(Some(customer))) = (inviter, provider, customer)
            && (customer == inviter || Some(customer) == provider)
        {
            violations.add(
                "customer_tenant_id",
                "must be the customer's tenant, not the inviting partner's or the provider's",
            );
        }
        let subscriptions = parse_subscriptions(&request.subscriptions, &mut violations);
        if provider.is_some_and(|p| p.is_some()) && !subscriptions.is_empty() {
            violations.add(
                "subscriptions",
                "only a relationship request without a provider names subscriptions",
            );
        }
        let (Some(key), Some(inviter), Some(provider), Some(customer), true) =
            (key, inviter, provider, customer, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        domain::authorize_write(caller, inviter)?;
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        let role = match provider {
            Some(provider) => {
                self.require_reseller_of(caller, inviter, provider).await?;
                pb::PartnerRole::IndirectReseller
            }
            None => {
                let role = self.billing_role(Some(caller), inviter).await?;
                if let Some(customer) = customer
                    && self
                        .store
                        .customer_relationship(inviter, customer)
                        .await?
                        .is_some()
                {
                    return Err(Error::Precondition {
                        reason: "ALREADY_PARTNER_OF_RECORD",
                        subject: domain::customer_name(inviter, customer),
                        message: "you are already this customer's partner of record: there is nothing to ask".into(),
                    });
                }
                role
            }
        };
        let (invitation, token) = CustomerInvitation::new(
            Inviter {
                tenant_id: inviter,
                role,
                provider_tenant_id: provider,
                subscriptions,
            },
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

    /// Whether `reseller` may invite customers to `provider`: an indirect reseller in an
    /// ACTIVE partnership with a provider still in the directory.
    async fn require_reseller_of(
        &self,
        caller: &Caller,
        reseller: Uuid,
        provider: Uuid,
    ) -> Result<(), Error> {
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
        Ok(())
    }

    /// What `partner` becomes to a customer through a relationship request for itself
    /// alone: only a direct-bill partner that may add customers (not a sandbox) sends one;
    /// an indirect reseller names the provider the customer also gets. Asked as `caller`
    /// when the partner asks, and as this service when the customer accepts (the partner
    /// may have lost the capability meanwhile).
    async fn billing_role(
        &self,
        caller: Option<&Caller>,
        partner: Uuid,
    ) -> Result<pb::PartnerRole, Error> {
        let bills_alone = |answer: &TenantCapabilities| {
            !answer.integration_sandbox && answer.capabilities.contains(&Capability::AddCustomers)
        };
        let capabilities = match caller {
            Some(caller) => self.capabilities.of(caller, partner, bills_alone).await?,
            None => self.capabilities.as_service(partner, bills_alone).await?,
        };
        let refuse = |reason: &'static str, message: &str| Error::Precondition {
            reason,
            subject: domain::partner_name(partner),
            message: message.to_owned(),
        };
        if capabilities.integration_sandbox {
            return Err(refuse(
                "SANDBOX_TENANT",
                "an integration sandbox has no real customers: use the production tenant",
            ));
        }
        if capabilities
            .capabilities
            .contains(&Capability::AddCustomers)
        {
            return Ok(pb::PartnerRole::DirectBillPartner);
        }
        if capabilities
            .capabilities
            .contains(&Capability::RequestProviderOrders)
        {
            return Err(refuse(
                "PROVIDER_REQUIRED",
                "an indirect reseller invites a customer together with the provider it gets: name the provider",
            ));
        }
        Err(refuse(
            "DIRECT_BILL_REQUIRED",
            "only a direct-bill partner that may add customers asks a customer for a relationship alone",
        ))
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
        let now = self.now();
        invitation.check_sending(now)?;
        self.store
            .send_customer_invitation(caller, &key, &invitation, &email, now)
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
        // What the inviting side needed when it invited, it still needs now; asked only
        // for the holder of this pending invitation's token, so that nobody else learns
        // anything of the inviter (the store gives everyone else its own refusal).
        let token_hash = partnerships::token_hash(&token);
        let pending = self
            .store
            .customer_invitation(reseller, id)
            .await?
            .filter(|invitation| {
                partnerships::token_matches(&token_hash, &invitation.token_hash)
                    && invitation.check_acceptance_state(self.now()).is_ok()
            });
        if let Some(invitation) = pending {
            match invitation.provider_tenant_id {
                Some(provider) => self.require_provider_still_official(provider).await?,
                None => {
                    self.billing_role(None, invitation.reseller_tenant_id)
                        .await?;
                }
            }
        }
        self.store
            .accept_customer_invitation(
                caller,
                &key,
                reseller,
                id,
                &token_hash,
                customer_tenant,
                details.as_ref(),
                self.now(),
            )
            .await
    }
}
