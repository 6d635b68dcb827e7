//! Trusted verification keys: derived from the master secret in the embedded run, or read
//! from the JWKS files, each key tagged with the one [`Trust`] it vouches for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use sha2::Sha256;
use suite_config::{PublicKeyFiles, Secret};

use crate::trust::Trust;

/// Key material that could not be loaded.
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
    /// A key file was read but holds an unusable key.
    #[error("invalid key in {path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

/// A verification key and what it may vouch for.
#[derive(Clone)]
pub(crate) struct TrustedKey {
    pub key: DecodingKey,
    /// The only algorithm a token signed with this key may name.
    pub algorithm: Algorithm,
    pub trust: Trust,
}

/// The keys a verifier trusts, by `kid`.
pub(crate) enum KeyRing {
    /// Embedded run: each trust's HS256 key is derived from the master secret.
    Derived(Secret),
    /// Public keys read from the JWKS files.
    Published(HashMap<String, TrustedKey>),
}

impl KeyRing {
    /// The key with id `kid`, if trusted.
    pub fn get(&self, kid: &str) -> Option<Cow<'_, TrustedKey>> {
        match self {
            KeyRing::Derived(master) => {
                let trust = Trust::of_embedded_key_id(kid)?;
                Some(Cow::Owned(TrustedKey {
                    key: DecodingKey::from_secret(&derive_key(master, kid)),
                    algorithm: Algorithm::HS256,
                    trust,
                }))
            }
            KeyRing::Published(keys) => keys.get(kid).map(Cow::Borrowed),
        }
    }

    /// Reads every JWKS file of `files`; a `kid` found twice is refused, since a token
    /// naming it could be checked against the wrong trust.
    pub fn read(files: &PublicKeyFiles) -> Result<Self, KeyError> {
        let mut keys = HashMap::new();
        read_jwks(
            &files.identity_jwks_file,
            |_| Some(Trust::Identity),
            &mut keys,
        )?;
        if let Some(operator) = &files.operator_jwks_file {
            read_jwks(operator, |_| Some(Trust::Operator), &mut keys)?;
        }
        read_jwks(
            &files.service_jwks_file,
            Trust::of_service_key_id,
            &mut keys,
        )?;
        Ok(KeyRing::Published(keys))
    }
}

/// The HS256 key of `kid` in the embedded run: an HMAC of the id under the master secret,
/// so that each trust has its own key although one secret is configured.
pub(crate) fn derive_key(master: &Secret, kid: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so `new_from_slice` cannot fail; an empty key is the
    // harmless fallback the type system asks for.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(master.expose().as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(b"csp-suite token key\0");
    mac.update(kid.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn read_jwks(
    path: &Path,
    trust_of: impl Fn(&str) -> Option<Trust>,
    keys: &mut HashMap<String, TrustedKey>,
) -> Result<(), KeyError> {
    let shown = path.display().to_string();
    let invalid = |reason: String| KeyError::Invalid {
        path: shown.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: shown.clone(),
        source,
    })?;
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    for jwk in &set.keys {
        let kid = jwk
            .common
            .key_id
            .clone()
            .ok_or_else(|| invalid("a key has no kid".into()))?;
        if !is_for_signatures(jwk) {
            tracing::info!(path = %shown, kid, "key is not for signatures: skipped");
            continue;
        }
        let trust = trust_of(&kid)
            .ok_or_else(|| invalid(format!("kid `{kid}` does not name a service")))?;
        let algorithm =
            signature_algorithm(jwk).map_err(|reason| invalid(format!("kid `{kid}`: {reason}")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("kid `{kid}`: {e}")))?;
        if keys.contains_key(&kid) {
            return Err(invalid(format!("kid `{kid}` appears more than once")));
        }
        keys.insert(
            kid,
            TrustedKey {
                key,
                algorithm,
                trust,
            },
        );
    }
    Ok(())
}

/// A key marked for encryption (`use: enc`, or `key_ops` without `verify`) never verifies a
/// token.
fn is_for_signatures(jwk: &Jwk) -> bool {
    let usable = match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => true,
        Some(_) => false,
    };
    let operations_allow = jwk
        .common
        .key_operations
        .as_ref()
        .is_none_or(|operations| operations.contains(&KeyOperations::Verify));
    usable && operations_allow
}

/// The key's own `alg` when it names one, otherwise the usual algorithm of its key type;
/// symmetric keys have no place in a published key set.
fn signature_algorithm(jwk: &Jwk) -> Result<Algorithm, String> {
    if let AlgorithmParameters::OctetKey(_) = jwk.algorithm {
        return Err("symmetric keys are not accepted in a JWKS".into());
    }

    if let Some(named) = jwk.common.key_algorithm {
        let algorithm = Algorithm::try_from(named)
            .map_err(|_| format!("alg {named} is not a signature algorithm"))?;
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            return Err(format!("alg {named} is symmetric"));
        }
        return Ok(algorithm);
    }
    match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Ok(Algorithm::RS256),
        AlgorithmParameters::EllipticCurve(params) => match params.curve {
            EllipticCurve::P256 => Ok(Algorithm::ES256),
            EllipticCurve::P384 => Ok(Algorithm::ES384),
            _ => Err("unsupported elliptic curve".into()),
        },
        AlgorithmParameters::OctetKeyPair(_) => Ok(Algorithm::EdDSA),
        _ => Err("unsupported key type".into()),
    }
}
