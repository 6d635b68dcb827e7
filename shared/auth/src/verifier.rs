//! Verifies bearer tokens: the key named by `kid` must be trusted, the token's algorithm
//! must be that key's, and the key's trust must cover the principal the token claims. A token
//! that passes is kept until it lapses or the keys change, so a caller's next call with it is
//! checked for expiry only.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Validation;
use suite_config::{AuthConfig, AuthKeys, PublicKeyFiles};
use suite_identity::PrincipalKind;
use uuid::Uuid;

use crate::claims::Claims;
use crate::keys::{KeyError, KeyRing};
use crate::trust::Trust;
use crate::verified::VerifiedTokens;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// Why a presented token was refused; the message is safe to return to the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Expired, not yet valid, badly signed, wrong issuer or audience, or malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Signed with a key id that is not trusted.
    #[error("invalid token: unknown key id")]
    UnknownKey,
}

/// Verifies tokens presented to one service against the configured keys, re-reading the
/// JWKS files when they change.
pub struct TokenVerifier {
    keys: RwLock<Keys>,
    verified: VerifiedTokens,
    files: Option<PublicKeyFiles>,
    reload: Mutex<ReloadState>,
    reload_interval: Duration,
    issuer: String,
    api_audience: String,
    service: String,
    max_lifetime: Duration,
}

/// The trusted keys, and how many times they were read again since start-up.
#[derive(Clone)]
struct Keys {
    ring: Arc<KeyRing>,
    generation: u64,
}

struct ReloadState {
    checked: Instant,
    fingerprint: u64,
}

impl TokenVerifier {
    /// The verifier of service `service` (the audience its peers mint their tokens for).
    pub fn from_config(config: &AuthConfig, service: &str) -> Result<Self, KeyError> {
        let (ring, files, fingerprint) = match &config.keys {
            AuthKeys::SharedSecret(master) => (KeyRing::Derived(master.clone()), None, 0),
            AuthKeys::PublicKeys(files) => {
                let fingerprint = fingerprint(files)?;
                (KeyRing::read(files)?, Some(files.clone()), fingerprint)
            }
        };
        Ok(Self {
            keys: RwLock::new(Keys {
                ring: Arc::new(ring),
                generation: 0,
            }),
            verified: VerifiedTokens::new(),
            files,
            reload: Mutex::new(ReloadState {
                checked: Instant::now(),
                fingerprint,
            }),
            reload_interval: config.keys_reload_interval,
            issuer: config.issuer.clone(),
            api_audience: config.audience.clone(),
            service: service.to_owned(),
            max_lifetime: config.max_token_lifetime,
        })
    }

    /// Checks key, algorithm, signature, expiry, not-before, lifetime, issuer, audience and
    /// the key's trust, and returns the claims. A token that passed before, against the same
    /// keys, is checked for expiry only: nothing else of it can change.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, VerifyError> {
        self.reload_if_changed();
        let keys = self.current_keys();
        if let Some(claims) = self.verified.get(token, keys.generation, now_secs()) {
            return Ok(claims);
        }
        let claims = Arc::new(self.check(token, &keys.ring)?);
        // Every other check holds for good once passed (the clock does not go back by more
        // than the leeway); expiry is the one that lapses.
        self.verified.insert(
            token,
            claims.clone(),
            keys.generation,
            good_until(claims.exp),
        );
        Ok(claims)
    }

    fn check(&self, token: &str, ring: &KeyRing) -> Result<Claims, VerifyError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        let kid = header.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
        let trusted = ring.get(kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != trusted.algorithm {
            return Err(VerifyError::Invalid(format!(
                "algorithm {:?} is not the one of key {kid}",
                header.alg
            )));
        }
        let audience = match trusted.trust {
            // A service token is good only at the service it was minted for.
            Trust::Service(_) => &self.service,
            Trust::Identity | Trust::Operator => &self.api_audience,
        };
        let mut validation = Validation::new(trusted.algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &trusted.key, &validation)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?
            .claims;

        if !trusted.trust.allows(claims.kind, &claims.sub) {
            return Err(VerifyError::Invalid(format!(
                "key {kid} may not sign {} tokens for `{}`",
                claims.kind.as_str(),
                claims.sub
            )));
        }
        // A service acts for itself in no tenant and with no role: a tenant's data is
        // reached only through a caller it relays.
        if claims.kind == PrincipalKind::Service
            && (claims.tid != Uuid::nil().to_string() || !claims.roles.is_empty())
        {
            return Err(VerifyError::Invalid(
                "a service token carries the nil tenant and no roles".into(),
            ));
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > self.max_lifetime.as_secs() {
            return Err(VerifyError::Invalid(format!(
                "lifetime of {lifetime} s exceeds the {} s allowed",
                self.max_lifetime.as_secs()
            )));
        }
        if claims.iat > now_secs() + LEEWAY_SECS {
            return Err(VerifyError::Invalid("issued in the future".into()));
        }
        Uuid::parse_str(&claims.tid)
            .map_err(|_| VerifyError::Invalid("tid is not a UUID".into()))?;
        Ok(claims)
    }

    fn current_keys(&self) -> Keys {
        // Nothing panics while holding the lock, so a poisoned one still holds good keys.
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Re-reads the JWKS files at most once per interval, and swaps the keys in when the
    /// files changed and still hold a usable key set; a broken edit keeps the old keys.
    fn reload_if_changed(&self) {
        let Some(files) = &self.files else { return };
        // One request checks; the others go on with the current keys meanwhile.
        let Ok(mut state) = self.reload.try_lock() else {
            return;
        };
        if state.checked.elapsed() < self.reload_interval {
            return;
        }
        state.checked = Instant::now();
        let now = match fingerprint(files) {
            Ok(now) if now == state.fingerprint => return,
            Ok(now) => now,
            Err(error) => {
                tracing::warn!(%error, "cannot read the key files; keeping the current keys");
                return;
            }
        };
        match KeyRing::read(files) {
            Ok(ring) => {
                let mut keys = self
                    .keys
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                *keys = Keys {
                    ring: Arc::new(ring),
                    generation: keys.generation + 1,
                };
                drop(keys);
                self.verified.clear();
                state.fingerprint = now;
                tracing::info!("token keys reloaded");
            }
            Err(error) => {
                tracing::warn!(%error, "the key files changed but are unusable; keeping the current keys");
            }
        }
    }
}

/// The last second a token expiring at `exp` is good, as the check of `exp` counts it.
fn good_until(exp: u64) -> u64 {
    exp.saturating_add(LEEWAY_SECS)
}

/// A hash of the JWKS files' contents, to notice a change.
fn fingerprint(files: &PublicKeyFiles) -> Result<u64, KeyError> {
    let mut hasher = DefaultHasher::new();
    let paths = [
        Some(&files.identity_jwks_file),
        files.operator_jwks_file.as_ref(),
        Some(&files.service_jwks_file),
    ];
    for path in paths.into_iter().flatten() {
        let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        bytes.hash(&mut hasher);
    }
    Ok(hasher.finish())
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use suite_config::Secret;

    use super::*;
    use crate::{Role, TokenIssuer};

    /// A token whose expiry is `exp`, signed with the embedded identity key.
    fn token_expiring_at(config: &AuthConfig, exp: u64) -> String {
        let issuer = TokenIssuer::embedded(config, &Trust::Identity).unwrap();
        let mut claims = issuer.claims(
            "alice",
            Uuid::new_v4(),
            PrincipalKind::User,
            &[Role::AdminAgent],
            issuer.api_audience(),
            Duration::from_secs(60),
        );
        (claims.iat, claims.exp) = (exp - 60, exp);
        issuer.sign(&claims).unwrap()
    }

    /// A cached token lapses when the full check would refuse it: ten seconds either side of
    /// the leeway's end, so a tick of the clock cannot decide the test.
    #[test]
    fn a_cached_token_lapses_when_the_full_check_would_refuse_it() {
        let config = AuthConfig::development(AuthKeys::SharedSecret(Secret::new(
            "0123456789abcdef0123456789abcdef",
        )));
        let verifier = TokenVerifier::from_config(&config, "enrollment").unwrap();
        let ring = verifier.current_keys().ring;
        let now = now_secs();

        let inside = now - LEEWAY_SECS + 10;
        assert!(
            verifier
                .check(&token_expiring_at(&config, inside), &ring)
                .is_ok()
        );
        assert!(now <= good_until(inside));

        let outside = now - LEEWAY_SECS - 10;
        assert!(
            verifier
                .check(&token_expiring_at(&config, outside), &ring)
                .is_err()
        );
        assert!(now > good_until(outside));
    }

    /// A token checked once is answered from the cache after: the same decoded claims, not a
    /// second decoding; another token is checked in full.
    #[test]
    fn a_token_that_passed_is_answered_from_the_cache() {
        let config = AuthConfig::development(AuthKeys::SharedSecret(Secret::new(
            "0123456789abcdef0123456789abcdef",
        )));
        let verifier = TokenVerifier::from_config(&config, "enrollment").unwrap();
        let exp = now_secs() + 30;
        let (token, other) = (
            token_expiring_at(&config, exp),
            token_expiring_at(&config, exp),
        );

        let first = verifier.verify(&token).unwrap();
        let again = verifier.verify(&token).unwrap();
        let another = verifier.verify(&other).unwrap();

        assert!(Arc::ptr_eq(&first, &again));
        assert!(!Arc::ptr_eq(&first, &another));
        assert_ne!(first.tid, another.tid);
    }
}
