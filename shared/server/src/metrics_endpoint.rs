//! The Prometheus scrape endpoint: `GET /metrics` over plain HTTP/1 on a port of its own,
//! so a scraper needs neither gRPC nor a token, and the gRPC port stays API-only.

use std::future::Future;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use suite_telemetry::Scrape;
use tokio::net::TcpListener;

/// Serves `scrape` on `listener` until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    scrape: Scrape,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let scrape = scrape.clone();
            async move { render(&scrape) }
        }),
    );
    tracing::info!(addr = ?listener.local_addr().ok(), "metrics at GET /metrics");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

fn render(scrape: &Scrape) -> axum::response::Response {
    match scrape.render() {
        Ok(text) => ([(header::CONTENT_TYPE, Scrape::CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::warn!(%error, "metrics could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, error).into_response()
        }
    }
}
