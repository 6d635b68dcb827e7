//! gRPC handlers: destructure, validate, authorize, check with peers, call the store, map
//! the error, convert.

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1::Capability;
use suite_proto::relationship::v1 as relationship;
use suite_proto::transfer::v1 as pb;
use suite_proto::transfer::v1::transfer_service_server::TransferService;
use suite_server::with_admitted_caller;
use tonic::{Request, Response, Status};

use crate::clients::Peers;
use crate::domain::{self, CustomerRef, NewSubscription, subscription_name};
use crate::error::Error;
use crate::status::to_status;
use crate::store::TransferStore;

/// The `transfer.v1.TransferService` implementation.
pub struct TransferApi {
    store: TransferStore,
    peers: Peers,
}

impl TransferApi {
    /// Handlers over `store`, checking preconditions with `peers`.
    pub fn new(store: TransferStore, peers: Peers) -> Self {
        Self { store, peers }
    }

    async fn create_subscription(
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
        let subscription = NewSubscription::parse(request.subscription.as_ref(), &mut violations);
        let (Some(key), Some(customer), Some(subscription)) = (key, customer, subscription) else {
            return Err(Error::Invalid(violations));
        };
        domain::authorize_create(caller, customer)?;
        // A retry is answered from the record of the first attempt without asking a peer (an
        // app's retry was admitted first, from the capability cache or the enrollment service).
        if let Some(previous) = self.store.replayed(&key).await? {
            return Ok(previous);
        }
        self.peers
            .capabilities
            .require(
                caller,
                customer.partner_tenant_id,
                Capability::PurchaseOrders,
                "purchase a subscription",
            )
            .await?;
        let view = self
            .peers
            .customer(caller, &customer.name())
            .await?
            .ok_or_else(|| Error::CustomerNotFound(customer.name()))?;
        // Direct-bill purchases only for a direct-bill customer: where an indirect reseller
        // relationship exists, the provider orders.
        if !view
            .available_actions
            .contains(&(relationship::CustomerAction::AddProducts as i32))
        {
            return Err(Error::Precondition {
                reason: "DIRECT_BILL_CUSTOMER_REQUIRED",
                message: "this customer has an indirect reseller relationship: its indirect provider orders for it".into(),
            });
        }
        self.store
            .create_subscription(caller, &key, customer, subscription)
            .await
    }

    async fn get_subscription(
        &self,
        caller: &Caller,
        request: pb::GetSubscriptionRequest,
    ) -> Result<pb::Subscription, Error> {
        let (customer, id) = domain::parse_subscription_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::SubscriptionNotFound(subscription_name(customer, id));
        if !domain::may_read(caller, customer.partner_tenant_id) {
            return Err(not_found());
        }
        let subscription = self
            .store
            .get_subscription(customer, id)
            .await?
            .ok_or_else(not_found)?;
        Ok(pb::Subscription::from(&subscription))
    }

    async fn list_subscriptions(
        &self,
        caller: &Caller,
        request: pb::ListSubscriptionsRequest,
    ) -> Result<pb::ListSubscriptionsResponse, Error> {
        let customer = CustomerRef::parse(&request.parent)
            .map_err(|reason| FieldViolations::single("parent", reason))?;
        if !domain::may_read(caller, customer.partner_tenant_id) {
            return Err(Error::CustomerNotFound(customer.name()));
        }
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &request.parent)?;
        let page = self
            .store
            .list_subscriptions(customer, &page_request)
            .await?;
        Ok(pb::ListSubscriptionsResponse {
            subscriptions: page.items.iter().map(pb::Subscription::from).collect(),
            next_page_token: page.next_page_token,
        })
    }
}

#[tonic::async_trait]
impl TransferService for TransferApi {
    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.create_subscription(&caller, message).await },
        )
        .await
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.get_subscription(&caller, message).await },
        )
        .await
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.list_subscriptions(&caller, message).await },
        )
        .await
    }
}
