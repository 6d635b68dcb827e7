//! Relationship service: customer records, partnerships between providers and resellers,
//! customer reseller relationships and GDAP (SPEC §3). It owns its database and is reached
//! only over gRPC.

mod api;
mod domain;
mod error;
mod status;
mod store;

use std::future::Future;

use suite_config::ServiceConfig;
use suite_db::MigrationFile;
use suite_proto::relationship::v1::relationship_service_server::RelationshipServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;

pub use domain::{Customer, NewCustomer};
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
        version: 102,
        description: "customer profiles, roles and acquisition",
        sql: include_str!("../migrations/0102_customer_profiles.sql"),
    },
];

/// Serves the relationship service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let api = api::RelationshipApi::new(
        RelationshipStore::new(platform.db.clone(), platform.pages.clone()),
        platform.capability_check()?,
    );
    let routes = Routes::new(RelationshipServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = RelationshipServiceServer::<api::RelationshipApi>::NAME;
    platform
        .serve(listener, name, routes, MIGRATIONS, shutdown)
        .await
}
