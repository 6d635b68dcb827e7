//! Logs and traces: one subscriber set-up for every binary (text for a terminal, JSON in
//! production), spans bridged to OpenTelemetry, and the W3C trace context carried across
//! services in request headers by the one server and the one client builder.

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use suite_config::LogFormat;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// Keeps the tracer provider alive; dropping it flushes pending spans.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Best effort at exit: nothing is left to report a failure to.
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber for `service`. `RUST_LOG` filters (default `info`).
pub fn init(service: &str, format: LogFormat) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // A second init in one process (tests, the launcher) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => registry.with(fmt::layer()).try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().flatten_event(true))
            .try_init(),
    };
    TelemetryGuard { provider }
}

/// Test set-up: silent unless `TEST_LOG` is set, then text logs through the test writer.
pub fn init_for_tests() {
    global::set_text_map_propagator(TraceContextPropagator::new());
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("debug,h2=info,hyper=info,tower=info"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().with_test_writer())
        .try_init();
}

/// Makes the trace context in `headers` (if any) the parent of `span`.
pub fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    let parent =
        global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)));
    // Fails only when no OpenTelemetry layer is installed: then there is no trace to continue.
    let _ = span.set_parent(parent);
}

/// Writes the current span's trace context into outgoing `headers`.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers))
    });
}
