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

#[tokio::test]
async fn a_services_e_mails_leave_its_outbox_as_files_when_a_mail_directory_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let enrollment = suite_testkit::spawn_service_adjusted(enrollment::run, {
        let mail = mail.clone();
        move |config| config.mail.directory = Some(mail)
    })
    .await;
    // The approval of an indirect reseller enrollment e-mails the primary contact.
    suite_testkit::indirect_reseller_partner(&enrollment).await;
    let files = || {
        std::fs::read_dir(&mail)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    suite_testkit::eventually(
        "the approval e-mail is written",
        std::time::Duration::from_secs(20),
        || {
            let found = !files().is_empty();
            async move { found }
        },
    )
    .await;
    let text = std::fs::read_to_string(&files()[0]).unwrap();
    assert!(text.contains("is approved"), "{text}");
    assert!(text.contains("Message-ID: <"), "{text}");
    // Delivered once: the outbox row is marked, so no later pass writes it again.
    let delivered = sqlx::query(
        "SELECT COUNT(*) AS n FROM outbox_messages WHERE topic = 'email' AND delivered_at IS NOT NULL",
    )
    .fetch_one(enrollment.database.database().pool())
    .await
    .map(|row| sqlx::Row::get::<i64, _>(&row, "n"))
    .unwrap();
    assert!(delivered >= 1);
    enrollment.stop().await;
}
