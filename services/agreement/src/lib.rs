//! Agreement service: agreement versions, partner agreement (MPA) acceptances and the
//! Microsoft Customer Agreement (SPEC §4). It owns its database and is reached only over gRPC.

mod api;
mod domain;
mod error;
mod store;

use std::future::Future;

use suite_config::ServiceConfig;
use suite_db::MigrationFile;
use suite_proto::agreement::v1::agreement_service_server::AgreementServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
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
pub const MIGRATIONS: &[MigrationFile] = &[MigrationFile {
    version: 100,
    description: "agreement versions",
    sql: include_str!("../migrations/0100_agreement_versions.sql"),
}];

/// Serves the agreement service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let api = api::AgreementApi::new(AgreementStore::new(
        platform.db.clone(),
        platform.pages.clone(),
    ));
    let routes = Routes::new(AgreementServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = AgreementServiceServer::<api::AgreementApi>::NAME;
    platform
        .serve(listener, name, routes, MIGRATIONS, shutdown)
        .await
}
