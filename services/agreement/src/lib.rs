//! Agreement service: agreement versions, partner agreement (MPA) acceptances that activate
//! enrollments, and the Microsoft Customer Agreement (SPEC §4). It owns its database and is
//! reached only over gRPC.

mod activation;
mod api;
mod clients;
mod domain;
mod error;
mod status;
mod store;

use std::future::Future;
use std::sync::Arc;

use suite_config::ServiceConfig;
use suite_db::{MigrationFile, RelaySettings, RelayWaker};
use suite_proto::agreement::v1::agreement_service_server::AgreementServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use domain::{AgreementVersion, NewAgreementVersion};
pub use error::Error;
pub use store::AgreementStore;

/// Name of the service in errors, logs and its own tokens.
pub const SERVICE: &str = "agreement";
/// Port of the service in the local suite.
pub const DEFAULT_PORT: u16 = 50053;

/// The service's schema, applied after the platform tables.
pub const MIGRATIONS: &[MigrationFile] = &[
    MigrationFile {
        version: 100,
        description: "agreement versions",
        sql: include_str!("../migrations/0100_agreement_versions.sql"),
    },
    MigrationFile {
        version: 101,
        description: "acceptances",
        sql: include_str!("../migrations/0101_acceptances.sql"),
    },
];

/// What the agreement service needs beyond the shared configuration.
#[derive(Debug, Clone, Default)]
pub struct AgreementOptions {
    /// Pace of the outbox relay that delivers enrollment activations.
    pub relay: RelaySettings,
}

/// Serves the agreement service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(AgreementOptions::default(), config, listener, shutdown).await
}

/// Serves the agreement service with explicit `options` (tests speed up the relay).
pub async fn run_with(
    options: AgreementOptions,
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let store = AgreementStore::new(platform.db.clone(), platform.pages.clone());
    let peers = clients::Peers::new(&platform)?;
    let waker = RelayWaker::default();
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let deliverer = Arc::new(activation::Activations::new(store.clone(), peers.clone()));
    let relay = tokio::spawn(suite_db::run_relay(
        platform.db.clone(),
        SERVICE,
        deliverer,
        options.relay,
        waker.clone(),
        stopping_rx,
    ));

    let api = api::AgreementApi::new(store, peers, waker);
    let routes = Routes::new(AgreementServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = AgreementServiceServer::<api::AgreementApi>::NAME;
    let served = platform
        .serve(listener, name, routes, MIGRATIONS, async move {
            shutdown.await;
            let _ = stopping_tx.send(true);
        })
        .await;
    relay.abort();
    served
}
