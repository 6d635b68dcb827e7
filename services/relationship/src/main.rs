//! The relationship service binary; configuration comes from the environment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    suite_server::run_main(
        relationship::SERVICE,
        relationship::DEFAULT_PORT,
        relationship::run,
    )
    .await
}
