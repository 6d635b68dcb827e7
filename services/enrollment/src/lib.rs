//! Enrollment service: partner accounts and profiles, program enrollments and what they
//! allow (SPEC §2). It owns its database and is reached only over gRPC.

mod api;
mod domain;
mod error;
mod store;

use std::future::Future;

use suite_config::ServiceConfig;
use suite_db::MigrationFile;
use suite_proto::enrollment::v1::enrollment_service_server::EnrollmentServiceServer;
use suite_server::{Platform, StartError};
use tokio::net::TcpListener;
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
pub const MIGRATIONS: &[MigrationFile] = &[MigrationFile {
    version: 100,
    description: "partners",
    sql: include_str!("../migrations/0100_partners.sql"),
}];

/// Serves the enrollment service on `listener` until `shutdown` resolves.
pub async fn run(
    config: ServiceConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let platform = Platform::new(SERVICE, &config)?;
    let api = api::EnrollmentApi::new(EnrollmentStore::new(
        platform.db.clone(),
        platform.pages.clone(),
    ));
    let routes = Routes::new(EnrollmentServiceServer::with_interceptor(
        api,
        platform.authenticator(),
    ));
    let name = EnrollmentServiceServer::<api::EnrollmentApi>::NAME;
    platform
        .serve(listener, name, routes, MIGRATIONS, shutdown)
        .await
}
