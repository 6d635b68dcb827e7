use std::sync::Arc;

use suite_errors::ApiError;
use tonic::metadata::MetadataMap;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use suite_identity::{Caller, Principal, PrincipalKind};
use uuid::Uuid;

use crate::ON_BEHALF_OF_HEADER;
use crate::claims::Claims;
use crate::verifier::TokenVerifier;

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
        principal_of(&claims).map_err(ApiError::unauthenticated)
    }
}

fn principal_of(claims: &Claims) -> Result<Principal, String> {
    let tenant_id = Uuid::parse_str(&claims.tid).map_err(|_| "tid is not a UUID".to_owned())?;
    Ok(Principal {
        subject: claims.sub.clone(),
        tenant_id,
        roles: claims.roles.clone(),
        kind: claims.kind,
    })
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
            .map_err(|error| suite_status::to_status(error, self.domain))?;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use suite_config::{AuthConfig, AuthKeys, Secret};
    use uuid::Uuid;

    use super::*;
    use crate::{Role, TokenIssuer, Trust};

    fn config() -> AuthConfig {
        AuthConfig::development(AuthKeys::SharedSecret(Secret::new(
            "0123456789abcdef0123456789abcdef",
        )))
    }

    fn token(subject: &str, tenant: Uuid, kind: PrincipalKind, roles: &[Role]) -> String {
        let trust = match kind {
            PrincipalKind::User | PrincipalKind::App => Trust::Identity,
            PrincipalKind::Operator => Trust::Operator,
            PrincipalKind::Service => Trust::Service(subject.to_owned()),
        };
        let issuer = TokenIssuer::embedded(&config(), &trust).unwrap();
        let audience = match kind {
            PrincipalKind::Service => "enrollment".to_owned(),
            _ => issuer.api_audience().to_owned(),
        };
        issuer
            .sign(&issuer.claims(
                subject,
                tenant,
                kind,
                roles,
                &audience,
                Duration::from_secs(60),
            ))
            .unwrap()
    }

    fn call(headers: &[(&'static str, String)]) -> Result<Caller, Status> {
        let mut authenticator = Authenticator::new(
            Arc::new(TokenVerifier::from_config(&config(), "enrollment").unwrap()),
            "enrollment",
        );
        let mut request = Request::new(());
        for (key, value) in headers {
            request.metadata_mut().insert(*key, value.parse().unwrap());
        }
        authenticator
            .call(request)
            .map(|request| request.extensions().get::<Caller>().unwrap().clone())
    }

    #[test]
    fn service_acting_for_a_user_shows_both() {
        let tenant = Uuid::new_v4();
        let user = token("alice", tenant, PrincipalKind::User, &[Role::AdminAgent]);
        let service = token("transfer", Uuid::nil(), PrincipalKind::Service, &[]);

        let caller = call(&[
            ("authorization", format!("Bearer {service}")),
            (ON_BEHALF_OF_HEADER, user.clone()),
        ])
        .unwrap();
        assert_eq!(caller.actor().subject, "alice");
        assert_eq!(caller.tenant_id(), tenant);
        assert_eq!(caller.via_service(), Some("transfer"));
        assert_eq!(caller.actor_token(), user);
        assert!(caller.require_role(Role::AdminAgent).is_ok());
        // Relaying a user is not acting as the service: service-only calls stay closed.
        assert!(caller.require_service("transfer").is_err());
    }

    #[test]
    fn service_acting_for_itself_is_the_service_and_reaches_no_tenant() {
        let service = token("agreement", Uuid::nil(), PrincipalKind::Service, &[]);
        let caller = call(&[("authorization", format!("Bearer {service}"))]).unwrap();
        assert!(caller.is_service("agreement"));
        assert_eq!(caller.via_service(), None);
        assert!(!caller.can_access_tenant(Uuid::new_v4()));
    }

    #[test]
    fn only_services_may_forward_a_token() {
        let user = token("alice", Uuid::new_v4(), PrincipalKind::User, &[]);
        let other = token(
            "mallory",
            Uuid::new_v4(),
            PrincipalKind::User,
            &[Role::GlobalAdmin],
        );
        let status = call(&[
            ("authorization", format!("Bearer {user}")),
            (ON_BEHALF_OF_HEADER, other),
        ])
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);

        let service = token("transfer", Uuid::nil(), PrincipalKind::Service, &[]);
        let status = call(&[
            ("authorization", format!("Bearer {service}")),
            (ON_BEHALF_OF_HEADER, service.clone()),
        ])
        .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn missing_or_malformed_authorization_is_unauthenticated() {
        for headers in [
            vec![],
            vec![("authorization", "Basic abc".to_owned())],
            vec![("authorization", "Bearer ".to_owned())],
        ] {
            let status = call(&headers).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{headers:?}");
        }
    }
}
