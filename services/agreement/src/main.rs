//! The agreement service binary; configuration comes from the environment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    suite_server::run_main(agreement::SERVICE, agreement::DEFAULT_PORT, agreement::run).await
}
