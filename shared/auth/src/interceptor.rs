use std::sync::Arc;

use suite_errors::ApiError;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::ON_BEHALF_OF_HEADER;
use crate::caller::{Caller, Principal};
use crate::claims::PrincipalKind;
use crate::keys::TokenVerifier;

/// Tonic interceptor that verifies the bearer token (and a forwarded user token on calls from
/// a service) and stores the [`Caller`] in the request extensions. Health and reflection are
/// served without it so probes and `grpcurl list` need no token.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<TokenVerifier>,
    domain: &'static str,
}

impl Authenticator {
    /// An authenticator whose refusals name `domain`, the service.
    pub fn new(verifier: Arc<TokenVerifier>, domain: &'static str) -> Self {
        Self { verifier, domain }
    }

    fn authenticate(&self, metadata: &MetadataMap) -> Result<Caller, ApiError> {
        let token = bearer_token(metadata)?;
        let principal = self.principal(token)?;
        let forwarded = metadata
            .get(ON_BEHALF_OF_HEADER)
            .map(|value| {
                value
                    .to_str()
                    .map_err(|_| ApiError::unauthenticated("x-on-behalf-of is not ASCII"))
            })
            .transpose()?;

        match (principal.kind, forwarded) {
            (PrincipalKind::Service, Some(user_token)) => {
                let user = self.principal(user_token)?;
                if user.kind == PrincipalKind::Service {
                    return Err(ApiError::unauthenticated(
                        "x-on-behalf-of must carry a user, app or operator token",
                    ));
                }
                Ok(Caller::new(
                    user,
                    Some(principal.subject),
                    user_token.to_owned(),
                ))
            }
            (_, Some(_)) => Err(ApiError::unauthenticated(
                "only a service may act on behalf of another principal",
            )),
            (_, None) => Ok(Caller::new(principal, None, token.to_owned())),
        }
    }

    fn principal(&self, token: &str) -> Result<Principal, ApiError> {
        let claims = self
            .verifier
            .verify(token)
            .map_err(|e| ApiError::unauthenticated(e.to_string()))?;
        Principal::from_claims(&claims).map_err(ApiError::unauthenticated)
    }
}

fn bearer_token(metadata: &MetadataMap) -> Result<&str, ApiError> {
    let value = metadata.get("authorization").ok_or_else(|| {
        ApiError::unauthenticated(
            "missing authorization metadata: send `authorization: Bearer <token>`",
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("authorization metadata is not ASCII"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("authorization metadata must be `Bearer <token>`"))
}

impl Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let caller = self
            .authenticate(request.metadata())
            .map_err(|error| error.into_status(self.domain))?;
        let span = tracing::Span::current();
        span.record("tenant_id", tracing::field::display(caller.tenant_id()));
        span.record("subject", caller.actor().subject.as_str());
        if let Some(service) = caller.via_service() {
            span.record("via_service", service);
        }
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}
