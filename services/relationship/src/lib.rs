//! Relationship service: customer records, partnerships between providers and resellers,
//! customer reseller relationships and GDAP (SPEC §3). It owns its database and is reached
//! only over gRPC.

mod api;
mod domain;
mod error;
mod status;
mod store;

use std::future::Future;
use std::time::Duration;

use suite_config::ServiceConfig;
use suite_db::{Clock, MigrationFile};
use suite_proto::relationship::v1::relationship_service_server::RelationshipServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use domain::{Customer, NewCustomer, PartnershipState};
pub use error::Error;
pub use store::RelationshipStore;

/// Name of the service in errors, logs and its own tokens.
pub const SERVICE: &str = "relationship";
/// Port of the service in the local suite.
pub const DEFAULT_PORT: u16 = 50052;

/// The service's schema, applied after the platform tables.
pub const MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 100,
        description: "customers",
        sql: include_str!("../migrations/0100_customers.sql"),
    },
    MigrationFile {
        version: 101,
        description: "partnerships",
        sql: include_str!("../migrations/0101_partnerships.sql"),
    },
    MigrationFile {
        version: 102,
        description: "customer profiles, roles and acquisition",
        sql: include_str!("../migrations/0102_customer_profiles.sql"),
    },
    MigrationFile {
        version: 103,
        description: "customer tenants created once",
        sql: include_str!("../migrations/0103_customer_tenants.sql"),
    },
    MigrationFile {
        version: 104,
        description: "customer invitations",
        sql: include_str!("../migrations/0104_customer_invitations.sql"),
    },
    MigrationFile {
        version: 105,
        description: "gdap relationships",
        sql: include_str!("../migrations/0105_gdap.sql"),
    },
    MigrationFile {
        version: 106,
        description: "reseller relationship extensions",
        sql: include_str!("../migrations/0106_relationship_extensions.sql"),
    },
    MigrationFile {
        version: 107,
        description: "invitation expiry",
        sql: include_str!("../migrations/0107_invitation_expiry.sql"),
    },
    MigrationFile {
        version: 108,
        description: "gdap display name per partner",
        sql: include_str!("../migrations/0108_gdap_display_name_per_partner.sql"),
    },
    MigrationFile {
        version: 109,
        description: "relationship requests",
        sql: include_str!("../migrations/0109_relationship_requests.sql"),
    },
    MigrationFile {
        version: 110,
        description: "invitation lapse per link",
        sql: include_str!("../migrations/0110_invitation_lapse_per_link.sql"),
    },
];

/// What the relationship service needs beyond the shared configuration.
#[derive(Clone)]
pub struct RelationshipOptions {
    /// Time for invitation expiry and change times.
    pub clock: Clock,
    /// How long a partnership invitation link is accepted; `PARTNERSHIP_INVITATION_DAYS` sets
    /// it.
    pub invitation_lifetime: Duration,
    /// Where invitation links point; the link adds the partnership name and the token as
    /// query parameters. `PARTNERSHIP_INVITATION_URL` sets it.
    pub invitation_link_base: String,
    /// Where customer invitation links point (the page a customer's admin accepts on);
    /// `CUSTOMER_INVITATION_URL` sets it. Customer invitations last `invitation_lifetime`.
    pub customer_invitation_link_base: String,
    /// How often each replica looks for GDAP relationships to mark expiring, extend or
    /// expire, and for invitations that expired unaccepted: one indexed read of the rows due
    /// per kind, so a stored status lags the clock at most this long (reads and changes
    /// apply the due lapse themselves meanwhile).
    pub sweep_interval: Duration,
}

const DEFAULT_INVITATION_DAYS: u32 = 14;
/// The default [`RelationshipOptions::sweep_interval`].
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);
const DEFAULT_INVITATION_LINK_BASE: &str = "https://localhost/partnerships/accept";
const DEFAULT_CUSTOMER_INVITATION_LINK_BASE: &str = "https://localhost/customers/accept";

impl Default for RelationshipOptions {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            invitation_lifetime: DAY * DEFAULT_INVITATION_DAYS,
            invitation_link_base: DEFAULT_INVITATION_LINK_BASE.to_owned(),
            customer_invitation_link_base: DEFAULT_CUSTOMER_INVITATION_LINK_BASE.to_owned(),
            sweep_interval: SWEEP_INTERVAL,
        }
    }
}

impl RelationshipOptions {
    /// How long an invitation link is accepted, in the microseconds the stores keep.
    pub fn invitation_lifetime_micros(&self) -> i64 {
        i64::try_from(self.invitation_lifetime.as_micros()).unwrap_or(i64::MAX)
    }

    /// Defaults, with `PARTNERSHIP_INVITATION_DAYS`, `PARTNERSHIP_INVITATION_URL` and
    /// `CUSTOMER_INVITATION_URL` when set.
    pub fn from_env() -> Result<Self, StartError> {
        let mut options = Self::default();
        if let Ok(days) = std::env::var("PARTNERSHIP_INVITATION_DAYS") {
            let days: u32 = days.parse().ok().filter(|days| *days > 0).ok_or_else(|| {
                StartError::Setting(format!(
                    "PARTNERSHIP_INVITATION_DAYS: `{days}` is not a positive whole number of days"
                ))
            })?;
            options.invitation_lifetime = DAY * days;
        }
        if let Ok(base) = std::env::var("PARTNERSHIP_INVITATION_URL") {
            options.invitation_link_base = link_base("PARTNERSHIP_INVITATION_URL", &base)?;
        }
        if let Ok(base) = std::env::var("CUSTOMER_INVITATION_URL") {
            options.customer_invitation_link_base = link_base("CUSTOMER_INVITATION_URL", &base)?;
        }
        Ok(options)
    }
}

/// An invitation link's base from setting `key`: an http(s) address without query or
/// fragment, since the link adds its own.
fn link_base(key: &str, value: &str) -> Result<String, StartError> {
    let base = value.trim();
    if !(base.starts_with("https://") || base.starts_with("http://"))
        || base.contains(['?', '#', ' '])
    {
        return Err(StartError::Setting(format!(
            "{key}: `{base}` must be an http(s) address without query or fragment"
        )));
    }
    Ok(base.to_owned())
}

/// Serves the relationship service on `listener` until `shutdown` resolves, with options
/// from the environment.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(RelationshipOptions::from_env()?, config, listener, shutdown).await
}

/// Serves the relationship service with explicit `options` (tests move its clock).
pub async fn run_with(
    options: RelationshipOptions,
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let store = RelationshipStore::new(platform.db.clone(), platform.pages.clone());
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let sweep = tokio::spawn(sweep(
        store.clone(),
        options.clock.clone(),
        options.sweep_interval,
        stopping_rx,
    ));
    let api = api::RelationshipApi::new(store, platform.capability_check()?).with_options(options);
    let routes = Routes::new(RelationshipServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = RelationshipServiceServer::<api::RelationshipApi>::NAME;
    let served = platform
        .serve(listener, name, routes, MIGRATIONS, async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        })
        .await;
    sweep.abort();
    served
}

/// Marks GDAP relationships expiring, extends or expires them, and records invitations that
/// expired unaccepted, without anyone calling, every `period`, the first time one period
/// after start. Every replica runs it; the store's version checks make each change happen
/// once.
async fn sweep(
    store: RelationshipStore,
    clock: Clock,
    period: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.changed() => return,
        }
        if let Err(error) = store.sweep(clock.now_micros()).await {
            // Before migrations or during an outage; the next tick tries again.
            tracing::warn!(%error, "sweep could not read the rows due");
        }
    }
}
