//! gRPC handlers: destructure, validate, authorize, check with peers, call the store, map
//! the error, convert. One module per resource; this one binds them to the service trait.

mod subscriptions;
mod transfers;

use suite_db::RelayWaker;
use suite_proto::transfer::v1 as pb;
use suite_proto::transfer::v1::transfer_service_server::TransferService;
use suite_server::with_admitted_caller;
use tonic::{Request, Response, Status};

use crate::TransferOptions;
use crate::clients::Peers;
use crate::status::to_status;
use crate::store::TransferStore;

/// The `transfer.v1.TransferService` implementation.
pub struct TransferApi {
    store: TransferStore,
    peers: Peers,
    waker: RelayWaker,
    options: TransferOptions,
}

impl TransferApi {
    /// Handlers over `store`, checking preconditions with `peers`; `waker` starts the
    /// executor as soon as a transfer is accepted.
    pub fn new(
        store: TransferStore,
        peers: Peers,
        waker: RelayWaker,
        options: TransferOptions,
    ) -> Self {
        Self {
            store,
            peers,
            waker,
            options,
        }
    }

    fn now(&self) -> i64 {
        self.options.clock.now_micros()
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

    async fn update_subscription(
        &self,
        request: Request<pb::UpdateSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.update_subscription(&caller, message).await },
        )
        .await
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.cancel_subscription(&caller, message).await },
        )
        .await
    }

    async fn list_transfer_eligibilities(
        &self,
        request: Request<pb::ListTransferEligibilitiesRequest>,
    ) -> Result<Response<pb::ListTransferEligibilitiesResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.list_transfer_eligibilities(&caller, message).await },
        )
        .await
    }

    async fn create_transfer_request(
        &self,
        request: Request<pb::CreateTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.create_transfer_request(&caller, message).await },
        )
        .await
    }

    async fn get_transfer_request(
        &self,
        request: Request<pb::GetTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.get_transfer_request(&caller, message).await },
        )
        .await
    }

    async fn list_transfer_requests(
        &self,
        request: Request<pb::ListTransferRequestsRequest>,
    ) -> Result<Response<pb::ListTransferRequestsResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.list_transfer_requests(&caller, message).await },
        )
        .await
    }

    async fn accept_transfer_request(
        &self,
        request: Request<pb::AcceptTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.accept_transfer_request(&caller, message).await },
        )
        .await
    }

    async fn reject_transfer_request(
        &self,
        request: Request<pb::RejectTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.reject_transfer_request(&caller, message).await },
        )
        .await
    }

    async fn cancel_transfer_request(
        &self,
        request: Request<pb::CancelTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.cancel_transfer_request(&caller, message).await },
        )
        .await
    }

    async fn create_partner_transfer_request(
        &self,
        request: Request<pb::CreatePartnerTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move {
                self.create_partner_transfer_request(&caller, message).await
            },
        )
        .await
    }

    async fn submit_transfer_request(
        &self,
        request: Request<pb::SubmitTransferRequestRequest>,
    ) -> Result<Response<pb::TransferRequest>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.submit_transfer_request(&caller, message).await },
        )
        .await
    }
}
