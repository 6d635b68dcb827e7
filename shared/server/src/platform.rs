use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use suite_auth::{Authenticator, TokenIssuer, TokenVerifier};
use suite_client::{CapabilityCheck, Peer, ServiceIdentity};
use suite_config::{PeerUrls, ServiceConfig};
use suite_db::{Database, MigrationFile, PageTokenCodec};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::{ReadinessProbe, ServeError, ServerSettings};

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Token keys could not be loaded.
    #[error("auth keys: {0}")]
    Keys(#[from] suite_auth::KeyError),
    /// The database settings are unusable.
    #[error("database: {0}")]
    Database(#[from] suite_db::StoreError),
    /// A service-specific setting is invalid.
    #[error("{0}")]
    Setting(String),
    /// A peer this service calls has no address configured.
    #[error("{0} is required: this service calls that peer")]
    MissingPeer(String),
    /// A peer address is unusable.
    #[error("peer: {0}")]
    Peer(String),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// How often each replica prunes its platform tables.
const PRUNING_INTERVAL: Duration = Duration::from_secs(3_600);

/// What every service is built from: its database, token verification, its identity
/// towards its peers, and the page-token codec, all from one validated configuration.
pub struct Platform {
    /// The service's own database.
    pub db: Database,
    /// Verifies incoming tokens.
    pub verifier: Arc<TokenVerifier>,
    /// Signs and checks page tokens.
    pub pages: PageTokenCodec,
    identity: Arc<ServiceIdentity>,
    peer_urls: PeerUrls,
    capability_cache_ttl: Duration,
    domain: &'static str,
    settings: ServerSettings,
    mailer: Option<suite_mail::Mailer>,
    retention: suite_config::Retention,
}

impl Platform {
    /// Prepares service `domain` (e.g. `enrollment`) from `config`; connects lazily.
    pub fn new(domain: &'static str, config: &ServiceConfig) -> Result<Self, StartError> {
        let issuer = TokenIssuer::for_service(&config.auth, domain)?;
        Ok(Self {
            db: Database::connect_lazy_with(&config.database_url, &database_settings(config))?,
            verifier: Arc::new(TokenVerifier::from_config(&config.auth, domain)?),
            pages: PageTokenCodec::new(config.page_token_secret.clone()),
            identity: Arc::new(ServiceIdentity::new(
                domain,
                issuer,
                config.auth.max_token_lifetime,
            )),
            peer_urls: config.peers.clone(),
            capability_cache_ttl: config.capability_cache_ttl,
            domain,
            settings: ServerSettings::from(config),
            mailer: suite_mail::Mailer::from_config(domain, &config.mail)
                .map_err(|e| StartError::Setting(e.to_string()))?,
            retention: config.retention,
        })
    }

    /// Peer `name` (`enrollment`, `relationship`, `agreement` or `transfer`) at the URL
    /// configured for it (`ENROLLMENT_URL`, …), which is then required.
    pub fn peer(&self, name: &'static str) -> Result<Peer, StartError> {
        let url = match name {
            "enrollment" => &self.peer_urls.enrollment,
            "relationship" => &self.peer_urls.relationship,
            "agreement" => &self.peer_urls.agreement,
            "transfer" => &self.peer_urls.transfer,
            other => return Err(StartError::Peer(format!("unknown peer `{other}`"))),
        };
        let url = url
            .as_deref()
            .ok_or_else(|| StartError::MissingPeer(format!("{}_URL", name.to_uppercase())))?;
        Peer::connect(
            name,
            url,
            self.settings.request_timeout,
            self.identity.clone(),
        )
        .map_err(StartError::Peer)
    }

    /// The capability check through the enrollment service (`ENROLLMENT_URL`).
    pub fn capability_check(&self) -> Result<CapabilityCheck, StartError> {
        Ok(CapabilityCheck::new(
            self.peer("enrollment")?,
            self.capability_cache_ttl,
        ))
    }

    /// The interceptor that authenticates every call to the service.
    pub fn authenticator(&self) -> Authenticator {
        Authenticator::new(self.verifier.clone(), self.domain)
    }

    /// Serves `routes` (the service `service_name`); it reports SERVING once `migrations` are applied and the database
    /// answers, and NOT_SERVING whenever the database stops answering.
    pub async fn serve(
        self,
        listener: TcpListener,
        service_name: &'static str,
        routes: Routes,
        migrations: &'static [MigrationFile],
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let readiness = Arc::new(DatabaseReadiness {
            db: self.db.clone(),
            migrations,
            migrated: AtomicBool::new(false),
        });
        // The service's e-mails leave through its outbox while it serves.
        let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
        let mail = match self.mailer {
            Some(mailer) => {
                if let Some(directory) = mailer.directory() {
                    tracing::info!(directory = %directory.display(), "e-mails are written to files");
                }
                Some(suite_mail::spawn(self.db.clone(), mailer, stopping_rx))
            }
            None => {
                tracing::warn!("no SMTP_URL nor MAIL_DIR: e-mails wait in the outbox");
                None
            }
        };
        // Delivered messages and old idempotency keys are pruned hourly in every replica.
        let pruning = tokio::spawn(suite_db::run_pruning(
            self.db.clone(),
            self.retention,
            PRUNING_INTERVAL,
            stopping_tx.subscribe(),
        ));
        let served = crate::serve(
            self.settings,
            listener,
            service_name,
            routes,
            readiness,
            async move {
                shutdown.await;
                let _ = stopping_tx.send(true);
            },
        )
        .await;
        if let Some(mail) = mail {
            mail.abort();
        }
        pruning.abort();
        self.db.close().await;
        Ok(served?)
    }
}

/// Ready once migrations are applied, then as long as the database answers.
struct DatabaseReadiness {
    db: Database,
    migrations: &'static [MigrationFile],
    migrated: AtomicBool,
}

impl ReadinessProbe for DatabaseReadiness {
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            if !self.migrated.load(Ordering::Acquire) {
                self.db
                    .migrate(self.migrations)
                    .await
                    .map_err(|e| e.to_string())?;
                self.migrated.store(true, Ordering::Release);
            }
            self.db.ping().await.map_err(|e| e.to_string())
        })
    }
}

/// How the service's pool treats its database sessions, from `config`.
fn database_settings(config: &ServiceConfig) -> suite_db::DatabaseSettings {
    let settings = suite_db::DatabaseSettings::for_request_timeout(config.request_timeout);
    match config.database_check_idle_after {
        Some(check_idle_after) => suite_db::DatabaseSettings {
            check_idle_after,
            ..settings
        },
        None => settings,
    }
}
