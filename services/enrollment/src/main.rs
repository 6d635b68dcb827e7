//! The enrollment service binary; configuration comes from the environment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    suite_server::run_main(
        enrollment::SERVICE,
        enrollment::DEFAULT_PORT,
        enrollment::run,
    )
    .await
}
