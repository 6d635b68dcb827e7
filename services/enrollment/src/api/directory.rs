use suite_auth::Caller;
use suite_db::IdempotencyKey;
use suite_errors::{FieldViolations, fields};
use suite_proto::enrollment::v1 as pb;

use super::EnrollmentApi;
use crate::domain::directory::{parse_new_provider, parse_provider_name, provider_name};
use crate::error::Error;
use crate::store::ProviderSearch;

const MAX_NAME_QUERY: usize = 100;

impl EnrollmentApi {
    pub(super) async fn create_provider(
        &self,
        caller: &Caller,
        request: pb::CreateIndirectProviderRequest,
    ) -> Result<pb::IndirectProvider, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "CreateIndirectProvider",
                &request.request_id,
                &request,
            ),
        );
        let provider = parse_new_provider(
            request.indirect_provider.as_ref(),
            self.now(),
            &mut violations,
        );
        let (Some(key), Some(provider)) = (key, provider) else {
            return Err(Error::Invalid(violations));
        };
        self.store.create_provider(caller, &key, provider).await
    }

    pub(super) async fn update_provider(
        &self,
        caller: &Caller,
        request: pb::UpdateIndirectProviderRequest,
    ) -> Result<pb::IndirectProvider, Error> {
        caller.require_operator()?;
        let mut violations = FieldViolations::new();
        let key = violations.check(
            "request_id",
            IdempotencyKey::new(
                caller,
                "UpdateIndirectProvider",
                &request.request_id,
                &request,
            ),
        );
        let provider = request.indirect_provider.clone().unwrap_or_default();
        let id = violations.check(
            "indirect_provider.name",
            parse_provider_name(&provider.name),
        );
        let (Some(key), Some(id)) = (key, id) else {
            return Err(Error::Invalid(violations));
        };
        let mask = request
            .update_mask
            .map(|mask| mask.paths)
            .unwrap_or_default();
        self.store
            .update_provider(caller, &key, id, &provider, &mask, self.now())
            .await
    }

    pub(super) async fn get_provider(
        &self,
        request: pb::GetIndirectProviderRequest,
    ) -> Result<pb::IndirectProvider, Error> {
        let id = parse_provider_name(&request.name)
            .map_err(|reason| FieldViolations::single("name", reason))?;
        let provider = self
            .store
            .get_provider(id)
            .await?
            .ok_or_else(|| Error::ProviderNotFound(provider_name(id)))?;
        Ok(pb::IndirectProvider::from(&provider))
    }

    pub(super) async fn search_providers(
        &self,
        request: pb::SearchIndirectProvidersRequest,
    ) -> Result<pb::SearchIndirectProvidersResponse, Error> {
        let mut violations = FieldViolations::new();
        let country_code = if request.country_code.is_empty() {
            Some(None)
        } else {
            violations
                .check("country_code", fields::country_code(&request.country_code))
                .map(Some)
        };
        let query = request.name_query.trim().to_lowercase();
        if query.chars().count() > MAX_NAME_QUERY {
            violations.add(
                "name_query",
                format!("must be at most {MAX_NAME_QUERY} characters"),
            );
        } else if query.chars().any(char::is_control) {
            // PostgreSQL text holds no NUL: such a query could only fail in the database.
            violations.add("name_query", "must not contain control characters");
        }
        let (Some(country_code), true) = (country_code, violations.is_empty()) else {
            return Err(Error::Invalid(violations));
        };
        let search = ProviderSearch {
            country_code,
            name_query: Some(query).filter(|q| !q.is_empty()),
        };
        let page_request = self.store.pages().request(
            request.page_size,
            &request.page_token,
            &search.fingerprint(),
        )?;
        let page = self.store.search_providers(&search, &page_request).await?;
        Ok(pb::SearchIndirectProvidersResponse {
            indirect_providers: page.items.iter().map(pb::IndirectProvider::from).collect(),
            next_page_token: page.next_page_token,
        })
    }
}
