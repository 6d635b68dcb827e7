//! gRPC handlers: destructure, validate, authorize, call the store, map the error, convert.

use suite_auth::{Caller, Role};
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::enrollment::v1 as pb;
use suite_proto::enrollment::v1::enrollment_service_server::EnrollmentService;
use tonic::{Request, Response, Status};

use crate::domain::{self, NewPartner, partner_name};
use crate::error::{Error, to_status};
use crate::store::EnrollmentStore;

/// The `enrollment.v1.EnrollmentService` implementation.
pub struct EnrollmentApi {
    store: EnrollmentStore,
}

impl EnrollmentApi {
    /// Handlers over `store`.
    pub fn new(store: EnrollmentStore) -> Self {
        Self { store }
    }

    async fn create_partner(
        &self,
        caller: &Caller,
        request: pb::CreatePartnerRequest,
    ) -> Result<pb::Partner, Error> {
        caller.require_role_or_operator(Role::GlobalAdmin)?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(caller, "CreatePartner", &request.request_id, &request),
        );
        let partner = NewPartner::parse(request.partner.as_ref(), &mut violations);
        let (Some(key), Some(partner)) = (key, partner) else {
            return Err(Error::Invalid(violations));
        };
        let tenant_id = partner.tenant(caller)?;
        self.store
            .create_partner(caller, &key, tenant_id, partner)
            .await
    }

    async fn get_partner(
        &self,
        caller: &Caller,
        request: pb::GetPartnerRequest,
    ) -> Result<pb::Partner, Error> {
        let tenant_id = domain::parse_partner_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let not_found = || Error::PartnerNotFound(partner_name(tenant_id));
        if !domain::may_read(caller, tenant_id) {
            return Err(not_found());
        }
        let partner = self
            .store
            .get_partner(tenant_id)
            .await?
            .ok_or_else(not_found)?;
        Ok(pb::Partner::from(&partner))
    }

    async fn list_partners(
        &self,
        caller: &Caller,
        request: pb::ListPartnersRequest,
    ) -> Result<pb::ListPartnersResponse, Error> {
        let only = (!caller.is_operator()).then(|| caller.tenant_id());
        let scope = only.map(|t| t.to_string()).unwrap_or_default();
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, &scope)?;
        let page = self.store.list_partners(only, &page_request).await?;
        Ok(pb::ListPartnersResponse {
            partners: page.items.iter().map(pb::Partner::from).collect(),
            next_page_token: page.next_page_token,
        })
    }
}

#[tonic::async_trait]
impl EnrollmentService for EnrollmentApi {
    async fn create_partner(
        &self,
        request: Request<pb::CreatePartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let caller = Caller::of(&request)
            .map_err(|e| to_status(e.into()))?
            .clone();
        let partner = self
            .create_partner(&caller, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(partner))
    }

    async fn get_partner(
        &self,
        request: Request<pb::GetPartnerRequest>,
    ) -> Result<Response<pb::Partner>, Status> {
        let caller = Caller::of(&request)
            .map_err(|e| to_status(e.into()))?
            .clone();
        let partner = self
            .get_partner(&caller, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(partner))
    }

    async fn list_partners(
        &self,
        request: Request<pb::ListPartnersRequest>,
    ) -> Result<Response<pb::ListPartnersResponse>, Status> {
        let caller = Caller::of(&request)
            .map_err(|e| to_status(e.into()))?
            .clone();
        let page = self
            .list_partners(&caller, request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(page))
    }
}
