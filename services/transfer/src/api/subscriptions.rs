//! Subscriptions: orders, changes, reads and transfer eligibility.

use suite_auth::{Caller, Role};
use suite_client::TenantCapabilities;
use suite_db::{IdempotencyKey, Page};
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as relationship;
use suite_proto::transfer::v1 as pb;

use super::TransferApi;
use crate::domain::subscription::{self, parse_subscription_name, subscription_name};
use crate::domain::{CustomerRef, NewSubscription, Subscription, SubscriptionUpdate, eligibility};
use crate::error::Error;

impl TransferApi {
    pub(super) async fn create_subscription(
        &self,
        caller: &Caller,
        request: pb::CreateSubscriptionRequest,
    ) -> Result<pb::Subscription, Error> {
        caller.require_role_or_operator(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CreateSubscription", &request.request_id, &request),
        );
        let customer = violations.check("parent", CustomerRef::parse(&request.parent));
        let subscription =
            NewSubscription::parse(customer, request.subscription.as_ref(), &mut violations);
        let (Some(key), Some(customer), Some(subscription), true) =
            (key, customer, subscription, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        subscription::authorize_change(caller, customer)?;
        // A retry is answered from the record of the first attempt without asking a peer.
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        let view = self
            .peers
            .customer(caller, &customer.name())
            .await?
            .ok_or_else(|| Error::CustomerNotFound(customer.name()))?;
        match view.partner_role() {
            // The provider orders for a customer it has a reseller relationship with (its view
            // of the customer exists only through one), as long as it is an official provider.
            relationship::PartnerRole::IndirectProvider => {
                let listed = |answer: &TenantCapabilities| answer.official_indirect_provider;
                let official = caller.is_operator()
                    || listed(
                        &*self
                            .peers
                            .capabilities
                            .of(caller, customer.partner_tenant_id, listed)
                            .await?,
                    );
                if !official {
                    return Err(Error::Precondition {
                        reason: "PROVIDER_NOT_OFFICIAL",
                        message: "only an official indirect provider, listed in the directory of indirect providers, orders for resellers' customers".into(),
                    });
                }
            }
            relationship::PartnerRole::IndirectReseller => {
                return Err(Error::Precondition {
                    reason: "PROVIDER_ORDERS_REQUIRED",
                    message: "an indirect reseller does not buy for its customers: its indirect provider orders for them".into(),
                });
            }
            _ => {
                self.peers
                    .capabilities
                    .require(
                        caller,
                        customer.partner_tenant_id,
                        Capability::PurchaseOrders,
                        "purchase a subscription",
                    )
                    .await?;
                // Direct-bill purchases only for a direct-bill customer: where an indirect
                // reseller relationship exists, the provider orders.
                if !view
                    .available_actions
                    .contains(&(relationship::CustomerAction::AddProducts as i32))
                {
                    return Err(Error::Precondition {
                        reason: "DIRECT_BILL_CUSTOMER_REQUIRED",
                        message: "this customer has an indirect reseller relationship: its indirect provider orders for it".into(),
                    });
                }
            }
        }
        self.store
            .create_subscription(caller, &key, customer, subscription, self.now())
            .await
    }

    pub(super) async fn get_subscription(
        &self,
        caller: &Caller,
        request: pb::GetSubscriptionRequest,
    ) -> Result<pb::Subscription, Error> {
        let (customer, id) = parse_subscription_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::SubscriptionNotFound(subscription_name(customer, id));
        if !subscription::may_read(caller, customer.partner_tenant_id) {
            return Err(not_found());
        }
        let subscription = self
            .store
            .get_subscription(customer, id)
            .await?
            .ok_or_else(not_found)?;
        Ok(pb::Subscription::from(&subscription))
    }

    pub(super) async fn list_subscriptions(
        &self,
        caller: &Caller,
        request: pb::ListSubscriptionsRequest,
    ) -> Result<pb::ListSubscriptionsResponse, Error> {
        let (_, page) = self
            .subscription_page(
                caller,
                &request.parent,
                request.page_size,
                &request.page_token,
            )
            .await?;
        Ok(pb::ListSubscriptionsResponse {
            subscriptions: page.items.iter().map(pb::Subscription::from).collect(),
            next_page_token: page.next_page_token,
        })
    }

    pub(super) async fn update_subscription(
        &self,
        caller: &Caller,
        request: pb::UpdateSubscriptionRequest,
    ) -> Result<pb::Subscription, Error> {
        caller.require_role_or_operator(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "UpdateSubscription", &request.request_id, &request),
        );
        let Some(subscription) = request.subscription.as_ref() else {
            violations.add("subscription", "required");
            return Err(Error::Invalid(violations));
        };
        let name = violations.check(
            "subscription.name",
            parse_subscription_name(&subscription.name),
        );
        let mask = request
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.as_slice())
            .unwrap_or_default();
        let update = SubscriptionUpdate::parse(subscription, mask, &mut violations);
        let (Some(key), Some((customer, id)), Some(update), true) =
            (key, name, update, violations.is_empty())
        else {
            return Err(Error::Invalid(violations));
        };
        if !subscription::may_read(caller, customer.partner_tenant_id) {
            return Err(Error::SubscriptionNotFound(subscription_name(customer, id)));
        }
        // Changing a subscription the partner already bills is no new purchase: a RESTRICTED
        // direct-bill partner keeps managing its existing customers, so no capability is asked.
        self.store
            .update_subscription(caller, &key, customer, id, &update, self.now())
            .await
    }

    pub(super) async fn cancel_subscription(
        &self,
        caller: &Caller,
        request: pb::CancelSubscriptionRequest,
    ) -> Result<pb::Subscription, Error> {
        caller.require_role_or_operator(Role::AdminAgent)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CancelSubscription", &request.request_id, &request),
        );
        let name = violations.check("name", parse_subscription_name(&request.name));
        let (Some(key), Some((customer, id))) = (key, name) else {
            return Err(Error::Invalid(violations));
        };
        if !subscription::may_read(caller, customer.partner_tenant_id) {
            return Err(Error::SubscriptionNotFound(subscription_name(customer, id)));
        }
        // Ending a subscription the partner bills is no purchase: a RESTRICTED direct-bill
        // partner may still do it for its existing customers.
        self.store
            .cancel_subscription(caller, &key, customer, id, self.now())
            .await
    }

    pub(super) async fn list_transfer_eligibilities(
        &self,
        caller: &Caller,
        request: pb::ListTransferEligibilitiesRequest,
    ) -> Result<pb::ListTransferEligibilitiesResponse, Error> {
        let kind = crate::domain::transfer::parse_kind(request.kind)
            .map_err(|reason| FieldViolations::single("kind", reason))?;
        let (customer, page) = self
            .subscription_page(
                caller,
                &request.parent,
                request.page_size,
                &request.page_token,
            )
            .await?;
        let open = self.store.in_open_requests(&page.items).await?;
        Ok(pb::ListTransferEligibilitiesResponse {
            eligibilities: page
                .items
                .iter()
                .map(|subscription| eligibility::eligibility(customer, subscription, &open, kind))
                .collect(),
            next_page_token: page.next_page_token,
        })
    }

    /// One page of the subscriptions of customer view `parent`, if the caller may see them.
    async fn subscription_page(
        &self,
        caller: &Caller,
        parent: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<(CustomerRef, Page<Subscription>), Error> {
        let customer = CustomerRef::parse(parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !subscription::may_read(caller, customer.partner_tenant_id) {
            return Err(Error::CustomerNotFound(customer.name()));
        }
        let page_request = self.store.pages().request(page_size, page_token, parent)?;
        let page = self
            .store
            .list_subscriptions(customer, &page_request)
            .await?;
        Ok((customer, page))
    }
}
