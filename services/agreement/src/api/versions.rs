use suite_auth::Caller;
use suite_db::IdempotencyKey;
use suite_errors::FieldViolations;
use suite_proto::agreement::v1 as pb;

use super::AgreementApi;
use crate::domain::versions::{self as domain, NewAgreementVersion, version_name};
use crate::error::Error;

impl AgreementApi {
    pub(super) async fn create_version(
        &self,
        caller: &Caller,
        request: pb::CreateAgreementVersionRequest,
    ) -> Result<pb::AgreementVersion, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateAgreementVersion",
                &request.request_id,
                &request,
            ),
        );
        let version =
            NewAgreementVersion::parse(request.agreement_version.as_ref(), &mut violations);
        let (Some(key), Some(version)) = (key, version) else {
            return Err(Error::Invalid(violations));
        };
        self.store.create_version(caller, &key, version).await
    }

    pub(super) async fn get_version(
        &self,
        request: pb::GetAgreementVersionRequest,
    ) -> Result<pb::AgreementVersion, Error> {
        let template_id = domain::parse_version_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let version = self
            .store
            .get_version(&template_id)
            .await?
            .ok_or_else(|| Error::VersionNotFound(version_name(&template_id)))?;
        Ok(pb::AgreementVersion::from(&version))
    }

    pub(super) async fn list_versions(
        &self,
        request: pb::ListAgreementVersionsRequest,
    ) -> Result<pb::ListAgreementVersionsResponse, Error> {
        let agreement_type = match request.agreement_type {
            0 => None,
            value => Some(
                domain::parse_agreement_type(value)
                    .map_err(|reason| FieldViolations::single("agreement_type", reason))?,
            ),
        };
        let query = agreement_type.map(|t| t.as_str_name()).unwrap_or_default();
        let page_request =
            self.store
                .pages()
                .request(request.page_size, &request.page_token, query)?;
        let page = self
            .store
            .list_versions(agreement_type, &page_request)
            .await?;
        Ok(pb::ListAgreementVersionsResponse {
            agreement_versions: page.items.iter().map(pb::AgreementVersion::from).collect(),
            next_page_token: page.next_page_token,
        })
    }
}
