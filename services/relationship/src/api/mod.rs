//! gRPC handlers: destructure, validate, authorize, call the store, map the error, convert.
//! One module per part of the service; this one wires them to the generated trait.

mod customers;
mod extension;
mod gdap;
mod invitations;
mod partnerships;

use suite_client::CapabilityCheck;
use suite_proto::relationship::v1 as pb;
use suite_proto::relationship::v1::relationship_service_server::RelationshipService;
use suite_server::with_admitted_caller;
use tonic::{Request, Response, Status};

use crate::RelationshipOptions;
use crate::domain::gdap::Action;
use crate::domain::partnerships::{Side, Transition};
use crate::status::to_status;
use crate::store::RelationshipStore;

/// The `relationship.v1.RelationshipService` implementation.
pub struct RelationshipApi {
    store: RelationshipStore,
    capabilities: CapabilityCheck,
    options: RelationshipOptions,
}

impl RelationshipApi {
    /// Handlers over `store`, asking the enrollment service what partners may do through
    /// `capabilities`.
    pub fn new(store: RelationshipStore, capabilities: CapabilityCheck) -> Self {
        Self {
            store,
            capabilities,
            options: RelationshipOptions::default(),
        }
    }

    /// The same handlers with `options` (clock, invitation lifetime and link).
    pub fn with_options(self, options: RelationshipOptions) -> Self {
        Self { options, ..self }
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

    async fn invite_indirect_reseller(
        &self,
        request: Request<pb::InviteIndirectResellerRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.invite_reseller(&caller, message).await },
        )
        .await
    }

    async fn accept_partnership_invitation(
        &self,
        request: Request<pb::AcceptPartnershipInvitationRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.accept_invitation(&caller, message).await },
        )
        .await
    }

    async fn check_partnership(
        &self,
        request: Request<pb::CheckPartnershipRequest>,
    ) -> Result<Response<pb::PartnershipCheck>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.check_partnership(&caller, message).await },
        )
        .await
    }

    async fn get_partnership(
        &self,
        request: Request<pb::GetPartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.get_partnership(&caller, message).await },
        )
        .await
    }

    async fn list_indirect_resellers(
        &self,
        request: Request<pb::ListIndirectResellersRequest>,
    ) -> Result<Response<pb::ListIndirectResellersResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (partnerships, next_page_token) = self
                    .list_partnerships(
                        &caller,
                        Side::Provider,
                        &message.parent,
                        message.page_size,
                        &message.page_token,
                    )
                    .await?;
                Ok(pb::ListIndirectResellersResponse {
                    partnerships,
                    next_page_token,
                })
            },
        )
        .await
    }

    async fn list_indirect_providers(
        &self,
        request: Request<pb::ListIndirectProvidersRequest>,
    ) -> Result<Response<pb::ListIndirectProvidersResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (partnerships, next_page_token) = self
                    .list_partnerships(
                        &caller,
                        Side::Reseller,
                        &message.parent,
                        message.page_size,
                        &message.page_token,
                    )
                    .await?;
                Ok(pb::ListIndirectProvidersResponse {
                    partnerships,
                    next_page_token,
                })
            },
        )
        .await
    }

    async fn suspend_partnership(
        &self,
        request: Request<pb::SuspendPartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_partnership(&caller, Transition::Suspend, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn resume_partnership(
        &self,
        request: Request<pb::ResumePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_partnership(&caller, Transition::Resume, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn revoke_partnership(
        &self,
        request: Request<pb::RevokePartnershipRequest>,
    ) -> Result<Response<pb::Partnership>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_partnership(&caller, Transition::Revoke, id, name, etag, &message)
                    .await
            },
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

    async fn batch_check_customer_relationships(
        &self,
        request: Request<pb::BatchCheckCustomerRelationshipsRequest>,
    ) -> Result<Response<pb::BatchCheckCustomerRelationshipsResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                self.batch_check_customer_relationships(&caller, message)
                    .await
            },
        )
        .await
    }

    async fn create_delegated_admin_relationship(
        &self,
        request: Request<pb::CreateDelegatedAdminRelationshipRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.create_gdap(&caller, message).await },
        )
        .await
    }

    async fn get_delegated_admin_relationship(
        &self,
        request: Request<pb::GetDelegatedAdminRelationshipRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.get_gdap(&caller, message).await },
        )
        .await
    }

    async fn lock_delegated_admin_relationship_for_approval(
        &self,
        request: Request<pb::LockDelegatedAdminRelationshipForApprovalRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_gdap(&caller, Action::LockForApproval, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn approve_delegated_admin_relationship(
        &self,
        request: Request<pb::ApproveDelegatedAdminRelationshipRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_gdap(&caller, Action::Approve, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn reject_delegated_admin_relationship(
        &self,
        request: Request<pb::RejectDelegatedAdminRelationshipRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_gdap(&caller, Action::Reject, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn terminate_delegated_admin_relationship(
        &self,
        request: Request<pb::TerminateDelegatedAdminRelationshipRequest>,
    ) -> Result<Response<pb::DelegatedAdminRelationship>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move {
                let (id, name, etag) = (&message.request_id, &message.name, &message.etag);
                self.change_gdap(&caller, Action::Terminate, id, name, etag, &message)
                    .await
            },
        )
        .await
    }

    async fn check_delegated_admin_access(
        &self,
        request: Request<pb::CheckDelegatedAdminAccessRequest>,
    ) -> Result<Response<pb::DelegatedAdminAccess>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.check_gdap_access(&caller, message).await },
        )
        .await
    }

    async fn list_delegated_admin_relationships(
        &self,
        request: Request<pb::ListDelegatedAdminRelationshipsRequest>,
    ) -> Result<Response<pb::ListDelegatedAdminRelationshipsResponse>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.list_gdap(&caller, message).await },
        )
        .await
    }

    async fn create_customer_invitation(
        &self,
        request: Request<pb::CreateCustomerInvitationRequest>,
    ) -> Result<Response<pb::CustomerInvitation>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.create_customer_invitation(&caller, message).await },
        )
        .await
    }

    async fn send_customer_invitation(
        &self,
        request: Request<pb::SendCustomerInvitationRequest>,
    ) -> Result<Response<pb::CustomerInvitation>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.send_customer_invitation(&caller, message).await },
        )
        .await
    }

    async fn accept_customer_invitation(
        &self,
        request: Request<pb::AcceptCustomerInvitationRequest>,
    ) -> Result<Response<pb::CustomerInvitation>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.accept_customer_invitation(&caller, message).await },
        )
        .await
    }

    async fn extend_reseller_relationship(
        &self,
        request: Request<pb::ExtendResellerRelationshipRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        with_admitted_caller(
            request,
            to_status,
            &self.capabilities,
            |caller, message| async move { self.extend_reseller_relationship(&caller, message).await },
        )
        .await
    }
}
