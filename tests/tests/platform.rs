//! Behaviour every service shares through the platform: readiness tied to the database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use suite_config::{Secret, ServiceConfig};
use suite_testkit::{ServingStatus, TEST_SECRET, health_status};
use tokio::net::TcpListener;

#[tokio::test]
async fn service_whose_database_is_unreachable_listens_but_is_not_serving() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Port 1 on loopback refuses connections: the database never answers.
    let unreachable = "postgres://postgres:postgres@127.0.0.1:1/enrollment";
    let config = ServiceConfig::development(addr, unreachable, &Secret::new(TEST_SECRET));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(enrollment::run(config, listener, async move {
        let _ = stopped.await;
    }));

    assert_eq!(health_status(addr, "").await, ServingStatus::NotServing);
    // Alive all the same: a liveness probe does not restart it for its database's outage.
    assert_eq!(
        health_status(addr, suite_server::LIVENESS_SERVICE).await,
        ServingStatus::Serving
    );
    assert_eq!(
        health_status(addr, "enrollment.v1.EnrollmentService").await,
        ServingStatus::NotServing
    );

    stop.send(()).unwrap();
    service.await.unwrap().unwrap();
}

#[tokio::test]
async fn service_with_a_database_reports_serving_and_stops_cleanly() {
    let service =
        suite_testkit::spawn_service(enrollment::run, suite_config::PeerUrls::default()).await;
    assert_eq!(
        health_status(service.addr, "enrollment.v1.EnrollmentService").await,
        ServingStatus::Serving
    );
    assert_eq!(
        health_status(service.addr, "").await,
        ServingStatus::Serving
    );
    service.stop().await;
}

#[tokio::test]
async fn a_service_that_calls_a_peer_does_not_start_without_its_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("r.db").display());
    let config = ServiceConfig::development(addr, &database, &Secret::new(TEST_SECRET));
    let error = relationship::run(config, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("ENROLLMENT_URL"), "{error}");
}
