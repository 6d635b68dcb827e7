//! Logs, traces and metrics: one set-up for every binary. Logs are text for a terminal or
//! JSON (with the trace and span ids) in production. Spans are exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without a collector no OpenTelemetry layer runs at
//! all, and a trace passing through such a service ends there. Metrics go to the same
//! collector and, when asked for, to a Prometheus registry that a scrape endpoint renders.
//! The W3C trace context is carried across services in request headers by the one server
//! and the one client builder.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::time::Duration;

use opentelemetry::global;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use suite_config::LogFormat;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};

/// The standard variable naming the OTLP collector (gRPC, e.g. `http://collector:4317`).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

pub use opentelemetry::metrics::{AsyncInstrument, Counter, Histogram, Meter};
/// The instruments' types, so that a crate that records metrics needs no other dependency.
pub use opentelemetry::{KeyValue, StringValue};

/// The meter every instrument of the suite is made from: made after [`install`], its
/// instruments record into the installed provider; before it, or without one, into nothing.
pub fn meter() -> Meter {
    global::meter("csp-suite")
}

/// How often metrics are pushed to the collector: a dashboard is at most this far behind.
const METRICS_PUSH_INTERVAL: Duration = Duration::from_secs(15);

/// Where telemetry goes besides the logs.
#[derive(Debug, Clone, Default)]
pub struct Exports {
    /// The OTLP collector (gRPC) for spans and metrics; none means neither is pushed.
    pub otlp_endpoint: Option<String>,
    /// Keep metrics for a Prometheus scrape ([`TelemetryGuard::scrape`]).
    pub scrape: bool,
}

impl Exports {
    /// The collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`, if any, and a scrape if `scrape`.
    pub fn from_env(scrape: bool) -> Self {
        Self {
            otlp_endpoint: std::env::var(OTLP_ENDPOINT)
                .ok()
                .filter(|endpoint| !endpoint.trim().is_empty()),
            scrape,
        }
    }
}

/// The metrics of this process, rendered in the Prometheus text format on request.
#[derive(Clone, Debug)]
pub struct Scrape(prometheus::Registry);

impl Scrape {
    /// The content type of [`Self::render`]'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4";

    /// Every metric as Prometheus text.
    pub fn render(&self) -> Result<String, String> {
        use prometheus::Encoder as _;
        let mut text = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.0.gather(), &mut text)
            .map_err(|error| error.to_string())?;
        String::from_utf8(text).map_err(|error| error.to_string())
    }
}

/// Keeps the providers alive; dropping it flushes pending spans and metrics.
pub struct TelemetryGuard {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
    scrape: Option<Scrape>,
}

impl TelemetryGuard {
    /// Sends the spans ended so far (tests call it before they look at what arrived).
    pub fn flush(&self) {
        if let Some(provider) = &self.traces {
            // Best effort: a lost batch is reported by the exporter's own logs.
            let _ = provider.force_flush();
        }
    }

    /// The metrics for a scrape endpoint, when [`Exports::scrape`] asked for them.
    pub fn scrape(&self) -> Option<Scrape> {
        self.scrape.clone()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Best effort at exit: nothing is left to report a failure to.
        if let Some(provider) = &self.traces {
            let _ = provider.shutdown();
        }
        if let Some(provider) = &self.metrics {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the global subscriber and meter provider for `service`, exporting to `exports`.
/// `RUST_LOG` filters the logs (default `info`). Call it inside the Tokio runtime: the
/// exporters' channels live there. A second call in one process (tests, the launcher) keeps
/// the first subscriber.
pub fn install(service: &str, format: LogFormat, exports: Exports) -> TelemetryGuard {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let traces = exports
        .otlp_endpoint
        .clone()
        .and_then(|endpoint| otlp_traces(resource.clone(), endpoint));
    let (metrics, scrape) = meter_provider(resource, &exports);
    let otel = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()))
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let _ = match format {
        // Colours only on a terminal: a log file or a collector gets plain text.
        LogFormat::Text => registry
            .with(fmt::layer().with_ansi(std::io::stdout().is_terminal()))
            .try_init(),
        LogFormat::Json => registry.with(json_logs()).try_init(),
    };
    TelemetryGuard {
        traces,
        metrics,
        scrape,
    }
}

/// One JSON object per line: the event's fields at the top, the current span's fields under
/// `span`, and, when a trace is recorded, its ids under `openTelemetry` (`traceId`, `spanId`)
/// so a log line leads to its trace.
fn json_logs<S>() -> json_subscriber::fmt::Layer<S>
where
    S: tracing::Subscriber + for<'lookup> tracing_subscriber::registry::LookupSpan<'lookup>,
{
    json_subscriber::layer()
        .flatten_event(true)
        .with_current_span(true)
        .with_opentelemetry_ids(true)
}

/// As [`install`], with the collector named by `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn init(service: &str, format: LogFormat, scrape: bool) -> TelemetryGuard {
    install(service, format, Exports::from_env(scrape))
}

/// A tracer provider exporting over OTLP/gRPC to `endpoint` in batches.
fn otlp_traces(resource: Resource, endpoint: String) -> Option<SdkTracerProvider> {
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
        .with_resource(resource)
        .build();
    global::set_tracer_provider(provider.clone());
    Some(provider)
}

/// The global meter provider: pushing to the collector, kept for a scrape, or both. With
/// neither, none is installed and every instrument is a no-op.
fn meter_provider(
    resource: Resource,
    exports: &Exports,
) -> (Option<SdkMeterProvider>, Option<Scrape>) {
    if exports.otlp_endpoint.is_none() && !exports.scrape {
        return (None, None);
    }
    let mut builder = SdkMeterProvider::builder().with_resource(resource);
    let mut scrape = None;
    if exports.scrape {
        let registry = prometheus::Registry::new();
        match opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
        {
            Ok(exporter) => {
                builder = builder.with_reader(exporter);
                scrape = Some(Scrape(registry));
            }
            Err(error) => eprintln!("metrics: no scrape: {error}"),
        }
    }
    if let Some(endpoint) = &exports.otlp_endpoint {
        match opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()
        {
            Ok(exporter) => {
                builder = builder.with_reader(
                    PeriodicReader::builder(exporter)
                        .with_interval(METRICS_PUSH_INTERVAL)
                        .build(),
                );
            }
            Err(error) => eprintln!("{OTLP_ENDPOINT}: no metrics export: {error}"),
        }
    }
    let provider = builder.build();
    global::set_meter_provider(provider.clone());
    (Some(provider), scrape)
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

/// The W3C `traceparent` of the current span, to keep with work that runs later (an outbox
/// message); `None` when no trace is being recorded.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut carrier));
    carrier.remove(TRACEPARENT)
}

/// Links `span` to the span a stored `traceparent` names: later work points at the change
/// that asked for it without becoming part of that request's trace.
pub fn link_to_traceparent(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = global::get_text_map_propagator(|propagator| propagator.extract(&carrier));
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

const TRACEPARENT: &str = "traceparent";

/// Writes the current span's trace context into outgoing `headers`.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(headers))
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TraceContextExt as _;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_logs_carry_the_trace_and_span_ids() {
        let provider = SdkTracerProvider::builder().build();
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("tests")))
            .with(json_logs().with_writer(move || writer.clone()));
        let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("rpc", tenant_id = "t-1");
            let _entered = span.enter();
            tracing::info!(answer = 42, "served");
            let context = span.context();
            let ids = context.span().span_context().clone();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(line["message"], "served", "{line}");
        assert_eq!(line["answer"], 42, "{line}");
        assert_eq!(line["span"]["tenant_id"], "t-1", "{line}");
        assert_eq!(
            line["openTelemetry"]["traceId"],
            trace_id.as_str(),
            "{line}"
        );
        assert_eq!(line["openTelemetry"]["spanId"], span_id.as_str(), "{line}");
        assert_ne!(trace_id, opentelemetry::trace::TraceId::INVALID.to_string());
    }
}
