//! The suite's benchmark: starts the four release binaries on loopback (on SQLite, and on
//! PostgreSQL when given a server), drives them over gRPC with a fixed number of connections
//! and calls in flight, and prints every figure next to the same load on a bare tonic server
//! of the same machine (and, on PostgreSQL, next to `pgbench -S`), with the goal of issue 14
//! beside it.
//!
//! ```sh
//! cargo build --release -p enrollment -p relationship -p agreement -p transfer -p suite-bench
//! target/release/suite-bench --all --postgres postgres://postgres:postgres@127.0.0.1:5432/postgres
//! ```

mod affinity;
mod baseline;
mod load;
mod process;
mod report;
mod scenarios;
mod services;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Errors of the benchmark: a message for the person running it.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Issue 14's order, in which the scenarios run: the cheap figures first, the long set-ups
/// last.
const ORDER: [Scenario; 7] = [
    Scenario::A,
    Scenario::B,
    Scenario::G,
    Scenario::E,
    Scenario::F,
    Scenario::C,
    Scenario::D,
];

#[derive(Parser)]
#[command(
    name = "suite-bench",
    about = "Benchmark of the four services over gRPC, as ratios to a bare tonic server and to pgbench"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Hidden>,
    /// Run every scenario (the default when --scenario is not given).
    #[arg(long)]
    all: bool,
    /// Scenarios to run, comma separated (a stack, b read, g tracing, e memory, f overload,
    /// c transfers, d deep pages).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// A PostgreSQL server (an admin URL) for the PostgreSQL variants; a database is
    /// created on it per service. Without it only SQLite is measured.
    #[arg(long, env = "BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Measure PostgreSQL only.
    #[arg(long)]
    no_sqlite: bool,
    /// Length of each timed run, seconds (pgbench runs as long).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Warm-up before each timed run, seconds (not measured).
    #[arg(long, default_value_t = 2)]
    warmup_seconds: u64,
    /// Connections (one tonic channel, one HTTP/2 connection each).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight per connection.
    #[arg(long, default_value_t = 32)]
    streams: usize,
    /// Transfer lifecycles run in scenario c.
    #[arg(long, default_value_t = 640)]
    transfers: u64,
    /// Customers the transfers of scenario c are spread over (one lifecycle at a time each).
    #[arg(long, default_value_t = 32)]
    customers: usize,
    /// Subscriptions seeded for the deep pages of scenario d.
    #[arg(long, default_value_t = 1_000_000)]
    subscriptions: u64,
    /// Short runs for a quick look: 3 s runs, 1 s warm-up, 160 transfers, 100,000
    /// subscriptions.
    #[arg(long)]
    quick: bool,
    /// Where the services' logs go (a new temporary directory when omitted).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Hidden {
    /// The bare tonic server the figures are compared to (started by the benchmark itself).
    #[command(hide = true)]
    BareServer {
        /// Where to listen.
        #[arg(long)]
        listen: SocketAddr,
    },
}

/// A scenario of issue 14.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// The server stack alone: grpc.health.v1.Health/Check.
    A,
    /// A read through every layer: enrollment GetCapabilities.
    B,
    /// Scenario b with spans exported over OTLP.
    G,
    /// Resident memory of each service, idle and under load.
    E,
    /// Offered load at twice the maximum.
    F,
    /// The transfer lifecycle.
    C,
    /// A List paged to the end over many subscriptions.
    D,
}

/// The run's settings, after `--quick`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Length of each timed run.
    pub duration: Duration,
    /// Warm-up before each timed run.
    pub warmup: Duration,
    /// Connections.
    pub connections: usize,
    /// Calls in flight per connection.
    pub streams: usize,
    /// Transfer lifecycles.
    pub transfers: u64,
    /// Customers of the transfers.
    pub customers: usize,
    /// Subscriptions for the deep pages.
    pub subscriptions: u64,
}

impl Settings {
    fn from_cli(cli: &Cli) -> Self {
        if cli.quick {
            return Self {
                duration: Duration::from_secs(3),
                warmup: Duration::from_secs(1),
                connections: cli.connections,
                streams: cli.streams,
                transfers: 160,
                customers: cli.customers,
                subscriptions: 100_000,
            };
        }
        Self {
            duration: Duration::from_secs(cli.seconds.max(1)),
            warmup: Duration::from_secs(cli.warmup_seconds),
            connections: cli.connections.max(1),
            streams: cli.streams.max(1),
            transfers: cli.transfers,
            customers: cli.customers.max(1),
            subscriptions: cli.subscriptions,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("suite-bench: no runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match &cli.command {
            Some(Hidden::BareServer { listen }) => baseline::serve_bare(*listen).await,
            None => run(&cli).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("suite-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), BenchError> {
    let settings = Settings::from_cli(cli);
    let mut chosen = cli.scenario.clone();
    if cli.all || chosen.is_empty() {
        chosen = ORDER.to_vec();
    }
    let chosen: Vec<Scenario> = ORDER.into_iter().filter(|s| chosen.contains(s)).collect();

    let log_dir = match &cli.log_dir {
        Some(dir) => dir.clone(),
        None => tempfile_dir()?,
    };
    std::fs::create_dir_all(&log_dir)?;
    println!("# suite-bench");
    println!(
        "settings: {} connections × {} streams, {} s runs after {} s warm-up; scenarios {:?}",
        settings.connections,
        settings.streams,
        settings.duration.as_secs(),
        settings.warmup.as_secs(),
        chosen
    );
    println!("logs of the services: {}", log_dir.display());

    let mut backends: Vec<Option<String>> = Vec::new();
    if !cli.no_sqlite {
        backends.push(None);
    }
    match &cli.postgres {
        Some(url) => match services::postgres_reachable(url).await {
            Ok(()) => backends.push(Some(url.clone())),
            Err(error) => println!(
                "PostgreSQL at the given URL is not reachable ({error}): PostgreSQL figures skipped"
            ),
        },
        None => println!("no --postgres URL: PostgreSQL figures skipped"),
    }

    let bare_addr = process::free_addr()?;
    let bare = process::Process::start(
        "bare",
        &std::env::current_exe()?,
        &["bare-server", "--listen", &bare_addr.to_string()],
        &[],
        bare_addr,
        &log_dir,
    )
    .await?;
    let spans = baseline::SpanCounter::default();
    let receiver = spans.start().await?;

    for admin_url in backends {
        let context = scenarios::Context {
            settings: settings.clone(),
            admin_url: admin_url.clone(),
            log_dir: log_dir.clone(),
            bare_addr: bare.addr,
            receiver,
            spans: spans.clone(),
        };
        scenarios::run_backend(&context, &chosen).await?;
    }
    bare.stop().await;
    Ok(())
}

/// A new directory for the logs under the system's temporary directory.
fn tempfile_dir() -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("suite-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
