//! Signs tokens: a service's own tokens for its peers, and, in the embedded run only,
//! development tokens for users, apps and the operator.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use suite_config::{AuthConfig, AuthKeys};
use suite_identity::{PrincipalKind, Role};
use uuid::Uuid;

use crate::claims::Claims;
use crate::keys::{KeyError, derive_key};
use crate::trust::Trust;
use crate::verifier::now_secs;

/// Signs tokens with one key, whose trust decides what the tokens may claim.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    api_audience: String,
}

impl TokenIssuer {
    /// The signer of service `service`'s own tokens.
    pub fn for_service(config: &AuthConfig, service: &str) -> Result<Self, KeyError> {
        match &config.keys {
            AuthKeys::SharedSecret(_) => {
                Self::embedded(config, &Trust::Service(service.to_owned()))
            }
            AuthKeys::PublicKeys(files) => {
                let path = files.signing_key_file.display().to_string();
                let invalid = |reason: String| KeyError::Invalid {
                    path: path.clone(),
                    reason,
                };
                if Trust::of_service_key_id(&files.signing_key_id)
                    != Some(Trust::Service(service.to_owned()))
                {
                    return Err(invalid(format!(
                        "AUTH_SIGNING_KEY_ID `{}` must be `{service}` or `{service}.<suffix>`",
                        files.signing_key_id
                    )));
                }
                let pem =
                    std::fs::read(&files.signing_key_file).map_err(|source| KeyError::Read {
                        path: path.clone(),
                        source,
                    })?;
                let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| invalid(e.to_string()))?;
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(files.signing_key_id.clone());
                Ok(Self::with_key(config, key, header))
            }
        }
    }

    /// A signer for `trust` in the embedded run, where every key derives from the master
    /// secret: the `suite token` command and tests use it. Refused with public keys, where
    /// user, app and operator tokens come from their own issuers.
    pub fn embedded(config: &AuthConfig, trust: &Trust) -> Result<Self, KeyError> {
        let AuthKeys::SharedSecret(master) = &config.keys else {
            return Err(KeyError::Invalid {
                path: "AUTH_JWKS_FILE".into(),
                reason: "development tokens need the shared secret of the embedded run".into(),
            });
        };
        let kid = trust.embedded_key_id();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        let key = EncodingKey::from_secret(&derive_key(master, kid));
        Ok(Self::with_key(config, key, header))
    }

    fn with_key(config: &AuthConfig, key: EncodingKey, header: Header) -> Self {
        Self {
            key,
            header,
            issuer: config.issuer.clone(),
            api_audience: config.audience.clone(),
        }
    }

    /// Claims for `subject` of `tenant_id`, valid from now for `lifetime`, for `audience`
    /// (a service name for service tokens; [`Self::api_audience`] otherwise).
    pub fn claims(
        &self,
        subject: &str,
        tenant_id: Uuid,
        kind: PrincipalKind,
        roles: &[Role],
        audience: &str,
        lifetime: Duration,
    ) -> Claims {
        let now = now_secs();
        Claims {
            iss: self.issuer.clone(),
            aud: audience.to_owned(),
            sub: subject.to_owned(),
            tid: tenant_id.to_string(),
            roles: roles.to_vec(),
            kind,
            iat: now,
            nbf: None,
            exp: now + lifetime.as_secs(),
        }
    }

    /// The audience of user, app and operator tokens.
    pub fn api_audience(&self) -> &str {
        &self.api_audience
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, claims, &self.key)
    }
}
