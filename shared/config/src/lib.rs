//! Service configuration read from the environment and validated at start-up, so that a
//! misconfigured pod fails at once with every problem named, not at its first request.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A value that must never appear in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Where token keys come from. Each key is trusted for one kind of principal only: user and
/// app tokens come from the identity provider, operator tokens from the operator's key, and
/// each service's tokens from that service's own key.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthKeys {
    /// The embedded default: one master secret from which a separate HS256 key is derived
    /// for the identity provider, the operator and each service. Whoever holds the master
    /// can mint any token, so it is for a local run only.
    SharedSecret(Secret),
    /// Production: public keys in JWKS files, one file per kind of issuer.
    PublicKeys(PublicKeyFiles),
}

/// The JWKS files of [`AuthKeys::PublicKeys`] and this service's own signing key. The files
/// are read again when they change, so keys rotate without a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKeyFiles {
    /// The identity provider's keys: trusted for user and app tokens only.
    pub identity_jwks_file: PathBuf,
    /// The operator's keys: trusted for operator tokens only; none accepted when absent.
    pub operator_jwks_file: Option<PathBuf>,
    /// The services' keys: a key whose `kid` is `transfer` or `transfer.<suffix>` is trusted
    /// only for tokens of the transfer service.
    pub service_jwks_file: PathBuf,
    /// PEM private key of this service.
    pub signing_key_file: PathBuf,
    /// `kid` of this service's key in the services' JWKS.
    pub signing_key_id: String,
}

/// Token verification settings shared by every service.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// Key material.
    pub keys: AuthKeys,
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim of user, app and operator tokens (the suite's API). A service
    /// token's audience is the one service it was minted for.
    pub audience: String,
    /// Tokens valid for longer than this (`exp - iat`) are refused.
    pub max_token_lifetime: Duration,
    /// How often the JWKS files are checked for changes.
    pub keys_reload_interval: Duration,
}

impl AuthConfig {
    /// The development settings around `keys`: default issuer and audience and limits.
    pub fn development(keys: AuthKeys) -> Self {
        Self {
            keys,
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_ISSUER.to_owned(),
            max_token_lifetime: Duration::from_secs(DEFAULT_MAX_TOKEN_LIFETIME_SECS),
            keys_reload_interval: Duration::from_secs(DEFAULT_KEYS_RELOAD_SECS),
        }
    }
}

/// Addresses of the other services, as `http://host:port` URLs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerUrls {
    /// Enrollment service.
    pub enrollment: Option<String>,
    /// Relationship service.
    pub relationship: Option<String>,
    /// Agreement service.
    pub agreement: Option<String>,
    /// Transfer service.
    pub transfer: Option<String>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Everything one service needs to start.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// Where the gRPC server listens.
    pub listen_addr: SocketAddr,
    /// `sqlite://...` or `postgres://...`; the scheme picks the backend.
    pub database_url: Secret,
    /// Token verification.
    pub auth: AuthConfig,
    /// Key that signs pagination tokens so clients cannot forge them.
    pub page_token_secret: Secret,
    /// Longest time a request may run before it is cancelled.
    pub request_timeout: Duration,
    /// Most calls served at once; as many more may wait for a slot up to
    /// `concurrency_wait`, and the rest are refused with UNAVAILABLE (OVERLOADED).
    pub concurrency_limit: usize,
    /// Longest a call beyond the concurrency limit waits for a slot; zero refuses it at once.
    pub concurrency_wait: Duration,
    /// A pooled database connection idle at least this long is checked before it is handed
    /// out; `None` keeps the database layer's default.
    pub database_check_idle_after: Option<Duration>,
    /// Other services this one calls.
    pub peers: PeerUrls,
    /// How long an answer of the enrollment service about a tenant's capabilities is kept:
    /// the longest a change of programs takes to reach the other services.
    pub capability_cache_ttl: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// Where the Prometheus scrape endpoint (`GET /metrics`) listens, apart from the gRPC
    /// port; none when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// Where e-mails go.
    pub mail: MailConfig,
    /// How long delivered outbox messages and idempotency keys are kept.
    pub retention: Retention,
}

/// How long the platform tables keep what has served its purpose; audit events and dead
/// letters are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Delivered outbox messages.
    pub delivered_messages: Duration,
    /// Idempotency keys: a retry later than this is a new request.
    pub idempotency_keys: Duration,
}

/// A week, for both.
const DEFAULT_RETENTION_HOURS: u64 = 168;

impl Default for Retention {
    fn default() -> Self {
        let week = Duration::from_secs(DEFAULT_RETENTION_HOURS * 3_600);
        Self {
            delivered_messages: week,
            idempotency_keys: week,
        }
    }
}

/// Where the service's e-mails go: an SMTP server, a directory (one file per message, for
/// the embedded suite), or nowhere yet (they wait in the outbox until one is configured).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailConfig {
    /// `smtp://host:port` or `smtps://user:password@host` (TLS); `?tls=required` asks for
    /// STARTTLS on `smtp://`.
    pub smtp_url: Option<Secret>,
    /// A directory to write each message to instead.
    pub directory: Option<std::path::PathBuf>,
    /// The sender, e.g. `CSP suite <no-reply@partners.example.com>`.
    pub from: String,
}

/// Sender of e-mails when `MAIL_FROM` is not set.
pub const DEFAULT_MAIL_FROM: &str = "CSP suite <no-reply@csp-suite.invalid>";

/// Every problem found in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

impl std::error::Error for ConfigError {}

const MIN_SECRET_BYTES: usize = 32;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_CONCURRENCY_LIMIT: usize = 256;
const MAX_CONCURRENCY_LIMIT: usize = 1_000_000;
/// Long enough to ride out a stall of the machine (a CPU quota's throttling, a burst of
/// calls at once), short enough that the excess of a lasting overload learns it quickly.
const DEFAULT_CONCURRENCY_WAIT_MS: u64 = 50;
const DEFAULT_ISSUER: &str = "csp-suite";
/// A day: longer-lived bearer tokens are too dangerous if they leak.
const DEFAULT_MAX_TOKEN_LIFETIME_SECS: u64 = 86_400;
const DEFAULT_KEYS_RELOAD_SECS: u64 = 30;
const DEFAULT_CAPABILITY_CACHE_TTL_MS: u64 = 5_000;
const MAX_DATABASE_CHECK_IDLE_AFTER_MS: u64 = 600_000;

impl ServiceConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        Self::from_lookup(default_port, |key| std::env::var(key).ok())
    }

    /// Reads the configuration through `lookup`, so tests need not touch the environment.
    pub fn from_lookup(
        default_port: u16,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let get = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());

        let listen_addr = match get("LISTEN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], default_port)),
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                problems.push(format!(
                    "LISTEN_ADDR: `{raw}` is not a socket address like 0.0.0.0:{default_port}"
                ));
                SocketAddr::from(([127, 0, 0, 1], default_port))
            }),
        };

        let database_url = match get("DATABASE_URL") {
            Some(url)
                if url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://") =>
            {
                url
            }
            Some(_) => {
                problems.push("DATABASE_URL: must start with sqlite: or postgres://".to_owned());
                String::new()
            }
            None => {
                problems.push("DATABASE_URL: missing".to_owned());
                String::new()
            }
        };

        let keys = read_auth_keys(&get, &mut problems);
        let page_token_secret = match (get("PAGE_TOKEN_SECRET"), &keys) {
            (Some(secret), _) if secret.len() >= MIN_SECRET_BYTES => Secret::new(secret),
            (Some(_), _) => {
                problems.push(format!(
                    "PAGE_TOKEN_SECRET: must be at least {MIN_SECRET_BYTES} bytes"
                ));
                Secret::new("")
            }
            // With a shared secret the page-token key is derived from it under another label.
            (None, Some(AuthKeys::SharedSecret(secret))) => {
                Secret::new(format!("page-token:{}", secret.expose()))
            }
            (None, _) => {
                problems
                    .push("PAGE_TOKEN_SECRET: missing (required with AUTH_JWKS_FILE)".to_owned());
                Secret::new("")
            }
        };

        let request_timeout = Duration::from_millis(parse_number(
            &get,
            "REQUEST_TIMEOUT_MS",
            DEFAULT_REQUEST_TIMEOUT_MS,
            &mut problems,
        ));
        let concurrency_limit = parse_number(
            &get,
            "CONCURRENCY_LIMIT",
            DEFAULT_CONCURRENCY_LIMIT as u64,
            &mut problems,
        );
        if concurrency_limit == 0 {
            problems.push("CONCURRENCY_LIMIT: must be at least 1".to_owned());
        }
        // Far above what an instance serves; beyond it a semaphore could not be made.
        if concurrency_limit > MAX_CONCURRENCY_LIMIT as u64 {
            problems.push(format!(
                "CONCURRENCY_LIMIT: at most {MAX_CONCURRENCY_LIMIT}"
            ));
        }
        // A call spends at most a tenth of its time in line, so the rest is left for its
        // work, as statements end a tenth before the deadline.
        let longest_wait = request_timeout / 10;
        let concurrency_wait = match get("CONCURRENCY_WAIT_MS") {
            None => Duration::from_millis(DEFAULT_CONCURRENCY_WAIT_MS).min(longest_wait),
            Some(_) => {
                let wait = Duration::from_millis(parse_number(
                    &get,
                    "CONCURRENCY_WAIT_MS",
                    0,
                    &mut problems,
                ));
                if wait > longest_wait {
                    problems.push(format!(
                        "CONCURRENCY_WAIT_MS: at most a tenth of REQUEST_TIMEOUT_MS ({} ms)",
                        longest_wait.as_millis()
                    ));
                }
                wait
            }
        };
        let database_check_idle_after = get("DATABASE_CHECK_IDLE_AFTER_MS").map(|_| {
            let milliseconds = parse_number(&get, "DATABASE_CHECK_IDLE_AFTER_MS", 0, &mut problems);
            // The pool closes a connection idle for ten minutes: a longer wait never checks.
            if milliseconds > MAX_DATABASE_CHECK_IDLE_AFTER_MS {
                problems.push(format!(
                    "DATABASE_CHECK_IDLE_AFTER_MS: at most {MAX_DATABASE_CHECK_IDLE_AFTER_MS}"
                ));
            }
            Duration::from_millis(milliseconds)
        });

        let mut peer = |key: &str| {
            let raw = get(key)?;
            if raw.starts_with("http://") || raw.starts_with("https://") {
                Some(raw)
            } else {
                problems.push(format!(
                    "{key}: `{raw}` must be a URL like http://host:port"
                ));
                None
            }
        };
        let peers = PeerUrls {
            enrollment: peer("ENROLLMENT_URL"),
            relationship: peer("RELATIONSHIP_URL"),
            agreement: peer("AGREEMENT_URL"),
            transfer: peer("TRANSFER_URL"),
        };

        let capability_cache_ttl = Duration::from_millis(parse_number(
            &get,
            "CAPABILITY_CACHE_TTL_MS",
            DEFAULT_CAPABILITY_CACHE_TTL_MS,
            &mut problems,
        ));

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(format!("LOG_FORMAT: `{other}` is neither text nor json"));
                LogFormat::Text
            }
        };

        let metrics_addr = get("METRICS_ADDR").and_then(|raw| match raw.parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                problems.push(format!(
                    "METRICS_ADDR: `{raw}` is not a socket address like 0.0.0.0:9464"
                ));
                None
            }
        });

        let max_token_lifetime = Duration::from_secs(parse_number(
            &get,
            "AUTH_MAX_TOKEN_LIFETIME_SECS",
            DEFAULT_MAX_TOKEN_LIFETIME_SECS,
            &mut problems,
        ));
        let keys_reload_interval = Duration::from_secs(parse_number(
            &get,
            "AUTH_KEYS_RELOAD_SECS",
            DEFAULT_KEYS_RELOAD_SECS,
            &mut problems,
        ));
        let auth = AuthConfig {
            keys: keys.unwrap_or(AuthKeys::SharedSecret(Secret::new(""))),
            issuer: get("AUTH_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
            audience: get("AUTH_AUDIENCE").unwrap_or_else(|| DEFAULT_ISSUER.to_owned()),
            max_token_lifetime,
            keys_reload_interval,
        };

        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                problems.push("SMTP_URL: must start with smtp:// or smtps://".to_owned());
            }
            // A password is only sent over TLS: smtps://, or STARTTLS required.
            let has_credentials = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split('/').next())
                .is_some_and(|authority| authority.contains('@'));
            if has_credentials && url.starts_with("smtp://") && !url.contains("tls=required") {
                problems.push(
                    "SMTP_URL: credentials only over TLS: use smtps:// or add ?tls=required"
                        .to_owned(),
                );
            }
        }
        let mail_dir = get("MAIL_DIR");
        if smtp_url.is_some() && mail_dir.is_some() {
            problems.push("MAIL_DIR: set either SMTP_URL or MAIL_DIR, not both".to_owned());
        }
        let retention = read_retention(&get, &mut problems);
        let mail = MailConfig {
            smtp_url: smtp_url.map(Secret::new),
            directory: mail_dir.map(std::path::PathBuf::from),
            from: get("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.to_owned()),
        };

        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Self {
            listen_addr,
            database_url: Secret::new(database_url),
            auth,
            page_token_secret,
            request_timeout,
            // Checked above to be at most the maximum, which fits.
            concurrency_limit: usize::try_from(concurrency_limit).unwrap_or(MAX_CONCURRENCY_LIMIT),
            concurrency_wait,
            database_check_idle_after,
            peers,
            capability_cache_ttl,
            log_format,
            metrics_addr,
            mail,
            retention,
        })
    }

    /// A development configuration: loopback, the given database and shared secret.
    pub fn development(
        listen_addr: SocketAddr,
        database_url: &str,
        shared_secret: &Secret,
    ) -> Self {
        Self {
            listen_addr,
            database_url: Secret::new(database_url),
            auth: AuthConfig::development(AuthKeys::SharedSecret(shared_secret.clone())),
            page_token_secret: Secret::new(format!("page-token:{}", shared_secret.expose())),
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            concurrency_limit: DEFAULT_CONCURRENCY_LIMIT,
            concurrency_wait: Duration::from_millis(DEFAULT_CONCURRENCY_WAIT_MS),
            database_check_idle_after: None,
            peers: PeerUrls::default(),
            capability_cache_ttl: Duration::from_millis(DEFAULT_CAPABILITY_CACHE_TTL_MS),
            log_format: LogFormat::Text,
            metrics_addr: None,
            mail: MailConfig {
                from: DEFAULT_MAIL_FROM.to_owned(),
                ..MailConfig::default()
            },
            retention: Retention::default(),
        }
    }
}

/// The retention settings; less than a day is refused, since a client's retry after a
/// short outage must still find its idempotency key.
fn read_retention(get: &impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> Retention {
    let mut hours = |key: &str| {
        let value = parse_number(get, key, DEFAULT_RETENTION_HOURS, problems);
        if value < MIN_RETENTION_HOURS {
            problems.push(format!("{key}: at least {MIN_RETENTION_HOURS} hours"));
        }
        Duration::from_secs(value.saturating_mul(3_600))
    };
    Retention {
        delivered_messages: hours("OUTBOX_RETENTION_HOURS"),
        idempotency_keys: hours("IDEMPOTENCY_RETENTION_HOURS"),
    }
}

/// The shortest retention accepted.
const MIN_RETENTION_HOURS: u64 = 24;

fn read_auth_keys(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
) -> Option<AuthKeys> {
    match (get("AUTH_HS256_SECRET"), get("AUTH_JWKS_FILE")) {
        (Some(_), Some(_)) => {
            problems.push("AUTH_HS256_SECRET and AUTH_JWKS_FILE: set one, not both".to_owned());
            None
        }
        (Some(secret), None) if secret.len() < MIN_SECRET_BYTES => {
            problems.push(format!(
                "AUTH_HS256_SECRET: must be at least {MIN_SECRET_BYTES} bytes"
            ));
            None
        }
        (Some(secret), None) => Some(AuthKeys::SharedSecret(Secret::new(secret))),
        (None, Some(jwks_file)) => {
            let mut required = |key: &str| {
                let value = get(key);
                if value.is_none() {
                    problems.push(format!("{key}: missing (required with AUTH_JWKS_FILE)"));
                }
                value
            };
            let service_jwks_file = required("AUTH_SERVICE_JWKS_FILE");
            let signing_key_file = required("AUTH_SIGNING_KEY_FILE");
            let signing_key_id = required("AUTH_SIGNING_KEY_ID");
            Some(AuthKeys::PublicKeys(PublicKeyFiles {
                identity_jwks_file: PathBuf::from(jwks_file),
                operator_jwks_file: get("AUTH_OPERATOR_JWKS_FILE").map(PathBuf::from),
                service_jwks_file: PathBuf::from(service_jwks_file?),
                signing_key_file: PathBuf::from(signing_key_file?),
                signing_key_id: signing_key_id?,
            }))
        }
        (None, None) => {
            problems.push("AUTH_HS256_SECRET or AUTH_JWKS_FILE: one is required".to_owned());
            None
        }
    }
}

fn parse_number(
    get: &impl Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
    problems: &mut Vec<String>,
) -> u64 {
    match get(key) {
        None => default,
        Some(raw) => raw.parse().unwrap_or_else(|_| {
            problems.push(format!("{key}: `{raw}` is not a whole number"));
            default
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ServiceConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServiceConfig::from_lookup(50051, |key| vars.get(key).cloned())
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn minimal_development_environment_is_accepted() {
        let config = config(&[
            ("DATABASE_URL", "sqlite://data/e.db"),
            ("AUTH_HS256_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(
            config.listen_addr,
            SocketAddr::from(([127, 0, 0, 1], 50051))
        );
        assert_eq!(config.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_concurrency_limit_is_at_least_one_and_at_most_a_million() {
        for limit in ["0", "1000001", "4611686018427387904"] {
            let error = config(&[
                ("DATABASE_URL", "sqlite://data/e.db"),
                ("AUTH_HS256_SECRET", SECRET),
                ("CONCURRENCY_LIMIT", limit),
            ])
            .unwrap_err()
            .to_string();
            assert!(error.contains("CONCURRENCY_LIMIT"), "{error}");
        }
    }

    #[test]
    fn a_call_beyond_the_limit_waits_briefly_unless_told_otherwise() {
        let base = [
            ("DATABASE_URL", "sqlite://data/e.db"),
            ("AUTH_HS256_SECRET", SECRET),
        ];
        assert_eq!(
            config(&base).unwrap().concurrency_wait,
            Duration::from_millis(50)
        );
        let mut vars = base.to_vec();
        vars.push(("CONCURRENCY_WAIT_MS", "0"));
        assert_eq!(config(&vars).unwrap().concurrency_wait, Duration::ZERO);
        vars.pop();
        vars.push(("CONCURRENCY_WAIT_MS", "1000"));
        assert_eq!(
            config(&vars).unwrap().concurrency_wait,
            Duration::from_secs(1)
        );
        vars.pop();
        for nonsense in ["soon", "-1", "1001"] {
            vars.push(("CONCURRENCY_WAIT_MS", nonsense));
            let error = config(&vars).unwrap_err().to_string();
            assert!(error.contains("CONCURRENCY_WAIT_MS"), "{error}");
            vars.pop();
        }
        // Unset, it shrinks with a short request timeout rather than refuse to start.
        vars.push(("REQUEST_TIMEOUT_MS", "200"));
        assert_eq!(
            config(&vars).unwrap().concurrency_wait,
            Duration::from_millis(20)
        );
    }

    #[test]
    fn the_database_idle_check_is_the_database_layers_unless_given() {
        let base = [
            ("DATABASE_URL", "sqlite://data/e.db"),
            ("AUTH_HS256_SECRET", SECRET),
        ];
        assert_eq!(config(&base).unwrap().database_check_idle_after, None);
        let mut vars = base.to_vec();
        vars.push(("DATABASE_CHECK_IDLE_AFTER_MS", "0"));
        assert_eq!(
            config(&vars).unwrap().database_check_idle_after,
            Some(Duration::ZERO)
        );
        vars.pop();
        for nonsense in ["soon", "-1", "600001"] {
            vars.push(("DATABASE_CHECK_IDLE_AFTER_MS", nonsense));
            let error = config(&vars).unwrap_err().to_string();
            assert!(error.contains("DATABASE_CHECK_IDLE_AFTER_MS"), "{error}");
            vars.pop();
        }
    }

    #[test]
    fn the_scrape_endpoint_is_off_unless_an_address_is_given() {
        let base = [
            ("DATABASE_URL", "sqlite://data/e.db"),
            ("AUTH_HS256_SECRET", SECRET),
        ];
        assert_eq!(config(&base).unwrap().metrics_addr, None);
        let mut vars = base.to_vec();
        vars.push(("METRICS_ADDR", "0.0.0.0:9464"));
        assert_eq!(
            config(&vars).unwrap().metrics_addr,
            Some(SocketAddr::from(([0, 0, 0, 0], 9464)))
        );
        vars.pop();
        vars.push(("METRICS_ADDR", "9464"));
        let error = config(&vars).unwrap_err().to_string();
        assert!(error.contains("METRICS_ADDR"), "{error}");
    }

    #[test]
    fn mail_credentials_travel_only_over_tls_and_retention_lasts_a_day_at_least() {
        let base = [
            ("DATABASE_URL", "sqlite://data/e.db"),
            ("AUTH_HS256_SECRET", SECRET),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            config(&vars)
        };
        for refused in [
            "smtp://user:secret@mail.example.com:587",
            "smtp://user:secret@mail.example.com:587?tls=opportunistic",
            "http://mail.example.com",
        ] {
            let error = with(&[("SMTP_URL", refused)]).unwrap_err().to_string();
            assert!(error.contains("SMTP_URL"), "{refused}: {error}");
            assert!(
                !error.contains("secret"),
                "the password is not echoed: {error}"
            );
        }
        for accepted in [
            "smtps://user:secret@mail.example.com",
            "smtp://user:secret@mail.example.com:587?tls=required",
            "smtp://relay.internal:25",
        ] {
            assert!(with(&[("SMTP_URL", accepted)]).is_ok(), "{accepted}");
        }
        let error = with(&[("IDEMPOTENCY_RETENTION_HOURS", "1")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("IDEMPOTENCY_RETENTION_HOURS"), "{error}");
        assert_eq!(
            with(&[]).unwrap().retention.idempotency_keys,
            Duration::from_secs(168 * 3_600)
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = config(&[
            ("LISTEN_ADDR", "nowhere"),
            ("AUTH_HS256_SECRET", "short"),
            ("ENROLLMENT_URL", "enrollment:1"),
        ])
        .unwrap_err()
        .to_string();
        for key in [
            "LISTEN_ADDR",
            "DATABASE_URL",
            "AUTH_HS256_SECRET",
            "ENROLLMENT_URL",
        ] {
            assert!(error.contains(key), "{key} missing from: {error}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = config(&[
            ("DATABASE_URL", "postgres://u:hunter2@db/x"),
            ("AUTH_HS256_SECRET", SECRET),
        ])
        .unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains(SECRET),
            "{printed}"
        );
    }

    #[test]
    fn public_keys_need_a_signing_key() {
        let error = config(&[
            ("DATABASE_URL", "sqlite::memory:"),
            ("AUTH_JWKS_FILE", "/keys/jwks.json"),
        ])
        .unwrap_err();
        assert!(error.to_string().contains("AUTH_SIGNING_KEY_FILE"));
        assert!(error.to_string().contains("AUTH_SERVICE_JWKS_FILE"));
        assert!(error.to_string().contains("PAGE_TOKEN_SECRET"));
    }
}
