//! The one test harness: starts a real service on `127.0.0.1:0` with a fresh database — a
//! temporary SQLite file, or a new PostgreSQL database when `TEST_DATABASE_URL` is set —
//! waits until it reports SERVING, and hands out typed clients that carry a token for any
//! tenant, role and principal kind; [`Suite`] starts all four services, wired to each other.
//! Logs stay silent unless `TEST_LOG` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failure here fails the test

mod database;
mod journey;
pub mod raw;
mod suite;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use suite_auth::{Claims, PrincipalKind, Role, TokenIssuer, Trust};
use suite_config::{PeerUrls, Secret, ServiceConfig};
use suite_server::StartError;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

pub use database::TestDatabase;
pub use journey::{
    active_partnership, attest_customer_agreement, azure_pay_as_you_go,
    customer_accepts_relationship_request, customer_joins_reseller_and_provider,
    direct_bill_partner, direct_bill_sandbox_partner, enroll_indirect_reseller,
    indirect_reseller_partner, licence_based, list_as_indirect_provider,
    official_indirect_provider, order_subscription, partnership_between, provider_creates_customer,
    publish_customer_agreement, record_customer, restrict_direct_bill,
};
pub use suite::{Suite, Transferable, fast_transfer_options};
pub use suite_proto::agreement::v1::agreement_service_client::AgreementServiceClient;
use suite_proto::enrollment::v1::enrollment_service_client::EnrollmentServiceClient;
use suite_proto::relationship::v1::relationship_service_client::RelationshipServiceClient;
use suite_proto::transfer::v1::transfer_service_client::TransferServiceClient;
pub use tonic_health::pb::health_check_response::ServingStatus;

/// The shared secret every test service and token uses.
pub const TEST_SECRET: &str = "suite-test-secret-suite-test-secret";
/// How long a service may take to report SERVING.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How often a condition is checked again while waiting for it; CI machines have two cores,
/// so a waiting test must leave them to the services it waits for.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A service's `run` function, as each service crate exports it.
pub type ShutdownSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Who a test calls as.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Subject.
    pub subject: String,
    /// Tenant.
    pub tenant_id: Uuid,
    /// Roles.
    pub roles: Vec<Role>,
    /// Principal kind.
    pub kind: PrincipalKind,
    /// The service a service actor's token is minted for.
    pub audience: Option<String>,
}

impl Actor {
    /// A partner user of `tenant_id` with `roles`.
    pub fn user(tenant_id: Uuid, roles: &[Role]) -> Self {
        Self {
            subject: format!("user-{}", Uuid::new_v4()),
            tenant_id,
            roles: roles.to_vec(),
            kind: PrincipalKind::User,
            audience: None,
        }
    }

    /// A `GLOBAL_ADMIN` of `tenant_id`.
    pub fn global_admin(tenant_id: Uuid) -> Self {
        Self::user(tenant_id, &[Role::GlobalAdmin])
    }

    /// An `ADMIN_AGENT` of `tenant_id`.
    pub fn admin_agent(tenant_id: Uuid) -> Self {
        Self::user(tenant_id, &[Role::AdminAgent])
    }

    /// An app (API/SDK integration) of `tenant_id`.
    pub fn app(tenant_id: Uuid) -> Self {
        Self {
            subject: format!("app-{}", Uuid::new_v4()),
            tenant_id,
            roles: vec![],
            kind: PrincipalKind::App,
            audience: None,
        }
    }

    /// Service `name` of the suite acting for itself, calling service `audience`.
    pub fn service(name: &str, audience: &str) -> Self {
        Self {
            subject: name.to_owned(),
            tenant_id: Uuid::nil(),
            roles: vec![],
            kind: PrincipalKind::Service,
            audience: Some(audience.to_owned()),
        }
    }

    /// The platform operator.
    pub fn operator() -> Self {
        Self {
            subject: "operator".into(),
            tenant_id: Uuid::nil(),
            roles: vec![],
            kind: PrincipalKind::Operator,
            audience: None,
        }
    }

    /// The verified caller this actor becomes inside a service, for store-level tests.
    pub fn caller(&self) -> suite_auth::Caller {
        let principal = suite_auth::Principal {
            subject: self.subject.clone(),
            tenant_id: self.tenant_id,
            roles: self.roles.clone(),
            kind: self.kind,
        };
        suite_auth::Caller::new(principal, None, self.token())
    }

    /// A signed token for this actor, valid for an hour.
    pub fn token(&self) -> String {
        self.sign(&self.claims())
    }

    /// The claims of [`Self::token`], to alter before [`Self::sign`] (expired, wrong
    /// audience, …).
    pub fn claims(&self) -> Claims {
        let issuer = self.issuer();
        let audience = match (&self.audience, self.kind) {
            (Some(audience), _) => audience.clone(),
            (None, PrincipalKind::Service) => panic!("a service actor needs an audience"),
            (None, _) => issuer.api_audience().to_owned(),
        };
        issuer.claims(
            &self.subject,
            self.tenant_id,
            self.kind,
            &self.roles,
            &audience,
            Duration::from_secs(3600),
        )
    }

    /// `claims` signed with this actor's key (the identity provider's, the operator's or
    /// the service's own, as the embedded run derives them).
    pub fn sign(&self, claims: &Claims) -> String {
        self.issuer().sign(claims).expect("sign test token")
    }

    fn issuer(&self) -> TokenIssuer {
        let trust = match self.kind {
            PrincipalKind::User | PrincipalKind::App => Trust::Identity,
            PrincipalKind::Operator => Trust::Operator,
            PrincipalKind::Service => Trust::Service(self.subject.clone()),
        };
        let config = test_config(SocketAddr::from(([127, 0, 0, 1], 0)), "sqlite::memory:");
        TokenIssuer::embedded(&config.auth, &trust).expect("test issuer")
    }
}

fn test_config(addr: SocketAddr, database_url: &str) -> ServiceConfig {
    ServiceConfig::development(addr, database_url, &Secret::new(TEST_SECRET))
}

/// Adds `authorization: Bearer <token>` to every call; no token when built with `None`.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry one actor's token.
pub type AuthedChannel = InterceptedService<Channel, Bearer>;

/// A running service; dropping it shuts the service down.
pub struct TestService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its database.
    pub database: TestDatabase,
    channel: Channel,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

/// Starts a service with `run` on a fresh database, calling `peers`, and waits until it
/// reports SERVING.
pub async fn spawn_service<F, Fut>(run: F, peers: PeerUrls) -> TestService
where
    F: FnOnce(ServiceConfig, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + Send + 'static,
{
    suite_telemetry::init_for_tests();
    let database = TestDatabase::fresh().await;
    spawn_service_with(run, peers, database, SocketAddr::from(([127, 0, 0, 1], 0))).await
}

/// Starts a service with `run` on `database` at `addr` (port 0 for any), e.g. to restart one
/// that [`TestService::stop_keeping_database`] stopped, and waits until it reports SERVING.
pub async fn spawn_service_with<F, Fut>(
    run: F,
    peers: PeerUrls,
    database: TestDatabase,
    addr: SocketAddr,
) -> TestService
where
    F: FnOnce(ServiceConfig, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + Send + 'static,
{
    spawn_configured(run, database, addr, |config| config.peers = peers).await
}

/// Starts a service with `run` on a fresh database, its configuration changed by `adjust`
/// (after the test defaults), and waits until it reports SERVING.
pub async fn spawn_service_adjusted<F, Fut>(
    run: F,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> TestService
where
    F: FnOnce(ServiceConfig, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + Send + 'static,
{
    suite_telemetry::init_for_tests();
    let database = TestDatabase::fresh().await;
    spawn_configured(run, database, SocketAddr::from(([127, 0, 0, 1], 0)), adjust).await
}

async fn spawn_configured<F, Fut>(
    run: F,
    database: TestDatabase,
    addr: SocketAddr,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> TestService
where
    F: FnOnce(ServiceConfig, TcpListener, ShutdownSignal) -> Fut,
    Fut: Future<Output = Result<(), StartError>> + Send + 'static,
{
    suite_telemetry::init_for_tests();
    let listener = TcpListener::bind(addr).await.expect("bind test listener");
    let addr = listener.local_addr().expect("local addr");
    let mut config = test_config(addr, database.url());
    // Tests change a tenant's programs and act at once: no capability is kept.
    config.capability_cache_ttl = Duration::ZERO;
    adjust(&mut config);
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let signal: ShutdownSignal = Box::pin(async move {
        let _ = shutdown_rx.await;
    });
    let mut task = tokio::spawn(run(config, listener, signal));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_lazy();
    tokio::select! {
        () = wait_until_serving(channel.clone()) => {}
        stopped = &mut task => panic!("the service stopped before it was ready: {stopped:?}"),
    }
    TestService {
        addr,
        database,
        channel,
        shutdown: Some(shutdown_tx),
        task: Some(task),
    }
}

impl TestService {
    /// A service already running at `addr` on `database`, started by someone else (e.g. a
    /// release binary run as a child process); dropping the handle does not stop it.
    pub fn attach(addr: SocketAddr, database: TestDatabase) -> Self {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect_lazy();
        Self {
            addr,
            database,
            channel,
            shutdown: None,
            task: None,
        }
    }

    /// `http://127.0.0.1:port`, to give to peers.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A plain channel with no token.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A channel whose calls carry `actor`'s token.
    pub fn channel_as(&self, actor: &Actor) -> AuthedChannel {
        let value =
            MetadataValue::try_from(format!("Bearer {}", actor.token())).expect("token header");
        InterceptedService::new(self.channel.clone(), Bearer(Some(value)))
    }

    /// A channel whose calls carry no token.
    pub fn anonymous_channel(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), Bearer(None))
    }

    /// Enrollment client acting as `actor`.
    pub fn enrollment(&self, actor: &Actor) -> EnrollmentServiceClient<AuthedChannel> {
        EnrollmentServiceClient::new(self.channel_as(actor))
    }

    /// Relationship client acting as `actor`.
    pub fn relationship(&self, actor: &Actor) -> RelationshipServiceClient<AuthedChannel> {
        RelationshipServiceClient::new(self.channel_as(actor))
    }

    /// Agreement client acting as `actor`.
    pub fn agreement(&self, actor: &Actor) -> AgreementServiceClient<AuthedChannel> {
        AgreementServiceClient::new(self.channel_as(actor))
    }

    /// Transfer client acting as `actor`.
    pub fn transfer(&self, actor: &Actor) -> TransferServiceClient<AuthedChannel> {
        TransferServiceClient::new(self.channel_as(actor))
    }

    /// Waits, up to a deadline, for the health service to report SERVING.
    pub async fn wait_until_serving(&self) {
        wait_until_serving(self.channel.clone()).await;
    }

    /// Stops the service and waits until it has drained and exited.
    pub async fn stop(self) {
        self.stop_keeping_database().await;
    }

    /// Stops the service and hands back its address and database, to start it again.
    pub async fn stop_keeping_database(mut self) -> (SocketAddr, TestDatabase) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("service task")
                .expect("service stopped cleanly");
        }
        (self.addr, self.database)
    }

    /// Rows in `table` of this service's database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        self.database.count_rows(table).await
    }
}

/// Waits, up to a deadline, for the server behind `channel` to report SERVING.
async fn wait_until_serving(channel: Channel) {
    let wait = async {
        let mut health = HealthClient::new(channel);
        loop {
            let Ok(response) = health
                .watch(tonic_health::pb::HealthCheckRequest {
                    service: String::new(),
                })
                .await
            else {
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            };
            let mut updates = response.into_inner();
            while let Some(Ok(update)) = updates.next().await {
                if update.status == ServingStatus::Serving as i32 {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(READY_DEADLINE, wait)
        .await
        .expect("service did not report SERVING in time");
}

/// The health status the server at `addr` reports for `service` (`""` for the whole
/// server), waiting up to a deadline for it to accept connections.
pub async fn health_status(addr: SocketAddr, service: &str) -> ServingStatus {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    let ask = async {
        loop {
            let request = tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            };
            match health.check(request).await {
                Ok(response) => return response.into_inner().status(),
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    };
    tokio::time::timeout(READY_DEADLINE, ask)
        .await
        .expect("health service did not answer in time")
}

/// The `ErrorInfo` reason of a status, or `""`.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default()
}

/// The fields named by a status's `BadRequest` details.
pub fn bad_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The violations of a status's `PreconditionFailure` details, as (type, subject).
pub fn preconditions(status: &tonic::Status) -> Vec<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .precondition_failure()
        .map(|failure| {
            failure
                .violations
                .iter()
                .map(|v| (v.r#type.clone(), v.subject.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A fresh, migrated database with `migrations`, for store contract tests.
pub async fn migrated_database(migrations: &[suite_db::MigrationFile]) -> TestDatabase {
    suite_telemetry::init_for_tests();
    let database = TestDatabase::fresh().await;
    database
        .database()
        .migrate(migrations)
        .await
        .expect("migrate test database");
    database
}

/// The codec the test services sign page tokens with.
pub fn page_codec() -> suite_db::PageTokenCodec {
    suite_db::PageTokenCodec::new(Secret::new(format!("page-token:{TEST_SECRET}")))
}

/// A fresh request id.
pub fn request_id() -> String {
    Uuid::new_v4().to_string()
}

/// Waits until `condition` holds, checking every [`POLL_INTERVAL`], and fails the test with
/// `what` if it does not hold within `deadline`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !condition().await {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    };
    if tokio::time::timeout(deadline, wait).await.is_err() {
        panic!("{what}: not within {deadline:?}");
    }
}
