//! The reseller relationship extension.

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;

use super::RelationshipApi;
use crate::domain::extension::{Consent, provider_view};
use crate::domain::{self, customer_name};
use crate::error::Error;

impl RelationshipApi {
    pub(super) async fn extend_reseller_relationship(
        &self,
        caller: &Caller,
        request: pb::ExtendResellerRelationshipRequest,
    ) -> Result<pb::Customer, Error> {
        caller.require_role(Role::AdminAgent)?;
        let now = self.now();
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "ExtendResellerRelationship",
                &request.request_id,
                &request,
            ),
        );
        let names = violations.check("customer", domain::parse_customer_name(&request.customer));
        let provider = violations.check("provider", domain::parse_parent(&request.provider));
        let consent = Consent::parse(request.consent.as_ref(), now, &mut violations);
        let (Some(key), Some((partner, customer)), Some(provider), Some(consent)) =
            (key, names, provider, consent)
        else {
            return Err(Error::Invalid(violations));
        };
        if !domain::may_read(caller, partner) {
            return Err(Error::CustomerNotFound(customer_name(partner, customer)));
        }
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        self.capabilities
            .require(
                caller,
                partner,
                Capability::ResellerRelationshipExtension,
                "extend a reseller relationship to a provider",
            )
            .await?;
        self.require_provider_still_official(provider).await?;
        let partner_view = self
            .store
            .customer_relationship(partner, customer)
            .await?
            .ok_or_else(|| Error::CustomerNotFound(customer_name(partner, customer)))?;
        let provider_view = provider_view(&partner_view, provider, now)?;
        self.store
            .extend_relationship(caller, &key, &partner_view, &provider_view, &consent, now)
            .await
    }
}
