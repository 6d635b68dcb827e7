//! gRPC handlers: destructure, validate, authorize, call the store or a peer, map the error,
//! convert. One module per part of the service; this one wires them to the generated trait.

mod customer;
mod partner;
mod versions;

use suite_db::RelayWaker;
use suite_proto::agreement::v1 as pb;
use suite_proto::agreement::v1::agreement_service_server::AgreementService;
use suite_server::with_admitted_caller;
use tonic::{Request, Response, Status};

use crate::clients::Peers;
use crate::status::to_status;
use crate::store::AgreementStore;

/// The `agreement.v1.AgreementService` implementation.
pub struct AgreementApi {
    store: AgreementStore,
    peers: Peers,
    relay: RelayWaker,
}

impl AgreementApi {
    /// Handlers over `store`, asking `peers`, waking `relay` when an activation is enqueued.
    pub fn new(store: AgreementStore, peers: Peers, relay: RelayWaker) -> Self {
        Self {
            store,
            peers,
            relay,
        }
    }
}

#[tonic::async_trait]
impl AgreementService for AgreementApi {
    async fn create_agreement_version(
        &self,
        request: Request<pb::CreateAgreementVersionRequest>,
    ) -> Result<Response<pb::AgreementVersion>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.create_version(&caller, message).await },
        )
        .await
    }

    /// The catalogue is public to every authenticated caller.
    async fn get_agreement_version(
        &self,
        request: Request<pb::GetAgreementVersionRequest>,
    ) -> Result<Response<pb::AgreementVersion>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |_caller, message| async move { self.get_version(message).await },
        )
        .await
    }

    async fn list_agreement_versions(
        &self,
        request: Request<pb::ListAgreementVersionsRequest>,
    ) -> Result<Response<pb::ListAgreementVersionsResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |_caller, message| async move { self.list_versions(message).await },
        )
        .await
    }

    async fn accept_partner_agreement(
        &self,
        request: Request<pb::AcceptPartnerAgreementRequest>,
    ) -> Result<Response<pb::PartnerAgreementAcceptance>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.accept_partner_agreement(&caller, message).await },
        )
        .await
    }

    async fn get_partner_agreement_acceptance(
        &self,
        request: Request<pb::GetPartnerAgreementAcceptanceRequest>,
    ) -> Result<Response<pb::PartnerAgreementAcceptance>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.get_partner_acceptance(&caller, message).await },
        )
        .await
    }

    async fn list_partner_agreement_acceptances(
        &self,
        request: Request<pb::ListPartnerAgreementAcceptancesRequest>,
    ) -> Result<Response<pb::ListPartnerAgreementAcceptancesResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.list_partner_acceptances(&caller, message).await },
        )
        .await
    }

    async fn create_customer_agreement_acceptance(
        &self,
        request: Request<pb::CreateCustomerAgreementAcceptanceRequest>,
    ) -> Result<Response<pb::CustomerAgreementAcceptance>, Status> {
        with_admitted_caller(request, to_status, &self.peers.capabilities, |caller, message| async move {
            self.create_customer_acceptance(&caller, message).await
        })
        .await
    }

    async fn list_customer_agreement_acceptances(
        &self,
        request: Request<pb::ListCustomerAgreementAcceptancesRequest>,
    ) -> Result<Response<pb::ListCustomerAgreementAcceptancesResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.list_customer_acceptances(&caller, message).await },
        )
        .await
    }

    async fn check_customer_agreement(
        &self,
        request: Request<pb::CheckCustomerAgreementRequest>,
    ) -> Result<Response<pb::CustomerAgreementValidity>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.peers.capabilities,
            |caller, message| async move { self.check_customer_agreement(&caller, message).await },
        )
        .await
    }
}
