//! The trust model of tokens: each key vouches for one kind of principal, a service token
//! is good only at its audience, and the usual JWT traps (none, algorithm confusion,
//! not-before, long lifetimes, duplicate or encryption keys) are refused. The RSA key pair
//! under `fixtures/` exists for these tests only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use suite_auth::{Claims, PrincipalKind, Role, TokenIssuer, TokenVerifier, Trust, VerifyError};
use suite_config::{AuthConfig, AuthKeys, PublicKeyFiles, Secret};
use tempfile::TempDir;
use uuid::Uuid;

const PRIVATE_KEY: &str = include_str!("fixtures/test-only-service-key.pem");

fn fixture_key(kid: &str) -> Value {
    let set: Value = serde_json::from_str(include_str!("fixtures/test-only-jwks.json")).unwrap();
    let mut key = set["keys"][0].clone();
    key["kid"] = json!(kid);
    key
}

fn write_jwks(path: &Path, keys: &[Value]) {
    std::fs::write(path, json!({ "keys": keys }).to_string()).unwrap();
}

/// Key files in a temporary directory: the identity provider's key `idp-1`, the operator's
/// `ops-1` and the services' `transfer.1` and `agreement`, all one test key pair.
struct KeyFiles {
    dir: TempDir,
}

impl KeyFiles {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_jwks(&dir.path().join("identity.json"), &[fixture_key("idp-1")]);
        write_jwks(&dir.path().join("operator.json"), &[fixture_key("ops-1")]);
        write_jwks(
            &dir.path().join("services.json"),
            &[fixture_key("transfer.1"), fixture_key("agreement")],
        );
        std::fs::write(dir.path().join("transfer.pem"), PRIVATE_KEY).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn config(&self, signing_key_id: &str) -> AuthConfig {
        let mut config = AuthConfig::development(AuthKeys::PublicKeys(PublicKeyFiles {
            identity_jwks_file: self.path("identity.json"),
            operator_jwks_file: Some(self.path("operator.json")),
            service_jwks_file: self.path("services.json"),
            signing_key_file: self.path("transfer.pem"),
            signing_key_id: signing_key_id.into(),
        }));
        config.keys_reload_interval = Duration::ZERO;
        config
    }

    fn verifier(&self, service: &str) -> TokenVerifier {
        TokenVerifier::from_config(&self.config("transfer.1"), service).unwrap()
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, kind: PrincipalKind, aud: &str) -> Claims {
    let service = kind == PrincipalKind::Service;
    Claims {
        iss: "csp-suite".into(),
        aud: aud.into(),
        sub: sub.into(),
        tid: if service { Uuid::nil() } else { Uuid::new_v4() }.to_string(),
        roles: if service {
            vec![]
        } else {
            vec![Role::GlobalAdmin]
        },
        kind,
        iat: now(),
        nbf: None,
        exp: now() + 600,
    }
}

fn rs256(kid: &str, claims: &Claims) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[test]
fn each_key_vouches_only_for_its_own_kind_of_principal() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let user = claims("alice", PrincipalKind::User, "csp-suite");
    let app = claims("app-1", PrincipalKind::App, "csp-suite");
    let operator = claims("ops", PrincipalKind::Operator, "csp-suite");
    let transfer = claims("transfer", PrincipalKind::Service, "enrollment");

    assert_eq!(
        verifier.verify(&rs256("idp-1", &user)).unwrap().sub,
        "alice"
    );
    assert!(verifier.verify(&rs256("idp-1", &app)).is_ok());
    assert!(verifier.verify(&rs256("ops-1", &operator)).is_ok());
    assert!(verifier.verify(&rs256("transfer.1", &transfer)).is_ok());

    // The identity provider cannot mint an operator or a service, nor the operator a user,
    // nor one service another.
    for (kid, claims) in [
        ("idp-1", &operator),
        ("idp-1", &transfer),
        ("ops-1", &user),
        ("transfer.1", &operator),
        ("agreement", &transfer),
        (
            "transfer.1",
            &claims("transfer", PrincipalKind::User, "csp-suite"),
        ),
    ] {
        let refused = verifier.verify(&rs256(kid, claims));
        assert!(
            matches!(refused, Err(VerifyError::Invalid(_))),
            "{kid} signing {:?} {}: {refused:?}",
            claims.kind,
            claims.sub
        );
    }
}

#[test]
fn a_service_token_claiming_a_tenant_or_roles_is_refused() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let mut in_a_tenant = claims("transfer", PrincipalKind::Service, "enrollment");
    in_a_tenant.tid = Uuid::new_v4().to_string();
    let mut with_roles = claims("transfer", PrincipalKind::Service, "enrollment");
    with_roles.roles = vec![Role::GlobalAdmin];
    for forged in [in_a_tenant, with_roles] {
        assert!(
            matches!(
                verifier.verify(&rs256("transfer.1", &forged)),
                Err(VerifyError::Invalid(_))
            ),
            "{forged:?}"
        );
    }
}

#[test]
fn a_service_token_is_good_only_at_the_service_it_was_minted_for() {
    let keys = KeyFiles::new();
    let for_enrollment = rs256(
        "transfer.1",
        &claims("transfer", PrincipalKind::Service, "enrollment"),
    );
    assert!(keys.verifier("enrollment").verify(&for_enrollment).is_ok());
    assert!(
        keys.verifier("relationship")
            .verify(&for_enrollment)
            .is_err()
    );

    // Nor may a service token take the audience of user tokens.
    let for_everyone = rs256(
        "transfer.1",
        &claims("transfer", PrincipalKind::Service, "csp-suite"),
    );
    assert!(keys.verifier("enrollment").verify(&for_everyone).is_err());
}

#[test]
fn expired_not_yet_valid_future_and_long_lived_tokens_are_refused() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let base = claims("alice", PrincipalKind::User, "csp-suite");

    let mut expired = base.clone();
    (expired.iat, expired.exp) = (now() - 7_200, now() - 3_600);
    let mut not_yet = base.clone();
    not_yet.nbf = Some(now() + 3_600);
    let mut issued_later = base.clone();
    (issued_later.iat, issued_later.exp) = (now() + 3_600, now() + 4_000);
    let mut long_lived = base.clone();
    long_lived.exp = now() + 2 * 86_400;

    for (what, claims) in [
        ("expired", expired),
        ("not yet valid", not_yet),
        ("issued in the future", issued_later),
        ("lifetime over the maximum", long_lived),
    ] {
        assert!(
            matches!(
                verifier.verify(&rs256("idp-1", &claims)),
                Err(VerifyError::Invalid(_))
            ),
            "{what}"
        );
    }
}

#[test]
fn unsigned_confused_and_tampered_tokens_are_refused() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let claims = claims("mallory", PrincipalKind::User, "csp-suite");
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"idp-1","typ":"JWT"}"#);
    assert!(verifier.verify(&format!("{none_header}.{body}.")).is_err());

    // HS256 keyed with the public modulus: the classic algorithm-confusion forgery.
    let modulus = fixture_key("idp-1")["n"].as_str().unwrap().to_owned();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("idp-1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(modulus.as_bytes()),
    )
    .unwrap();
    assert!(matches!(
        verifier.verify(&confused),
        Err(VerifyError::Invalid(_))
    ));

    let genuine = rs256("idp-1", &claims);
    let (head, rest) = genuine.split_once('.').unwrap();
    let signature = rest.split_once('.').unwrap().1;
    let mut tampered = claims.clone();
    tampered.roles = vec![Role::GlobalAdmin, Role::AdminAgent];
    let tampered_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered).unwrap());
    assert!(
        verifier
            .verify(&format!("{head}.{tampered_body}.{signature}"))
            .is_err()
    );

    let unknown = rs256("retired-key", &claims);
    assert_eq!(verifier.verify(&unknown), Err(VerifyError::UnknownKey));
}

#[test]
fn a_duplicate_kid_fails_at_start_and_encryption_keys_are_never_used() {
    let keys = KeyFiles::new();
    write_jwks(&keys.path("operator.json"), &[fixture_key("idp-1")]);
    let error = TokenVerifier::from_config(&keys.config("transfer.1"), "enrollment")
        .err()
        .expect("a kid in two files is refused");
    assert!(error.to_string().contains("idp-1"), "{error}");

    let keys = KeyFiles::new();
    let mut encryption = fixture_key("idp-enc");
    encryption["use"] = json!("enc");
    write_jwks(
        &keys.path("identity.json"),
        &[fixture_key("idp-1"), encryption],
    );
    let verifier = keys.verifier("enrollment");
    let token = rs256(
        "idp-enc",
        &claims("alice", PrincipalKind::User, "csp-suite"),
    );
    assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
}

#[test]
fn changed_key_files_are_read_again_without_a_restart() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let rotated = rs256("idp-2", &claims("alice", PrincipalKind::User, "csp-suite"));
    assert_eq!(verifier.verify(&rotated), Err(VerifyError::UnknownKey));

    write_jwks(&keys.path("identity.json"), &[fixture_key("idp-2")]);
    assert!(verifier.verify(&rotated).is_ok());
    let retired = rs256("idp-1", &claims("alice", PrincipalKind::User, "csp-suite"));
    assert_eq!(verifier.verify(&retired), Err(VerifyError::UnknownKey));

    // A broken edit keeps the keys that work.
    std::fs::write(keys.path("identity.json"), "{ not json").unwrap();
    assert!(verifier.verify(&rotated).is_ok());
}

#[test]
fn a_token_accepted_before_its_key_was_retired_is_refused_after() {
    let keys = KeyFiles::new();
    let verifier = keys.verifier("enrollment");
    let token = rs256("idp-1", &claims("alice", PrincipalKind::User, "csp-suite"));
    assert_eq!(verifier.verify(&token).unwrap().sub, "alice");
    assert_eq!(verifier.verify(&token).unwrap().sub, "alice");

    write_jwks(&keys.path("identity.json"), &[fixture_key("idp-2")]);
    assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
    // Put back, the key vouches for its tokens again.
    write_jwks(&keys.path("identity.json"), &[fixture_key("idp-1")]);
    assert!(verifier.verify(&token).is_ok());
}

#[test]
fn a_service_signs_only_with_its_own_key() {
    let keys = KeyFiles::new();
    let issuer = TokenIssuer::for_service(&keys.config("transfer.1"), "transfer").unwrap();
    let token = issuer
        .sign(&issuer.claims(
            "transfer",
            Uuid::nil(),
            PrincipalKind::Service,
            &[],
            "agreement",
            Duration::from_secs(60),
        ))
        .unwrap();
    assert!(keys.verifier("agreement").verify(&token).is_ok());

    let error = TokenIssuer::for_service(&keys.config("agreement"), "transfer")
        .err()
        .expect("another service's key id is refused");
    assert!(error.to_string().contains("AUTH_SIGNING_KEY_ID"), "{error}");
    assert!(TokenIssuer::embedded(&keys.config("transfer.1"), &Trust::Operator).is_err());
}

#[test]
fn embedded_keys_are_one_per_trust_and_the_master_secret_signs_nothing() {
    let master = "0123456789abcdef0123456789abcdef";
    let config = AuthConfig::development(AuthKeys::SharedSecret(Secret::new(master)));
    let verifier = TokenVerifier::from_config(&config, "enrollment").unwrap();
    let identity = TokenIssuer::embedded(&config, &Trust::Identity).unwrap();

    let user = claims("alice", PrincipalKind::User, "csp-suite");
    assert!(verifier.verify(&identity.sign(&user).unwrap()).is_ok());
    let operator = claims("mallory", PrincipalKind::Operator, "csp-suite");
    assert!(verifier.verify(&identity.sign(&operator).unwrap()).is_err());

    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("operator".into());
    let raw = jsonwebtoken::encode(
        &header,
        &operator,
        &EncodingKey::from_secret(master.as_bytes()),
    )
    .unwrap();
    assert!(verifier.verify(&raw).is_err());
}
