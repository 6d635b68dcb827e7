//! The transfer service binary; configuration comes from the environment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    suite_server::run_main(transfer::SERVICE, transfer::DEFAULT_PORT, transfer::run).await
}
