//! The one way a suite service is served: its gRPC service behind the auth interceptor, plus
//! health and reflection (v1 and v1alpha, so every `grpcurl` works), request tracing,
//! RED metrics, timeouts, a concurrency limit and a request message size limit as tower layers,
//! readiness tied to the database, and a graceful shutdown that drains in-flight calls.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::MapRequestLayer;
use tower_http::classify::{GrpcCode, GrpcErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;

mod admission;
mod message_limit;
mod metrics_endpoint;
mod platform;
mod rpc_metrics;
mod shedding;

pub use admission::with_admitted_caller;
pub use message_limit::MAX_REQUEST_MESSAGE_BYTES;
pub use metrics_endpoint::serve_metrics;
pub use platform::{Platform, StartError};

/// The health service name that reports whether the process is alive, whatever its
/// database: SERVING from start to shutdown. A liveness probe asks for it, so that a
/// database outage makes a pod unready (the service name and `""` follow the database)
/// without getting it restarted.
pub const LIVENESS_SERVICE: &str = "liveness";

/// How often a serving instance re-checks its database.
const READINESS_INTERVAL: Duration = Duration::from_secs(5);
/// Keeps idle peer connections alive through load balancers and NAT.
const HTTP2_KEEPALIVE: Duration = Duration::from_secs(30);
/// HTTP/2 flow-control window of a whole connection. It also sizes an allowance of the HTTP/2
/// library (h2): each DATA frame under 256 bytes that is not a stream's last costs about
/// 256 bytes of half this window until it is read (for good if its stream is no longer
/// read: see `shedding::drain`), and once the cost passes that the connection is closed
/// (GOAWAY `ENHANCE_YOUR_CALM`), failing every call on it. A tonic
/// client sends a unary request's message as such a frame, so a client with a few thousand
/// calls waiting on one connection lost them all with hyper's 1 MiB. 8 MiB allows about
/// 16,000. (An adaptive window would start at 64 KiB and override this: keep it off.)
const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;

/// A check that must pass before the service reports SERVING (e.g. migrations applied and
/// the database reachable). It runs at start and then periodically.
pub trait ReadinessProbe: Send + Sync + 'static {
    /// `Ok` when the service can serve; otherwise why not.
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// Settings of the server stack.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Longest a request may run; a shorter client deadline (`grpc-timeout`) wins.
    pub request_timeout: Duration,
    /// Most calls of the service in flight at once across all connections; as many more
    /// may wait for a slot (see `concurrency_wait`), and the rest are refused at once with
    /// UNAVAILABLE (OVERLOADED). Twice it bounds the calls open on one connection (HTTP/2's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); a client holds back any more until one of its
    /// calls ends.
    pub concurrency_limit: usize,
    /// Longest a call beyond the limit waits for a slot before it is refused, and at most a
    /// tenth of the call's own `grpc-timeout`; zero refuses it at once.
    pub concurrency_wait: Duration,
}

impl From<&suite_config::ServiceConfig> for ServerSettings {
    fn from(config: &suite_config::ServiceConfig) -> Self {
        Self {
            request_timeout: config.request_timeout,
            concurrency_limit: config.concurrency_limit,
            concurrency_wait: config.concurrency_wait,
        }
    }
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not load the descriptor set (a build problem).
    #[error("reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds `addr`; with port 0 the system picks a free port (read it from the listener).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before it kills a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then stops accepting, reports
/// NOT_SERVING and waits for in-flight calls to finish.
pub async fn serve(
    settings: ServerSettings,
    listener: TcpListener,
    service_name: &'static str,
    routes: Routes,
    readiness: Arc<dyn ReadinessProbe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    set_status(&health_reporter, service_name, ServingStatus::NotServing).await;
    health_reporter
        .set_service_status(LIVENESS_SERVICE, ServingStatus::Serving)
        .await;

    // Advertise the service, health and both reflection versions (grpcurl 1.8 speaks only
    // v1alpha); the google.rpc descriptors let grpcurl decode rich error details.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(suite_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(service_name)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let (stopping_tx, stopping_rx) = watch::channel(false);
    let readiness_task = tokio::spawn(watch_readiness(
        health_reporter.clone(),
        service_name,
        readiness,
        stopping_rx,
    ));

    let local_addr = listener.local_addr().ok();
    tracing::info!(service = service_name, addr = ?local_addr, "serving");

    let stack = ServiceBuilder::new()
        // Outermost, so every request gets a span, even one refused by the layers below;
        // refusals that are the caller's doing are logged as responses, not as failures.
        .layer(
            TraceLayer::new(SharedClassifier::new(client_errors_are_not_failures()))
                .make_span_with(|request: &http::Request<Body>| {
                    let span = tracing::info_span!(
                        "rpc",
                        rpc = %request.uri().path(),
                        tenant_id = tracing::field::Empty,
                        subject = tracing::field::Empty,
                        resource = tracing::field::Empty,
                        via_service = tracing::field::Empty,
                        "rpc.grpc.status_code" = tracing::field::Empty,
                    );
                    suite_telemetry::continue_trace(&span, request.headers());
                    span
                })
                // The gRPC status is in the headers of a refusal (trailers only) and in the
                // trailers of an answer: the span records it from whichever carries it.
                .on_response(
                    |response: &http::Response<Body>, latency: Duration, span: &tracing::Span| {
                        record_grpc_status(response.headers(), span);
                        DefaultOnResponse::new()
                            .level(Level::DEBUG)
                            .on_response(response, latency, span);
                    },
                )
                .on_eos(
                    |trailers: Option<&http::HeaderMap>, _: Duration, span: &tracing::Span| {
                        if let Some(trailers) = trailers {
                            record_grpc_status(trailers, span);
                        }
                    },
                )
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        // Outside the limit: a refused call is counted too.
        .layer(rpc_metrics::RpcMetricsLayer::new(&[
            suite_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]))
        // Innermost, next to the services: every service gets the same limit without its
        // own setting, and an oversized message is refused before tonic buffers it.
        .layer(MapRequestLayer::new(message_limit::limit_request_messages))
        .into_inner();

    // tonic sets no limit of streams per connection, so one client could keep thousands of
    // calls open on the server, each holding its stream's memory. Twice the concurrency
    // limit bounds that and is as many calls as the slots and the line waiting for them
    // hold, so a busy connection (a peer service's) may fill both: its excess learns of
    // the overload from the server within the wait, rather than being held on its own
    // side for a free stream until its deadline.
    let streams_per_connection = settings
        .concurrency_limit
        .saturating_mul(2)
        .try_into()
        .unwrap_or(u32::MAX);
    let drained = Server::builder()
        .timeout(settings.request_timeout)
        .max_concurrent_streams(streams_per_connection)
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE))
        .initial_connection_window_size(CONNECTION_WINDOW)
        .layer(stack)
        .add_routes(
            Routes::from(
                routes.into_axum_router().layer(
                    // Bounds the work in flight per instance; a call beyond it waits briefly
                    // for a slot, then is refused (UNAVAILABLE, OVERLOADED) rather than
                    // queued into its deadline. Health and reflection stay outside: a busy
                    // instance is not an unready one.
                    ServiceBuilder::new()
                        .layer(shedding::ShedLayer::new(
                            service_name,
                            settings.concurrency_limit,
                            settings.concurrency_wait,
                        ))
                        .layer(GlobalConcurrencyLimitLayer::new(settings.concurrency_limit))
                        .into_inner(),
                ),
            )
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha),
        )
        // Without TCP_NODELAY a response's trailers, written after its message, wait for
        // the peer's delayed ACK (40 ms on Linux). The builder's `tcp_nodelay` applies only to
        // listeners tonic binds itself, so the accepted sockets are set here.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), {
            let health_reporter = health_reporter.clone();
            async move {
                shutdown.await;
                let _ = stopping_tx.send(true);
                set_status(&health_reporter, service_name, ServingStatus::NotServing).await;
                health_reporter
                    .set_service_status(LIVENESS_SERVICE, ServingStatus::NotServing)
                    .await;
                tracing::info!(
                    service = service_name,
                    "shutting down: draining in-flight calls"
                );
            }
        })
        .await;
    readiness_task.abort();
    drained?;
    tracing::info!(service = service_name, "stopped");
    Ok(())
}

/// Records the `grpc-status` in `headers`, if there is one, on `span`.
fn record_grpc_status(headers: &http::HeaderMap, span: &tracing::Span) {
    if let Some(code) = rpc_metrics::grpc_status(headers) {
        span.record("rpc.grpc.status_code", code);
    }
}

fn client_errors_are_not_failures() -> GrpcErrorsAsFailures {
    [
        GrpcCode::Cancelled,
        GrpcCode::InvalidArgument,
        GrpcCode::NotFound,
        GrpcCode::AlreadyExists,
        GrpcCode::PermissionDenied,
        GrpcCode::FailedPrecondition,
        GrpcCode::Aborted,
        GrpcCode::OutOfRange,
        GrpcCode::Unauthenticated,
        // Refusals under load (a shed call, a quota) are counted by the metrics; a log
        // line each would flood the logs exactly when the instance is busiest.
        GrpcCode::ResourceExhausted,
        GrpcCode::Unavailable,
    ]
    .into_iter()
    .fold(
        GrpcErrorsAsFailures::new(),
        GrpcErrorsAsFailures::with_success,
    )
}

/// The service and the overall server (`""`) report the same status, so a probe may ask for
/// either.
async fn set_status(reporter: &HealthReporter, service: &str, status: ServingStatus) {
    reporter.set_service_status(service, status).await;
    reporter.set_service_status("", status).await;
}

async fn watch_readiness(
    reporter: HealthReporter,
    service: &'static str,
    probe: Arc<dyn ReadinessProbe>,
    mut stopping: watch::Receiver<bool>,
) {
    let mut interval = tokio::time::interval(READINESS_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut serving = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stopping.changed() => return,
        }
        match probe.check().await {
            Ok(()) if !serving => {
                serving = true;
                set_status(&reporter, service, ServingStatus::Serving).await;
                tracing::info!(service, "ready");
            }
            Ok(()) => {}
            Err(reason) => {
                if serving {
                    serving = false;
                    set_status(&reporter, service, ServingStatus::NotServing).await;
                }
                tracing::warn!(service, %reason, "not ready");
            }
        }
    }
}

/// Runs a service binary: configuration from the environment (exits non-zero naming every
/// problem), telemetry, the listener, and `run` until SIGTERM or Ctrl-C.
pub async fn run_main<F, Fut>(
    service: &'static str,
    default_port: u16,
    run: F,
) -> std::process::ExitCode
where
    F: FnOnce(
        suite_config::ServiceConfig,
        TcpListener,
        Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Fut,
    Fut: Future<Output = Result<(), StartError>>,
{
    let config = match suite_config::ServiceConfig::from_env(default_port) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{service}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let telemetry =
        suite_telemetry::init(service, config.log_format, config.metrics_addr.is_some());
    let listener = match bind(config.listen_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, addr = %config.listen_addr, "cannot listen");
            return std::process::ExitCode::FAILURE;
        }
    };
    // The scrape endpoint lives as long as the process: a last scrape during the drain
    // still sees the final figures.
    if let (Some(addr), Some(scrape)) = (config.metrics_addr, telemetry.scrape()) {
        match bind(addr).await {
            Ok(metrics_listener) => {
                tokio::spawn(serve_metrics(
                    metrics_listener,
                    scrape,
                    std::future::pending(),
                ));
            }
            Err(error) => {
                tracing::error!(%error, %addr, "cannot listen for metrics");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    match run(config, listener, Box::pin(shutdown_signal())).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "service failed");
            std::process::ExitCode::FAILURE
        }
    }
}
