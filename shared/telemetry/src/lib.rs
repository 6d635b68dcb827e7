//! Logs and traces: one subscriber set-up for every binary (text for a terminal, JSON in
//! production), spans exported over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and the
//! W3C trace context carried across services in request headers by the one server and the
//! one client builder. Without a collector no OpenTelemetry layer runs at all, and a trace
//! passing through such a service ends there.

use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
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
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Sends the spans ended so far (tests call it before they look at what arrived).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            // Best effort: a lost batch is reported by the exporter's own logs.
            let _ = provider.force_flush();
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = &self.provider {
            // Best effort at exit: nothing is left to report a failure to.
            let _ = provider.shutdown();
        }
    }
}

/// The standard variable naming the OTLP collector (gRPC, e.g. `http://collector:4317`).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Installs the global subscriber for `service`. `RUST_LOG` filters (default `info`). Spans
/// go to the OTLP collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`; without it no span is
/// built for OpenTelemetry at all. Call it inside the Tokio runtime: the exporter's channel
/// lives there.
pub fn init(service: &str, format: LogFormat) -> TelemetryGuard {
    let endpoint = std::env::var(OTLP_ENDPOINT)
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty());
    install(service, format, endpoint)
}

/// As [`init`], exporting to `endpoint` when there is one (tests name their own receiver).
pub fn install(service: &str, format: LogFormat, endpoint: Option<String>) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = endpoint.and_then(|endpoint| otlp_provider(service, endpoint));
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()))
    });
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

/// A tracer provider exporting over OTLP/gRPC to `endpoint` in batches.
fn otlp_provider(service: &str, endpoint: String) -> Option<SdkTracerProvider> {
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            // Logging is not installed yet; the service still runs, without traces.
            eprintln!("{OTLP_ENDPOINT}: no trace export: {error}");
            return None;
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    Some(provider)
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
    // Fails only when no OpenTelemetry layer is installed (no collector configured): this
    // service then neither records nor passes on the caller's trace.
    let _ = span.set_parent(parent);
}

/// Writes the current span's trace context into outgoing `headers`.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers))
    });
}
