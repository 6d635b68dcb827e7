//! Customer records.

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;

use super::RelationshipApi;
use crate::domain::{self, NewCustomer, customer_name};
use crate::error::Error;

impl RelationshipApi {
    pub(super) async fn create_customer(
        &self,
        caller: &Caller,
        request: pb::CreateCustomerRequest,
    ) -> Result<pb::Customer, Error> {
        caller.require_role_or_operator(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CreateCustomer", &request.request_id, &request),
        );
        let partner = violations.check("parent", domain::parse_parent(&request.parent));
        let customer = NewCustomer::parse(request.customer.as_ref(), &mut violations);
        let (Some(key), Some(partner), Some(customer)) = (key, partner, customer) else {
            return Err(Error::Invalid(violations));
        };
        domain::authorize_create(caller, partner)?;
        // A retry is answered from the record of the first attempt without asking a peer (an
        // app's retry was admitted first, from the capability cache or the enrollment service).
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        self.capabilities
            .require(
                caller,
                partner,
                Capability::AddCustomers,
                "add a customer record",
            )
            .await?;
        self.store
            .create_customer(caller, &key, partner, customer)
            .await
    }

    pub(super) async fn get_customer(
        &self,
        caller: &Caller,
        request: pb::GetCustomerRequest,
    ) -> Result<pb::Customer, Error> {
        let (partner, id) = domain::parse_customer_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::CustomerNotFound(customer_name(partner, id));
        if !domain::may_read(caller, partner) {
            return Err(not_found());
        }
        let customer = self
            .store
            .get_customer(partner, id)
            .await?
            .ok_or_else(not_found)?;
        Ok(pb::Customer::from(&customer))
    }

    pub(super) async fn list_customers(
        &self,
        caller: &Caller,
        request: pb::ListCustomersRequest,
    ) -> Result<pb::ListCustomersResponse, Error> {
        let partner = domain::parse_parent(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !domain::may_read(caller, partner) {
            return Err(Error::PartnerNotFound(domain::partner_name(partner)));
        }
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &request.parent)?;
        let page = self.store.list_customers(partner, &page_request).await?;
        Ok(pb::ListCustomersResponse {
            customers: page.items.iter().map(pb::Customer::from).collect(),
            next_page_token: page.next_page_token,
        })
    }
}
