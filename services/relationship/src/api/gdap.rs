//! GDAP relationships: a partner of record asks for admin roles in a customer tenant, the
//! customer's own admin approves or rejects, either side terminates; and the access answer.

use suite_auth::Caller;
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::relationship::v1 as pb;

use super::RelationshipApi;
use crate::domain::gdap::{self, Action, NewRelationship, RelationshipName};
use crate::domain::{self, customer_name};
use crate::error::Error;

impl RelationshipApi {
    pub(super) async fn create_gdap(
        &self,
        caller: &Caller,
        request: pb::CreateDelegatedAdminRelationshipRequest,
    ) -> Result<pb::DelegatedAdminRelationship, Error> {
        gdap::require_partner_agent(caller)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateDelegatedAdminRelationship",
                &request.request_id,
                &request,
            ),
        );
        let parent = violations.check("parent", domain::parse_customer_name(&request.parent));
        let new = NewRelationship::parse(
            request.delegated_admin_relationship.as_ref(),
            &mut violations,
        );
        let (Some(key), Some((partner, customer)), Some(new), true) =
            (key, parent, new, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        if !caller.can_access_tenant(partner) {
            return Err(Error::CustomerNotFound(request.parent));
        }
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        let record = self.store.customer_relationship(partner, customer).await?;
        if record
            .as_ref()
            .is_some_and(|view| view.acquisition == pb::Acquisition::RelationshipExtension)
        {
            return Err(Error::Precondition {
                reason: "INVITATION_REQUIRED_FOR_ADMIN",
                subject: customer_name(partner, customer),
                message: "a relationship extension gives a provider no admin privileges: have the reseller send the customer an indirect reseller invitation instead".into(),
            });
        }
        if record.is_none() {
            return Err(Error::Precondition {
                reason: "NOT_PARTNER_OF_RECORD",
                subject: customer_name(partner, customer),
                message:
                    "only a partner of record of the customer asks it for delegated admin roles"
                        .into(),
            });
        }
        self.store
            .create_gdap(caller, &key, partner, customer, new, self.now())
            .await
    }

    pub(super) async fn get_gdap(
        &self,
        caller: &Caller,
        request: pb::GetDelegatedAdminRelationshipRequest,
    ) -> Result<pb::DelegatedAdminRelationship, Error> {
        let name = gdap::parse_relationship_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        if !gdap::may_see(caller, &name) {
            return Err(Error::DelegatedAdminNotFound(name.name()));
        }
        let relationship = self
            .store
            .get_gdap(&name)
            .await?
            .ok_or_else(|| Error::DelegatedAdminNotFound(name.name()))?;
        Ok(relationship.as_of(self.now()).to_proto())
    }

    pub(super) async fn change_gdap(
        &self,
        caller: &Caller,
        action: Action,
        request_id: &str,
        name: &str,
        etag: &str,
        request: &impl prost::Message,
    ) -> Result<pb::DelegatedAdminRelationship, Error> {
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, action.rpc(), request_id, request),
        );
        let name = violations.check("name", gdap::parse_relationship_name(name));
        let (Some(key), Some(name)) = (key, name) else {
            return Err(Error::Invalid(violations));
        };
        self.visible_gdap(caller, &name)?;
        action.authorize(caller, &name)?;
        let expected_version = match etag.trim() {
            "" => None,
            etag => Some(etag.parse::<i64>().map_err(|_| {
                FieldViolations::single("etag", "must be an etag read from this relationship")
            })?),
        };
        self.store
            .change_gdap(caller, &key, name, action, expected_version, self.now())
            .await
    }

    pub(super) async fn check_gdap_access(
        &self,
        caller: &Caller,
        request: pb::CheckDelegatedAdminAccessRequest,
    ) -> Result<pb::DelegatedAdminAccess, Error> {
        let mut violations = FieldViolations::new();
        let customer =
            violations.check("customer", domain::parse_customer_tenant(&request.customer));
        let partner = violations.check("partner", domain::parse_parent(&request.partner));
        let (Some(customer), Some(partner)) = (customer, partner) else {
            return Err(Error::Invalid(violations));
        };
        if !gdap::may_check_access(caller, customer, partner) {
            return Err(Error::CustomerNotFound(request.customer));
        }
        let granting = self
            .store
            .gdap_access(partner, customer, self.now())
            .await?;
        Ok(pb::DelegatedAdminAccess {
            customer: request.customer,
            partner: request.partner,
            manages_users_and_licenses: granting.is_some(),
            relationship: granting.as_ref().map(|r| r.name()).unwrap_or_default(),
            roles: granting
                .as_ref()
                .map(|r| r.roles.iter().map(|role| *role as i32).collect())
                .unwrap_or_default(),
            end_time: granting.and_then(|r| r.end_time).map(suite_time::timestamp),
        })
    }

    pub(super) async fn list_gdap(
        &self,
        caller: &Caller,
        request: pb::ListDelegatedAdminRelationshipsRequest,
    ) -> Result<pb::ListDelegatedAdminRelationshipsResponse, Error> {
        let (partner, customer) = domain::parse_customer_name(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !caller.can_access_tenant(partner) && !caller.can_access_tenant(customer) {
            return Err(Error::CustomerNotFound(request.parent));
        }
        let page_request = self.store.pages().request(
            request.page_size,
            &request.page_token,
            &format!("{}/delegatedAdminRelationships", request.parent),
        )?;
        let page = self
            .store
            .list_gdap(partner, customer, &page_request)
            .await?;
        let now = self.now();
        Ok(pb::ListDelegatedAdminRelationshipsResponse {
            delegated_admin_relationships: page
                .items
                .iter()
                .map(|r| r.as_of(now).to_proto())
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// A relationship is seen by its partner, its customer's tenant and the operator; anyone
    /// else is told it does not exist.
    fn visible_gdap(&self, caller: &Caller, name: &RelationshipName) -> Result<(), Error> {
        if !gdap::may_see(caller, name) {
            return Err(Error::DelegatedAdminNotFound(name.name()));
        }
        Ok(())
    }
}
