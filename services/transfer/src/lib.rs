//! Transfer service: customers' subscriptions per billing partner and their transfer to an
//! indirect provider (SPEC §5). It owns its database and checks every precondition with the
//! other services over gRPC, acting for its caller.

mod api;
mod clients;
mod domain;
mod error;
mod status;
mod store;

use std::future::Future;

use suite_config::ServiceConfig;
use suite_db::MigrationFile;
use suite_proto::transfer::v1::transfer_service_server::TransferServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use domain::{CustomerRef, NewSubscription, Subscription};
pub use error::Error;
pub use store::TransferStore;

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
];

/// Serves the transfer service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let peers = clients::Peers::new(&platform)?;
    let api = api::TransferApi::new(
        TransferStore::new(platform.db.clone(), platform.pages.clone()),
        peers,
    );
    let routes = Routes::new(TransferServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = TransferServiceServer::<api::TransferApi>::NAME;
    platform
        .serve(listener, name, routes, MIGRATIONS, shutdown)
        .await
}
