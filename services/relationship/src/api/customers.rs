//! Customer records.

use suite_auth::{Caller, Role};
use suite_client::TenantCapabilities;
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as pb;

use uuid::Uuid;

use super::RelationshipApi;
use crate::domain::{self, CustomerUpdate, NewCustomer, customer_name};
use crate::error::Error;

/// Most partners one `BatchCheckCustomerRelationships` asks about.
const MAX_BATCH_PARTNERS: usize = 100;

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
        let reseller = match request.indirect_reseller.trim() {
            "" => Some(None),
            name => violations
                .check("indirect_reseller", domain::parse_parent(name))
                .map(Some),
        };
        let customer = NewCustomer::parse(request.customer.as_ref(), &mut violations);
        let (Some(key), Some(partner), Some(reseller), Some(customer)) =
            (key, partner, reseller, customer)
        else {
            return Err(Error::Invalid(violations));
        };
        domain::authorize_write(caller, partner)?;
        // A retry is answered from the record of the first attempt without asking a peer (an
        // app's retry was admitted first, from the capability cache or the enrollment service).
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        let now = suite_time::now_micros();
        match reseller {
            None => {
                self.require_direct_bill_customers(caller, partner).await?;
                let view = customer.into_direct_bill_view(partner, now);
                self.store.create_customer(caller, &key, view).await
            }
            Some(reseller) => {
                self.require_official_provider(caller, partner).await?;
                let (provider_view, reseller_view) =
                    customer.into_views_created_by_provider(partner, reseller, now);
                self.store
                    .create_customer_for_reseller(caller, &key, provider_view, reseller_view)
                    .await
            }
        }
    }

    /// A partner adds customer records while its direct bill allows it; an indirect reseller
    /// is told that its provider creates them.
    async fn require_direct_bill_customers(
        &self,
        caller: &Caller,
        partner: Uuid,
    ) -> Result<(), Error> {
        let refused = self
            .capabilities
            .require(
                caller,
                partner,
                Capability::AddCustomers,
                "add a customer record",
            )
            .await;
        match refused {
            Err(error) if error.reason() == "CAPABILITY_REQUIRED" => {
                // The answer that explains the refusal: the one `require` just kept, unless
                // a newer one (asked meanwhile) holds the capability, then asked afresh.
                let refuses = |answer: &TenantCapabilities| {
                    !answer.capabilities.contains(&Capability::AddCustomers)
                };
                let capabilities = self.capabilities.of(caller, partner, refuses).await?;
                if capabilities
                    .capabilities
                    .contains(&Capability::RequestProviderOrders)
                {
                    return Err(Error::Precondition {
                        reason: "PROVIDER_CREATES_CUSTOMER",
                        subject: domain::partner_name(partner),
                        message: "an indirect reseller cannot create a customer tenant: its indirect provider creates it and designates the reseller".into(),
                    });
                }
                Err(Error::Api(error))
            }
            other => Ok(other?),
        }
    }

    /// Only an official indirect provider creates customers for resellers.
    async fn require_official_provider(
        &self,
        caller: &Caller,
        provider: Uuid,
    ) -> Result<(), Error> {
        let official = |answer: &TenantCapabilities| answer.official_indirect_provider;
        if caller.is_operator()
            || official(&*self.capabilities.of(caller, provider, official).await?)
        {
            return Ok(());
        }
        Err(Error::Precondition {
            reason: "OFFICIAL_INDIRECT_PROVIDER_REQUIRED",
            subject: domain::partner_name(provider),
            message: "only an official indirect provider, listed in the directory of indirect providers, creates customers for resellers".into(),
        })
    }

    /// The provider a reseller's request names must still be an official indirect provider:
    /// one removed from the directory takes no new customers, resellers or extensions.
    pub(super) async fn require_provider_still_official(
        &self,
        provider: Uuid,
    ) -> Result<(), Error> {
        if self.capabilities.is_official_provider(provider).await? {
            return Ok(());
        }
        Err(Error::Precondition {
            reason: "PROVIDER_NOT_OFFICIAL",
            subject: domain::partner_name(provider),
            message: "this provider is no longer listed in the directory of indirect providers: choose a provider from the directory".into(),
        })
    }

    pub(super) async fn get_customer(
        &self,
        caller: &Caller,
        request: pb::GetCustomerRequest,
    ) -> Result<pb::Customer, Error> {
        let (partner, customer) = domain::parse_customer_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::CustomerNotFound(customer_name(partner, customer));
        if !domain::may_read(caller, partner) {
            return Err(not_found());
        }
        self.store
            .get_customer(partner, customer)
            .await?
            .ok_or_else(not_found)
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
            customers: page.items,
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn update_customer(
        &self,
        caller: &Caller,
        request: pb::UpdateCustomerRequest,
    ) -> Result<pb::Customer, Error> {
        caller.require_role_or_operator(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "UpdateCustomer", &request.request_id, &request),
        );
        let Some(customer) = request.customer.as_ref() else {
            violations.add("customer", "required");
            return Err(Error::Invalid(violations));
        };
        let names = violations.check("customer.name", domain::parse_customer_name(&customer.name));
        let mask = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.as_slice())
            .unwrap_or_default();
        let update = CustomerUpdate::parse(customer, mask, &mut violations);
        let (Some(key), Some((partner, customer_tenant)), Some(update), true) =
            (key, names, update, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        if !domain::may_read(caller, partner) {
            return Err(Error::CustomerNotFound(customer_name(
                partner,
                customer_tenant,
            )));
        }
        // Keeping existing customers' records is not a purchase nor a new customer: a
        // RESTRICTED direct-bill partner may do it, so no capability is asked.
        self.store
            .update_customer(
                caller,
                &key,
                partner,
                customer_tenant,
                &update,
                suite_time::now_micros(),
            )
            .await
    }

    pub(super) async fn list_customer_partners(
        &self,
        caller: &Caller,
        request: pb::ListCustomerPartnersRequest,
    ) -> Result<pb::ListCustomerPartnersResponse, Error> {
        let customer = domain::parse_customer_tenant(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !domain::may_list_partners(caller, customer) {
            return Err(Error::CustomerNotFound(request.parent));
        }
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &request.parent)?;
        let page = self
            .store
            .list_customer_partners(customer, &page_request)
            .await?;
        Ok(pb::ListCustomerPartnersResponse {
            partners: page
                .items
                .iter()
                .map(|view| view.as_partner_entry())
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn check_customer_relationship(
        &self,
        caller: &Caller,
        request: pb::CheckCustomerRelationshipRequest,
    ) -> Result<pb::CustomerRelationship, Error> {
        let mut violations = FieldViolations::new();
        let customer =
            violations.check("customer", domain::parse_customer_tenant(&request.customer));
        let partner = violations.check("partner", domain::parse_parent(&request.partner));
        let (Some(customer), Some(partner)) = (customer, partner) else {
            return Err(Error::Invalid(violations));
        };
        if !domain::may_check_relationship(caller, customer, partner) {
            return Err(Error::CustomerNotFound(request.customer));
        }
        Ok(
            match self.store.customer_relationship(partner, customer).await? {
                Some(view) => view.as_relationship(),
                None => pb::CustomerRelationship {
                    customer: request.customer,
                    partner: request.partner,
                    ..Default::default()
                },
            },
        )
    }

    pub(super) async fn batch_check_customer_relationships(
        &self,
        caller: &Caller,
        request: pb::BatchCheckCustomerRelationshipsRequest,
    ) -> Result<pb::BatchCheckCustomerRelationshipsResponse, Error> {
        let mut violations = FieldViolations::new();
        let customer = violations.check("parent", domain::parse_customer_tenant(&request.parent));
        let partners = violations.check_each(
            "partners",
            &request.partners,
            MAX_BATCH_PARTNERS,
            domain::parse_parent,
        );
        let (Some(customer), Some(partners), true) = (customer, partners, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        // All or nothing, as each single check would answer.
        if !partners
            .iter()
            .all(|partner| domain::may_check_relationship(caller, customer, *partner))
        {
            return Err(Error::CustomerNotFound(request.parent));
        }
        let mut related = self
            .store
            .customer_relationships(customer, &partners)
            .await?;
        Ok(pb::BatchCheckCustomerRelationshipsResponse {
            relationships: partners
                .iter()
                .map(|partner| match related.remove(partner) {
                    Some(view) => view.as_relationship(),
                    None => domain::no_relationship(customer, *partner),
                })
                .collect(),
        })
    }
}
