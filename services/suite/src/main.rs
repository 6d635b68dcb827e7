//! The local suite: `suite` (or `suite run`) starts the four services on 127.0.0.1, each on
//! its own SQLite file under the data directory, and stops them cleanly on Ctrl-C;
//! `suite token` mints a development token for `grpcurl -H "authorization: Bearer ..."`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use suite_auth::{PrincipalKind, Role, TokenIssuer, Trust};
use suite_config::{LogFormat, PeerUrls, Secret, ServiceConfig};
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "suite",
    about = "CSP direct-bill to indirect-reseller services, run locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start the four services (the default).
    Run(RunArgs),
    /// Print a development token signed with the local suite's secret.
    Token(TokenArgs),
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Where the SQLite files and the development secret live.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Port of the enrollment service; relationship, agreement and transfer follow it.
    #[arg(long, default_value_t = enrollment::DEFAULT_PORT)]
    base_port: u16,
    /// Port of the Prometheus scrape endpoint (`GET /metrics`) of all four services; 0
    /// turns it off.
    #[arg(long, default_value_t = DEFAULT_METRICS_PORT)]
    metrics_port: u16,
}

/// The port OpenTelemetry's Prometheus exporters conventionally use.
const DEFAULT_METRICS_PORT: u16 = 9464;

#[derive(Args)]
struct TokenArgs {
    /// Tenant id of the principal; a new one when omitted.
    #[arg(long)]
    tenant: Option<Uuid>,
    /// A role to grant (GLOBAL_ADMIN, ADMIN_AGENT, SALES_AGENT); repeat for several.
    #[arg(long = "role", value_parser = parse_role)]
    roles: Vec<Role>,
    /// Principal kind: user, app or operator. Service tokens are minted by the services
    /// themselves, each for one peer.
    #[arg(long, default_value = "user", value_parser = parse_kind)]
    kind: PrincipalKind,
    /// Subject (user, app or service name).
    #[arg(long, default_value = "dev-user")]
    subject: String,
    /// Lifetime in hours (at most 24, the longest the services accept).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=24))]
    hours: u64,
    /// The local suite's data directory.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse()
}

fn parse_kind(value: &str) -> Result<PrincipalKind, String> {
    match value.parse()? {
        PrincipalKind::Service => {
            Err("service tokens are minted by the services themselves, each for one peer".into())
        }
        kind => Ok(kind),
    }
}

const SECRET_FILE: &str = "dev-secret";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Token(args)) => print_token(&args),
        Some(Command::Run(args)) => run(&args).await,
        None => run(&cli.run).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("suite: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The data directory's development secret, created on first use. It is random per data
/// directory, so a token minted for one local suite is useless anywhere else.
fn development_secret(data_dir: &Path) -> Result<Secret, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let path = data_dir.join(SECRET_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(secret.trim()));
    }
    let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    std::fs::write(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(Secret::new(secret))
}

fn mint(
    secret: &Secret,
    subject: &str,
    tenant: Uuid,
    kind: PrincipalKind,
    roles: &[Role],
    hours: u64,
) -> Result<String, String> {
    let config = ServiceConfig::development(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        "sqlite::memory:",
        secret,
    );
    // The embedded run derives the identity provider's and the operator's keys from the
    // data directory's secret, so it can mint what those would issue.
    let trust = match kind {
        PrincipalKind::Operator => Trust::Operator,
        _ => Trust::Identity,
    };
    let issuer = TokenIssuer::embedded(&config.auth, &trust).map_err(|e| e.to_string())?;
    let claims = issuer.claims(
        subject,
        tenant,
        kind,
        roles,
        &config.auth.audience,
        Duration::from_secs(hours * 3600),
    );
    issuer
        .sign(&claims)
        .map_err(|e| format!("cannot sign token: {e}"))
}

fn print_token(args: &TokenArgs) -> Result<(), String> {
    let secret = development_secret(&args.data_dir)?;
    let tenant = args.tenant.unwrap_or_else(Uuid::new_v4);
    println!(
        "{}",
        mint(
            &secret,
            &args.subject,
            tenant,
            args.kind,
            &args.roles,
            args.hours
        )?
    );
    Ok(())
}

struct Member {
    name: &'static str,
    grpc_service: &'static str,
    port: u16,
}

async fn run(args: &RunArgs) -> Result<(), String> {
    let secret = development_secret(&args.data_dir)?;
    let telemetry = suite_telemetry::init("csp-suite", LogFormat::Text, args.metrics_port != 0);
    let metrics_addr = match telemetry.scrape() {
        Some(scrape) => {
            let addr = SocketAddr::from(([127, 0, 0, 1], args.metrics_port));
            match suite_server::bind(addr).await {
                Ok(listener) => {
                    tokio::spawn(suite_server::serve_metrics(
                        listener,
                        scrape,
                        std::future::pending(),
                    ));
                    Some(addr)
                }
                // The services matter more than their metrics (a local collector may hold
                // the port): they run, and the welcome shows no scrape endpoint.
                Err(error) => {
                    eprintln!(
                        "metrics: cannot listen on {addr} ({error}); choose a port with --metrics-port"
                    );
                    None
                }
            }
        }
        None => None,
    };
    let members = [
        Member {
            name: enrollment::SERVICE,
            grpc_service: "enrollment.v1.EnrollmentService",
            port: args.base_port,
        },
        Member {
            name: relationship::SERVICE,
            grpc_service: "relationship.v1.RelationshipService",
            port: args.base_port + 1,
        },
        Member {
            name: agreement::SERVICE,
            grpc_service: "agreement.v1.AgreementService",
            port: args.base_port + 2,
        },
        Member {
            name: transfer::SERVICE,
            grpc_service: "transfer.v1.TransferService",
            port: args.base_port + 3,
        },
    ];
    let url = |port: u16| Some(format!("http://127.0.0.1:{port}"));
    let peers = PeerUrls {
        enrollment: url(members[0].port),
        relationship: url(members[1].port),
        agreement: url(members[2].port),
        transfer: url(members[3].port),
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for member in &members {
        let addr = SocketAddr::from(([127, 0, 0, 1], member.port));
        let listener = suite_server::bind(addr)
            .await
            .map_err(|e| format!("{}: cannot listen on {addr}: {e}", member.name))?;
        let database = args.data_dir.join(format!("{}.db", member.name));
        let mut config =
            ServiceConfig::development(addr, &format!("sqlite://{}", database.display()), &secret);
        config.peers = peers.clone();
        // No SMTP server in the embedded suite: each e-mail is a file a person can open.
        config.mail.directory = Some(args.data_dir.join(MAIL_DIR));
        let mut stop = stop_rx.clone();
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        let task = match member.name {
            "enrollment" => tokio::spawn(enrollment::run(config, listener, shutdown)),
            "relationship" => tokio::spawn(relationship::run(config, listener, shutdown)),
            "agreement" => tokio::spawn(agreement::run(config, listener, shutdown)),
            _ => tokio::spawn(transfer::run(config, listener, shutdown)),
        };
        tasks.push((member.name, task));
    }

    print_welcome(&members, metrics_addr, &args.data_dir, &secret)?;
    suite_server::shutdown_signal().await;
    let _ = stop_tx.send(true);

    let mut failed = Vec::new();
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => failed.push(format!("{name}: {error}")),
            Err(error) => failed.push(format!("{name}: {error}")),
        }
    }
    if failed.is_empty() {
        println!("suite stopped");
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Where, under the data directory, the embedded suite writes its e-mails.
const MAIL_DIR: &str = "mail";

fn print_welcome(
    members: &[Member],
    metrics_addr: Option<SocketAddr>,
    data_dir: &Path,
    secret: &Secret,
) -> Result<(), String> {
    let tenant = Uuid::new_v4();
    let token = mint(
        secret,
        "dev-admin",
        tenant,
        PrincipalKind::User,
        &[Role::GlobalAdmin, Role::AdminAgent],
        12,
    )?;
    println!();
    println!(
        "CSP transition suite is running (data in {}/):",
        data_dir.display()
    );
    for member in members {
        println!(
            "  {:<13} 127.0.0.1:{}  {}",
            member.name, member.port, member.grpc_service
        );
    }
    if let Some(addr) = metrics_addr {
        println!("  {:<13} http://{addr}/metrics  (Prometheus)", "metrics");
    }
    println!();
    println!(
        "E-mails are written to {}/ (one .eml file each; the newest sorts last: ls | tail -1).",
        data_dir.join(MAIL_DIR).display()
    );
    println!();
    println!("Try it (a GLOBAL_ADMIN + ADMIN_AGENT token of a new tenant {tenant}, valid 12 h):");
    println!("  grpcurl -plaintext 127.0.0.1:{} list", members[0].port);
    println!(
        "  grpcurl -plaintext 127.0.0.1:{} grpc.health.v1.Health/Check",
        members[0].port
    );
    println!(
        "  grpcurl -plaintext -H 'authorization: Bearer {token}' \\\n    -d '{{\"request_id\":\"{}\",\"partner\":{{\"legal_name\":\"Contoso Ltd\",\"country_code\":\"US\",\"primary_contact_email\":\"ops@contoso.example\"}}}}' \\\n    127.0.0.1:{} enrollment.v1.EnrollmentService/CreatePartner",
        Uuid::new_v4(),
        members[0].port
    );
    println!();
    println!("More tokens: cargo run -q -p suite -- token --tenant <uuid> --role GLOBAL_ADMIN");
    println!("Stop with Ctrl-C.");
    Ok(())
}
