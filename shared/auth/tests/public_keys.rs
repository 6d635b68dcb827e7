//! Production key material: RS256 tokens signed with a service's private key and verified
//! against a JWKS file. The key pair under `fixtures/` exists for this test only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::path::PathBuf;
use std::time::Duration;

use suite_auth::{PrincipalKind, Role, TokenIssuer, TokenVerifier, VerifyError};
use suite_config::{AuthConfig, AuthKeys, Secret};
use uuid::Uuid;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn public_keys(key_id: &str) -> AuthConfig {
    AuthConfig {
        keys: AuthKeys::PublicKeys {
            jwks_file: fixture("test-only-jwks.json"),
            signing_key_file: fixture("test-only-service-key.pem"),
            signing_key_id: key_id.into(),
        },
        issuer: "csp-suite".into(),
        audience: "csp-suite".into(),
    }
}

#[test]
fn rs256_token_signed_by_a_service_verifies_against_the_jwks() {
    let config = public_keys("test-service-key");
    let token = TokenIssuer::from_config(&config)
        .unwrap()
        .issue(
            "transfer",
            Uuid::nil(),
            PrincipalKind::Service,
            &[],
            Duration::from_secs(60),
        )
        .unwrap();
    let claims = TokenVerifier::from_config(&config)
        .unwrap()
        .verify(&token)
        .unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.kind),
        ("transfer", PrincipalKind::Service)
    );
}

#[test]
fn key_id_missing_from_the_jwks_is_refused() {
    let signer = TokenIssuer::from_config(&public_keys("retired-key")).unwrap();
    let token = signer
        .issue(
            "transfer",
            Uuid::nil(),
            PrincipalKind::Service,
            &[],
            Duration::from_secs(60),
        )
        .unwrap();
    let verifier = TokenVerifier::from_config(&public_keys("test-service-key")).unwrap();
    assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
}

#[test]
fn shared_secret_tokens_are_refused_where_public_keys_are_configured() {
    let shared = AuthConfig {
        keys: AuthKeys::SharedSecret(Secret::new("0123456789abcdef0123456789abcdef")),
        issuer: "csp-suite".into(),
        audience: "csp-suite".into(),
    };
    let forged = TokenIssuer::from_config(&shared)
        .unwrap()
        .issue(
            "mallory",
            Uuid::new_v4(),
            PrincipalKind::User,
            &[Role::GlobalAdmin],
            Duration::from_secs(60),
        )
        .unwrap();
    let verifier = TokenVerifier::from_config(&public_keys("test-service-key")).unwrap();
    assert!(verifier.verify(&forged).is_err());
}

#[test]
fn unreadable_key_files_fail_at_start_up() {
    let mut config = public_keys("test-service-key");
    config.keys = AuthKeys::PublicKeys {
        jwks_file: fixture("missing.json"),
        signing_key_file: fixture("test-only-service-key.pem"),
        signing_key_id: "test-service-key".into(),
    };
    let error = TokenVerifier::from_config(&config)
        .err()
        .expect("a missing JWKS file is an error");
    assert!(error.to_string().contains("missing.json"), "{error}");
}
