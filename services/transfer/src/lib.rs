//! Transfer service: customers' subscriptions per billing partner and their transfer to an
//! indirect provider (SPEC §5). It owns its database and checks every precondition with the
//! other services over gRPC; accepted transfers run as a durable workflow in its database.

mod api;
mod clients;
pub mod domain;
mod error;
mod execution;
mod status;
mod store;
mod workflow_metrics;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use suite_config::ServiceConfig;
use suite_db::{MigrationFile, RelaySettings, RelayWaker};
use suite_proto::transfer::v1::transfer_service_server::TransferServiceServer;
use suite_server::{Platform, StartError};
use suite_time::Clock;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use error::Error;
pub use store::{MoveOutcome, TransferStore};

/// Name of the service in errors, logs and its own tokens.
pub const SERVICE: &str = "transfer";
/// Port of the service in the local suite.
pub const DEFAULT_PORT: u16 = 50054;

/// The service's schema, applied after the platform tables.
pub const MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 100,
        description: "subscriptions",
        sql: include_str!("../migrations/0100_subscriptions.sql"),
    },
    MigrationFile {
        version: 101,
        description: "customers named by tenant",
        sql: include_str!("../migrations/0101_customer_tenant.sql"),
    },
    MigrationFile {
        version: 102,
        description: "subscription details",
        sql: include_str!("../migrations/0102_subscription_details.sql"),
    },
    MigrationFile {
        version: 103,
        description: "transfer requests",
        sql: include_str!("../migrations/0103_transfer_requests.sql"),
    },
    MigrationFile {
        version: 104,
        description: "cancellations",
        sql: include_str!("../migrations/0104_cancellations.sql"),
    },
    MigrationFile {
        version: 105,
        description: "an Azure subscription billed once",
        sql: include_str!("../migrations/0105_azure_subscription_once.sql"),
    },
    MigrationFile {
        version: 106,
        description: "partner transfers",
        sql: include_str!("../migrations/0106_partner_transfers.sql"),
    },
    MigrationFile {
        version: 107,
        description: "one active partner request",
        sql: include_str!("../migrations/0107_one_active_partner_request.sql"),
    },
];

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Awaited before each step of an execution runs: the named point where a test interrupts a
/// transfer (a crash in the middle of a step). Production runs none.
pub type StepHook = Arc<
    dyn Fn(suite_proto::transfer::v1::TransferStep) -> Pin<Box<dyn Future<Output = ()> + Send>>
        + Send
        + Sync,
>;

/// What the transfer service needs beyond the shared configuration.
#[derive(Clone)]
pub struct TransferOptions {
    /// Time for requests, expiry and deadlines (tests move it).
    pub clock: Clock,
    /// How long an ACTIVE request waits for the provider before it expires.
    pub request_lifetime: Duration,
    /// How long after acceptance an execution keeps retrying a downstream outage.
    pub execution_deadline: Duration,
    /// Pace of the relay that runs accepted transfers.
    pub relay: RelaySettings,
    /// How often expired requests are looked for.
    pub expiry_interval: Duration,
    /// Awaited before each execution step; none in production.
    pub before_step: Option<StepHook>,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            request_lifetime: DAY * 30,
            execution_deadline: DAY,
            relay: RelaySettings::default(),
            expiry_interval: Duration::from_secs(1),
            before_step: None,
        }
    }
}

impl TransferOptions {
    fn micros(duration: Duration) -> i64 {
        i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
    }
}

/// Serves the transfer service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(TransferOptions::default(), config, listener, shutdown).await
}

/// Serves the transfer service with explicit `options` (tests move its clock and pace).
pub async fn run_with(
    options: TransferOptions,
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let peers = clients::Peers::new(&platform)?;
    let store = TransferStore::new(platform.db.clone(), platform.pages.clone());
    let waker = RelayWaker::default();
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let executor = Arc::new(execution::Executor::new(
        store.clone(),
        peers.clone(),
        options.clock.clone(),
        options.before_step.clone(),
    ));
    let relay = tokio::spawn(suite_db::run_relay(
        platform.db.clone(),
        SERVICE,
        executor,
        options.relay.clone(),
        waker.clone(),
        stopping_rx.clone(),
    ));
    let expiry = tokio::spawn(expire_requests(
        store.clone(),
        options.clock.clone(),
        options.expiry_interval,
        stopping_rx,
    ));
    let api = api::TransferApi::new(store, peers, waker, options);
    let routes = Routes::new(TransferServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = TransferServiceServer::<api::TransferApi>::NAME;
    let served = platform
        .serve(listener, name, routes, MIGRATIONS, async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        })
        .await;
    relay.abort();
    expiry.abort();
    served
}

/// Expires ACTIVE requests nobody accepted in time, freeing their subscriptions. Every
/// replica runs it; the store's version checks end each request once.
async fn expire_requests(
    store: TransferStore,
    clock: Clock,
    every: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.changed() => return,
        }
        if let Err(error) = store.expire_transfer_requests(clock.now_micros()).await {
            // Before migrations or during an outage; the next tick tries again.
            tracing::debug!(%error, "transfer request expiry skipped");
        }
    }
}
