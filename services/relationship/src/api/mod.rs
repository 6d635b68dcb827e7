//! gRPC handlers: destructure, validate, authorize, call the store, map the error, convert.
//! One module per part of the service; this one wires them to the generated trait.

mod customers;

use suite_client::CapabilityCheck;
use suite_proto::relationship::v1 as pb;
use suite_proto::relationship::v1::relationship_service_server::RelationshipService;
use suite_server::with_admitted_caller;
use tonic::{Request, Response, Status};

use crate::status::to_status;
use crate::store::RelationshipStore;

/// The `relationship.v1.RelationshipService` implementation.
pub struct RelationshipApi {
    store: RelationshipStore,
    capabilities: CapabilityCheck,
}

impl RelationshipApi {
    /// Handlers over `store`, asking the enrollment service what partners may do through
    /// `capabilities`.
    pub fn new(store: RelationshipStore, capabilities: CapabilityCheck) -> Self {
        Self {
            store,
            capabilities,
        }
    }
}

#[tonic::async_trait]
impl RelationshipService for RelationshipApi {
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.create_customer(&caller, message).await },
        )
        .await
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.get_customer(&caller, message).await },
        )
        .await
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.list_customers(&caller, message).await },
        )
        .await
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.update_customer(&caller, message).await },
        )
        .await
    }

    async fn list_customer_partners(
        &self,
        request: Request<pb::ListCustomerPartnersRequest>,
    ) -> Result<Response<pb::ListCustomerPartnersResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.list_customer_partners(&caller, message).await },
        )
        .await
    }

    async fn check_customer_relationship(
        &self,
        request: Request<pb::CheckCustomerRelationshipRequest>,
    ) -> Result<Response<pb::CustomerRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.check_customer_relationship(&caller, message).await },
        )
        .await
    }
}
