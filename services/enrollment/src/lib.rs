//! Enrollment service: partner accounts and profiles, revenue and direct-bill eligibility,
//! program enrollments and their lifecycle, capabilities, incentives and the directory of
//! indirect providers (SPEC §2). It owns its database and is reached only over gRPC.

mod api;
mod domain;
mod error;
mod status;
mod store;

use std::future::Future;
use std::time::Duration;

use suite_config::ServiceConfig;
use suite_db::{Clock, MigrationFile};
use suite_proto::enrollment::v1::enrollment_service_server::EnrollmentServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use domain::{NewPartner, Partner};
pub use error::Error;
pub use store::EnrollmentStore;

/// Name of the service in errors, logs and its own tokens.
pub const SERVICE: &str = "enrollment";
/// Port of the service in the local suite.
pub const DEFAULT_PORT: u16 = 50051;

/// The service's schema, applied after the platform tables.
pub const MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 100,
        description: "partners",
        sql: include_str!("../migrations/0100_partners.sql"),
    },
    MigrationFile {
        version: 101,
        description: "programs",
        sql: include_str!("../migrations/0101_programs.sql"),
    },
    MigrationFile {
        version: 102,
        description: "integration sandbox partners",
        sql: include_str!("../migrations/0102_integration_sandbox.sql"),
    },
];

/// What the enrollment service needs beyond the shared configuration.
#[derive(Clone)]
pub struct EnrollmentOptions {
    /// Time for due dates, revenue windows and the override.
    pub clock: Clock,
    /// How long indirect reseller access lasts once direct bill is active on the same tenant.
    /// The article leaves the length to the program; `ENROLLMENT_OVERRIDE_GRACE_DAYS` sets it.
    pub override_grace: Duration,
    /// How often the override sweep runs.
    pub sweep_interval: Duration,
}

const DEFAULT_GRACE_DAYS: u64 = 90;
const DAY: Duration = Duration::from_secs(86_400);

impl Default for EnrollmentOptions {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            override_grace: DAY * DEFAULT_GRACE_DAYS as u32,
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl EnrollmentOptions {
    /// Defaults, with `ENROLLMENT_OVERRIDE_GRACE_DAYS` when set.
    pub fn from_env() -> Result<Self, StartError> {
        let mut options = Self::default();
        if let Ok(days) = std::env::var("ENROLLMENT_OVERRIDE_GRACE_DAYS") {
            let days: u32 = days.parse().map_err(|_| {
                StartError::Setting(format!(
                    "ENROLLMENT_OVERRIDE_GRACE_DAYS: `{days}` is not a whole number of days"
                ))
            })?;
            options.override_grace = DAY * days;
        }
        Ok(options)
    }
}

/// Serves the enrollment service on `listener` until `shutdown` resolves, with options from
/// the environment.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(EnrollmentOptions::from_env()?, config, listener, shutdown).await
}

/// Serves the enrollment service with explicit `options` (tests move its clock).
pub async fn run_with(
    options: EnrollmentOptions,
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let store = EnrollmentStore::new(platform.db.clone(), platform.pages.clone());
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let sweep = tokio::spawn(sweep_overrides(store.clone(), options.clone(), stopping_rx));

    let api = api::EnrollmentApi::new(store, options.clock.clone(), options.override_grace);
    let routes = Routes::new(EnrollmentServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = EnrollmentServiceServer::<api::EnrollmentApi>::NAME;
    let served = platform
        .serve(listener, name, routes, MIGRATIONS, async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        })
        .await;
    sweep.abort();
    served
}

/// Records ended indirect reseller access without anyone calling. Every replica runs it; the
/// store's version checks make each change happen once.
async fn sweep_overrides(
    store: EnrollmentStore,
    options: EnrollmentOptions,
    mut stopping: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(options.sweep_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.changed() => return,
        }
        if let Err(error) = store.record_overrides(options.clock.now_micros()).await {
            // Before migrations or during an outage; the next tick tries again.
            tracing::debug!(%error, "override sweep skipped");
        }
    }
}
