//! The yardsticks: a bare tonic server (health only, no layers) that this binary serves when
//! re-executed with a hidden subcommand, an OTLP receiver that counts and drops spans, and
//! `pgbench` on a scratch database of the same PostgreSQL server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::BenchError;

/// Serves grpc.health.v1.Health on `addr` with no layer at all, until killed.
pub async fn serve_bare(addr: SocketAddr) -> Result<(), BenchError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    Server::builder()
        .tcp_nodelay(true)
        .add_service(health)
        .serve(addr)
        .await?;
    Ok(())
}

/// An OTLP/gRPC trace receiver that counts the spans it is sent and keeps none.
#[derive(Clone, Default)]
pub struct SpanCounter {
    spans: Arc<AtomicU64>,
}

impl SpanCounter {
    /// Spans received so far.
    pub fn spans(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    /// Serves the receiver on a free loopback port in this process; returns its address.
    pub async fn start(&self) -> Result<SocketAddr, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let receiver = TraceServiceServer::new(self.clone());
        tokio::spawn(
            Server::builder()
                .add_service(receiver)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Ok(addr)
    }
}

#[tonic::async_trait]
impl TraceService for SpanCounter {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .map(|scope| scope.spans.len())
            .sum();
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The parts of a `postgres://user:password@host:port/database` URL that pgbench needs.
#[derive(Debug, PartialEq, Eq)]
pub struct PgTarget {
    /// User.
    pub user: String,
    /// Password, if any.
    pub password: Option<String>,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl PgTarget {
    /// Parses `url`; `None` when it is not a `postgres://` URL with a host.
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let authority = rest.split(['/', '?']).next()?;
        let (credentials, server) = match authority.rsplit_once('@') {
            Some((credentials, server)) => (Some(credentials), server),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
                None => (credentials.to_owned(), None),
            },
            None => ("postgres".to_owned(), None),
        };
        let (host, port) = match server.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().ok()?),
            None => (server.to_owned(), 5432),
        };
        if host.is_empty() {
            return None;
        }
        Some(Self {
            user,
            password,
            host,
            port,
        })
    }
}

/// Runs `pgbench -i` on a scratch database of the server of `admin_url`, then
/// `pgbench -S -M prepared -c 8 -j 2 -T seconds`, and returns its TPS; the scratch database
/// is dropped afterwards.
pub async fn pgbench_select_tps(admin_url: &str, seconds: u64) -> Result<f64, BenchError> {
    let target = PgTarget::parse(admin_url).ok_or("the PostgreSQL URL is not postgres://…")?;
    let database = format!("bench_pgbench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut admin)
    .await?;
    let pgbench = |args: Vec<String>| {
        let mut command = tokio::process::Command::new("pgbench");
        command
            .args([
                "-h",
                &target.host,
                "-p",
                &target.port.to_string(),
                "-U",
                &target.user,
            ])
            .args(args)
            .arg(&database)
            .kill_on_drop(true);
        if let Some(password) = &target.password {
            command.env("PGPASSWORD", password);
        }
        command
    };
    let outcome: Result<f64, BenchError> = async {
        let init = pgbench(vec!["-i".into(), "-q".into(), "-s".into(), "10".into()])
            .output()
            .await?;
        if !init.status.success() {
            return Err(format!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&init.stderr)
            )
            .into());
        }
        let run = pgbench(
            ["-S", "-M", "prepared", "-c", "8", "-j", "2", "-T"]
                .into_iter()
                .map(str::to_owned)
                .chain([seconds.to_string()])
                .collect(),
        )
        .output()
        .await?;
        let stdout = String::from_utf8_lossy(&run.stdout);
        parse_tps(&stdout).ok_or_else(|| -> BenchError {
            format!(
                "no TPS in pgbench's output: {stdout}{}",
                String::from_utf8_lossy(&run.stderr)
            )
            .into()
        })
    }
    .await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    outcome
}

/// The TPS of a pgbench report (`tps = 12345.678901 (without initial connection time)`).
pub fn parse_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|line| line.trim().strip_prefix("tps = "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_url_gives_what_pgbench_needs() {
        assert_eq!(
            PgTarget::parse("postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable"),
            Some(PgTarget {
                user: "postgres".into(),
                password: Some("secret".into()),
                host: "127.0.0.1".into(),
                port: 5432,
            })
        );
        assert_eq!(
            PgTarget::parse("postgresql://db.example/app"),
            Some(PgTarget {
                user: "postgres".into(),
                password: None,
                host: "db.example".into(),
                port: 5432,
            })
        );
        assert_eq!(PgTarget::parse("sqlite://x.db"), None);
    }

    #[test]
    fn the_tps_is_read_from_a_pgbench_report() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 0.150 ms\n\
                      initial connection time = 5.1 ms\ntps = 53123.456789 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(53123.456789));
        assert_eq!(parse_tps("nothing"), None);
    }
}
