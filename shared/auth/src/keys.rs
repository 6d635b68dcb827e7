use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use suite_config::{AuthConfig, AuthKeys};
use uuid::Uuid;

use crate::claims::{Claims, PrincipalKind, Role};

/// Key material that could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A key file was read but is not a usable key.
    #[error("invalid key in {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// Why a presented token was refused; the message is safe to return to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Expired, badly signed, wrong issuer or audience, or malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key id that is not trusted.
    #[error("invalid token: unknown key id")]
    UnknownKey,
}

/// Verifies tokens against the configured keys.
#[derive(Clone)]
pub struct TokenVerifier {
    shared: Option<DecodingKey>,
    by_key_id: HashMap<String, (DecodingKey, Algorithm)>,
    issuer: String,
    audience: String,
}

impl TokenVerifier {
    /// Loads the verification keys named by the configuration.
    pub fn from_config(config: &AuthConfig) -> Result<Self, KeyError> {
        let mut verifier = Self {
            shared: None,
            by_key_id: HashMap::new(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        };
        match &config.keys {
            AuthKeys::SharedSecret(secret) => {
                verifier.shared = Some(DecodingKey::from_secret(secret.expose().as_bytes()));
            }
            AuthKeys::PublicKeys { jwks_file, .. } => {
                let path = jwks_file.display().to_string();
                let text = std::fs::read_to_string(jwks_file).map_err(|source| KeyError::Read {
                    path: path.clone(),
                    source,
                })?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| KeyError::Invalid {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                for jwk in &set.keys {
                    let Some(kid) = jwk.common.key_id.clone() else {
                        return Err(KeyError::Invalid {
                            path,
                            reason: "a key has no kid".into(),
                        });
                    };
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Invalid {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                    verifier.by_key_id.insert(kid, (key, Algorithm::RS256));
                }
            }
        }
        Ok(verifier)
    }

    /// Checks signature, expiry, issuer and audience, and returns the claims.
    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let (key, algorithm) = match (&self.shared, header.kid.as_deref()) {
            (Some(key), _) => (key, Algorithm::HS256),
            (None, Some(kid)) => {
                let (key, algorithm) = self.by_key_id.get(kid).ok_or(VerifyError::UnknownKey)?;
                (key, *algorithm)
            }
            (None, None) => return Err(VerifyError::UnknownKey),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        Uuid::parse_str(&data.claims.tid)
            .map_err(|_| VerifyError::Invalid("tid is not a UUID".into()))?;
        Ok(data.claims)
    }
}

/// Signs tokens: a service's own token for calls to its peers, or development tokens.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
}

impl TokenIssuer {
    /// The signing key named by the configuration.
    pub fn from_config(config: &AuthConfig) -> Result<Self, KeyError> {
        let (key, header) = match &config.keys {
            AuthKeys::SharedSecret(secret) => (
                EncodingKey::from_secret(secret.expose().as_bytes()),
                Header::new(Algorithm::HS256),
            ),
            AuthKeys::PublicKeys {
                signing_key_file,
                signing_key_id,
                ..
            } => {
                let path = signing_key_file.display().to_string();
                let pem = std::fs::read(signing_key_file).map_err(|source| KeyError::Read {
                    path: path.clone(),
                    source,
                })?;
                let key = EncodingKey::from_rsa_pem(&pem).map_err(|e| KeyError::Invalid {
                    path,
                    reason: e.to_string(),
                })?;
                let mut header = Header::new(Algorithm::RS256);
                header.kid = Some(signing_key_id.clone());
                (key, header)
            }
        };
        Ok(Self {
            key,
            header,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    /// Signs a token for `subject` in `tenant_id`, valid for `lifetime`.
    pub fn issue(
        &self,
        subject: &str,
        tenant_id: Uuid,
        kind: PrincipalKind,
        roles: &[Role],
        lifetime: Duration,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_owned(),
            tid: tenant_id.to_string(),
            roles: roles.to_vec(),
            kind,
            iat: now,
            exp: now + lifetime.as_secs(),
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suite_config::Secret;

    fn config(secret: &str) -> AuthConfig {
        AuthConfig {
            keys: AuthKeys::SharedSecret(Secret::new(secret)),
            issuer: "csp-suite".into(),
            audience: "csp-suite".into(),
        }
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let issuer = TokenIssuer::from_config(&config(SECRET)).unwrap();
        let tenant = Uuid::new_v4();
        let token = issuer
            .issue(
                "alice",
                tenant,
                PrincipalKind::User,
                &[Role::GlobalAdmin],
                Duration::from_secs(60),
            )
            .unwrap();
        let claims = TokenVerifier::from_config(&config(SECRET))
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.tid, tenant.to_string());
        assert_eq!(claims.roles, [Role::GlobalAdmin]);
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let issuer = TokenIssuer::from_config(&config("another-secret-another-secret-xx")).unwrap();
        let token = issuer
            .issue(
                "mallory",
                Uuid::new_v4(),
                PrincipalKind::Operator,
                &[],
                Duration::from_secs(60),
            )
            .unwrap();
        let verifier = TokenVerifier::from_config(&config(SECRET)).unwrap();
        assert!(matches!(
            verifier.verify(&token),
            Err(VerifyError::Invalid(_))
        ));
    }

    #[test]
    fn expired_token_is_refused() {
        let issuer = TokenIssuer::from_config(&config(SECRET)).unwrap();
        let token = issuer
            .issue(
                "alice",
                Uuid::new_v4(),
                PrincipalKind::User,
                &[],
                Duration::ZERO,
            )
            .unwrap();
        let mut verifier = TokenVerifier::from_config(&config(SECRET)).unwrap();
        verifier.audience = "csp-suite".into();
        // Zero lifetime is within the default 60 s leeway, so build one already past it.
        let claims = Claims {
            iss: "csp-suite".into(),
            aud: "csp-suite".into(),
            sub: "alice".into(),
            tid: Uuid::new_v4().to_string(),
            roles: vec![],
            kind: PrincipalKind::User,
            iat: 1,
            exp: 2,
        };
        let old = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(verifier.verify(&token).is_ok());
        assert!(matches!(
            verifier.verify(&old),
            Err(VerifyError::Invalid(_))
        ));
    }
}
