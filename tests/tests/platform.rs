//! Behaviour every service shares through the platform: readiness tied to the database.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use suite_config::{Secret, ServiceConfig};
use suite_testkit::{ServingStatus, TEST_SECRET, eventually, health_status};
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

/// Calls in flight on one connection, far more than the default concurrency limit (256).
const CALLS_ON_ONE_CONNECTION: usize = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_calls_in_flight_on_one_connection_each_get_their_answer() {
    // A limit above the calls, so the connection carries them all at once (it allows twice
    // the limit): what is tested is its flow-control window.
    let service = suite_testkit::spawn_service_adjusted(enrollment::run, |config| {
        config.concurrency_limit = 2 * CALLS_ON_ONE_CONNECTION;
    })
    .await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", service.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // Each request is one small DATA frame that waits in the connection until its handler
    // reads it. Health answers every call (it is outside the concurrency limit), so any
    // failure here is the connection itself being closed.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..CALLS_ON_ONE_CONNECTION {
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
        calls.spawn(async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "enrollment.v1.EnrollmentService".to_owned(),
                })
                .await
                .map(|answer| answer.into_inner().status())
                .map_err(|status| status.code())
        });
    }
    let mut failures = std::collections::BTreeMap::new();
    while let Some(answer) = calls.join_next().await {
        match answer.unwrap() {
            Ok(status) => assert_eq!(status, ServingStatus::Serving),
            Err(code) => *failures.entry(format!("{code:?}")).or_insert(0) += 1,
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
    service.stop().await;
}

/// A connection may carry twice as many calls at once as the service serves: bounded, and
/// as many as the slots and the line waiting for them, so a busy peer's excess learns of
/// the overload from the service rather than being held back on its side.
#[tokio::test]
async fn a_connection_is_told_it_may_carry_twice_the_concurrency_limit() {
    const LIMIT: usize = 7;
    let service = suite_testkit::spawn_service_adjusted(enrollment::run, |config| {
        config.concurrency_limit = LIMIT;
    })
    .await;
    let tcp = tokio::net::TcpStream::connect(service.addr).await.unwrap();
    let (send, connection) = h2::client::handshake(tcp).await.unwrap();
    let connection = tokio::spawn(connection);
    eventually(
        "the server's HTTP/2 settings",
        Duration::from_secs(5),
        || {
            let allowed = send.current_max_send_streams();
            async move { allowed == 2 * LIMIT }
        },
    )
    .await;
    drop(send);
    connection.abort();
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
    // Delivered once: the outbox row is marked (just after the file is written), so no
    // later pass writes it again.
    let pool = enrollment.database.database().pool().clone();
    suite_testkit::eventually(
        "the e-mail's outbox row is marked delivered",
        std::time::Duration::from_secs(20),
        || {
            let pool = pool.clone();
            async move {
                sqlx::query(
                    "SELECT COUNT(*) AS n FROM outbox_messages WHERE topic = 'email' AND delivered_at IS NOT NULL",
                )
                .fetch_one(&pool)
                .await
                .map(|row| sqlx::Row::get::<i64, _>(&row, "n"))
                .is_ok_and(|delivered| delivered >= 1)
            }
        },
    )
    .await;
    enrollment.stop().await;
}

/// A deliverer that answers each message with the outcome its payload names.
struct Scripted;

impl suite_db::Deliverer for Scripted {
    fn topics(&self) -> &'static [&'static str] {
        &["test.scripted"]
    }

    fn deliver<'a>(
        &'a self,
        message: &'a suite_db::PendingMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = suite_db::Delivery> + Send + 'a>> {
        Box::pin(async move {
            match message.payload.as_slice() {
                b"fail" => suite_db::Delivery::Failed("refused for good".into()),
                b"slow" => std::future::pending().await,
                _ => suite_db::Delivery::Delivered,
            }
        })
    }
}

#[tokio::test]
async fn the_relay_keeps_dead_letters_apart_renews_the_lease_of_a_slow_attempt_and_cuts_it_off() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    let mut tx = db.begin().await.unwrap();
    for (key, payload) in [("a", "ok"), ("b", "fail"), ("c", "slow")] {
        suite_db::enqueue(
            &mut tx,
            suite_db::OutboxMessage {
                topic: "test.scripted",
                key,
                payload: payload.as_bytes().to_vec(),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let settings = suite_db::RelaySettings {
        lease: Duration::from_millis(300),
        attempt_timeout: Duration::from_millis(1_500),
        ..suite_db::RelaySettings::default()
    };
    let relay = tokio::spawn({
        let (db, settings) = (db.clone(), settings.clone());
        async move { suite_db::relay_once(&db, "platform-tests", &Scripted, &settings).await }
    });
    // The slow attempt outlives its first lease many times over: the lease is renewed, so
    // another replica finds nothing to take.
    let slow = || {
        let db = db.clone();
        async move {
            let row = sqlx::query(
                "SELECT attempts, next_attempt_at FROM outbox_messages WHERE message_key = 'c'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            use sqlx::Row;
            (
                row.get::<i64, _>("attempts"),
                row.get::<i64, _>("next_attempt_at"),
            )
        }
    };
    eventually(
        "the slow message is claimed",
        Duration::from_secs(10),
        || async { slow().await.0 == 1 },
    )
    .await;
    let (_, claimed_until) = slow().await;
    eventually(
        "the slow attempt's lease is renewed past its first end and more",
        Duration::from_secs(10),
        || async { slow().await.1 > claimed_until + 300_000 },
    )
    .await;
    let other_replica = suite_db::relay_once(&db, "platform-tests", &Scripted, &settings)
        .await
        .unwrap();
    assert_eq!(other_replica, 0, "a renewed lease is not taken over");
    let handled = relay.await.unwrap().unwrap();
    assert_eq!(handled, 3);
    let state = |key: &'static str| {
        let db = db.clone();
        async move {
            let row = sqlx::query(
                "SELECT delivered_at, failed_at, last_error FROM outbox_messages WHERE message_key = $1",
            )
            .bind(key)
            .fetch_one(db.pool())
            .await
            .unwrap();
            use sqlx::Row;
            (
                row.get::<Option<i64>, _>("delivered_at").is_some(),
                row.get::<Option<i64>, _>("failed_at").is_some(),
                row.get::<Option<String>, _>("last_error"),
            )
        }
    };
    assert_eq!(state("a").await, (true, false, None));
    // A dead letter: kept, not delivered, with its reason.
    assert_eq!(
        state("b").await,
        (false, true, Some("refused for good".to_owned()))
    );
    // The slow one was cut off at the attempt timeout and is due again later.
    let (delivered, failed, error) = state("c").await;
    assert!(!delivered && !failed);
    assert!(error.unwrap().contains("cut off"));
    // Neither the delivered nor the dead letter is handed over again.
    let again = suite_db::relay_once(
        &db,
        "platform-tests",
        &Scripted,
        &suite_db::RelaySettings::default(),
    )
    .await
    .unwrap();
    assert_eq!(again, 0);
}

/// A receiver that is down until told otherwise.
struct Receiver(Arc<AtomicBool>);

impl suite_db::Deliverer for Receiver {
    fn topics(&self) -> &'static [&'static str] {
        &["test.receiver"]
    }

    fn deliver<'a>(
        &'a self,
        _: &'a suite_db::PendingMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = suite_db::Delivery> + Send + 'a>> {
        let up = self.0.load(Ordering::SeqCst);
        Box::pin(async move {
            if up {
                suite_db::Delivery::Delivered
            } else {
                suite_db::Delivery::Retry("connection refused".into())
            }
        })
    }
}

#[tokio::test]
async fn once_a_receiver_answers_again_its_waiting_messages_are_retried_at_once() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    let mut tx = db.begin().await.unwrap();
    for key in ["x", "y"] {
        suite_db::enqueue(
            &mut tx,
            suite_db::OutboxMessage {
                topic: "test.receiver",
                key,
                payload: Vec::new(),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Back-offs of an hour: without the receiver's return, nothing is due for an hour.
    let settings = suite_db::RelaySettings {
        first_backoff: Duration::from_secs(3_600),
        max_backoff: Duration::from_secs(3_600),
        ..suite_db::RelaySettings::default()
    };
    let up = Arc::new(AtomicBool::new(false));
    let receiver = Receiver(up.clone());
    let pass = || suite_db::relay_once(&db, "platform-tests", &receiver, &settings);
    assert_eq!(
        pass().await.unwrap(),
        2,
        "both tried while the receiver is down"
    );
    assert_eq!(pass().await.unwrap(), 0, "both wait out their back-off");

    // The receiver is back and x's back-off ends first: once x goes through, y is due.
    up.store(true, Ordering::SeqCst);
    sqlx::query("UPDATE outbox_messages SET next_attempt_at = 0 WHERE message_key = 'x'")
        .execute(db.pool())
        .await
        .unwrap();
    assert_eq!(pass().await.unwrap(), 1);
    assert_eq!(
        pass().await.unwrap(),
        1,
        "y is retried without waiting an hour"
    );
    let delivered: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox_messages WHERE topic = 'test.receiver' AND delivered_at IS NOT NULL",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert_eq!(delivered, 2);
}

/// A receiver that holds every message keyed `held` until released, and takes the rest at once.
struct Holding {
    release: Arc<tokio::sync::Notify>,
    delivered: Arc<std::sync::Mutex<Vec<String>>>,
}

impl suite_db::Deliverer for Holding {
    fn topics(&self) -> &'static [&'static str] {
        &["test.holding"]
    }

    fn deliver<'a>(
        &'a self,
        message: &'a suite_db::PendingMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = suite_db::Delivery> + Send + 'a>> {
        Box::pin(async move {
            if message.key == "held" {
                self.release.notified().await;
            }
            self.delivered.lock().unwrap().push(message.key.clone());
            suite_db::Delivery::Delivered
        })
    }
}

async fn enqueue_one(db: &suite_db::Database, topic: &'static str, key: &str) {
    let mut tx = db.begin().await.unwrap();
    let message = suite_db::OutboxMessage {
        topic,
        key,
        payload: Vec::new(),
    };
    suite_db::enqueue(&mut tx, message).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_delivery_that_hangs_holds_up_only_its_own_message_and_the_relay_stops_after_it() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    let release = Arc::new(tokio::sync::Notify::new());
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let deliverer = Arc::new(Holding {
        release: release.clone(),
        delivered: delivered.clone(),
    });
    let waker = suite_db::RelayWaker::default();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let settings = suite_db::RelaySettings {
        // Slower than the test's deadline: only a wake-up or a freed slot starts a delivery.
        interval: Duration::from_secs(60),
        concurrency: 2,
        ..suite_db::RelaySettings::default()
    };
    let relay = tokio::spawn(suite_db::run_relay(
        db.clone(),
        "platform-tests",
        deliverer,
        settings,
        waker.clone(),
        stopping,
    ));
    enqueue_one(&db, "test.holding", "held").await;
    waker.wake();
    eventually(
        "the held message is claimed",
        Duration::from_secs(10),
        || async {
            let attempts: i64 = sqlx::query_scalar(
                "SELECT attempts FROM outbox_messages WHERE message_key = 'held'",
            )
            .fetch_one(db.pool())
            .await
            .unwrap();
            attempts == 1
        },
    )
    .await;

    // Three messages written while the first hangs go through one after another on the
    // other slot.
    for key in ["one", "two", "three"] {
        enqueue_one(&db, "test.holding", key).await;
        waker.wake();
    }
    eventually(
        "the later messages are delivered beside the hanging one",
        Duration::from_secs(10),
        || async { delivered.lock().unwrap().len() == 3 },
    )
    .await;
    assert!(!delivered.lock().unwrap().contains(&"held".to_owned()));

    // Told to stop, the relay finishes the delivery under way, then ends.
    stop.send(true).unwrap();
    let mut relay = relay;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut relay)
            .await
            .is_err(),
        "the relay waits for the delivery under way"
    );
    release.notify_one();
    tokio::time::timeout(Duration::from_secs(10), relay)
        .await
        .expect("the relay ends once its delivery is done")
        .unwrap();
    let mut keys = delivered.lock().unwrap().clone();
    keys.sort();
    assert_eq!(keys, ["held", "one", "three", "two"]);
}

/// A receiver whose code panics.
struct Panicking;

impl suite_db::Deliverer for Panicking {
    fn topics(&self) -> &'static [&'static str] {
        &["test.panicking"]
    }

    fn deliver<'a>(
        &'a self,
        _: &'a suite_db::PendingMessage,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = suite_db::Delivery> + Send + 'a>> {
        Box::pin(async { panic!("a bug in the deliverer") })
    }
}

#[tokio::test]
async fn a_deliverer_that_panics_is_retried_after_a_back_off() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    enqueue_one(&db, "test.panicking", "bug").await;
    let settings = suite_db::RelaySettings {
        first_backoff: Duration::from_secs(3_600),
        max_backoff: Duration::from_secs(3_600),
        ..suite_db::RelaySettings::default()
    };
    let pass = || suite_db::relay_once(&db, "platform-tests", &Panicking, &settings);
    assert_eq!(pass().await.unwrap(), 1);
    let row = sqlx::query(
        "SELECT attempts, next_attempt_at, last_error, lease_token, failed_at FROM outbox_messages \
         WHERE message_key = 'bug'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    use sqlx::Row;
    assert_eq!(row.get::<i64, _>("attempts"), 1);
    assert_eq!(
        row.get::<Option<String>, _>("last_error").as_deref(),
        Some("the deliverer panicked")
    );
    assert!(row.get::<Option<String>, _>("lease_token").is_none());
    assert!(row.get::<Option<i64>, _>("failed_at").is_none());
    // Due again after its back-off, not at the end of a lease seconds away.
    let due_in = row.get::<i64, _>("next_attempt_at") - suite_db::now_micros();
    assert!(due_in > 3_000_000_000, "due in {due_in} µs");
    assert_eq!(pass().await.unwrap(), 0, "it waits out its back-off");
}

#[tokio::test]
async fn pruning_deletes_delivered_messages_and_old_keys_and_keeps_the_rest() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    let hour: i64 = 3_600_000_000;
    let now = suite_db::now_micros();
    // (key, delivered_at, failed_at): old delivered, recent delivered, old dead letter, pending.
    for (key, delivered, failed) in [
        ("old", Some(now - 3 * hour), None),
        ("recent", Some(now - 60_000_000), None),
        ("dead", None, Some(now - 3 * hour)),
        ("pending", None, None),
    ] {
        sqlx::query(
            "INSERT INTO outbox_messages (id, created_at, topic, message_key, payload, next_attempt_at, delivered_at, failed_at) \
             VALUES ($1, $2, 'test', $3, $4, $2, $5, $6)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(now - 4 * hour)
        .bind(key)
        .bind(Vec::<u8>::new())
        .bind(delivered)
        .bind(failed)
        .execute(db.pool())
        .await
        .unwrap();
    }
    for (request_id, created_at) in [("old", now - 3 * hour), ("recent", now)] {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, request_id, method, fingerprint, response, created_at) \
             VALUES ('operator', $1, 'M', $2, $2, $3)",
        )
        .bind(request_id)
        .bind(Vec::<u8>::new())
        .bind(created_at)
        .execute(db.pool())
        .await
        .unwrap();
    }
    let retention = suite_config::Retention {
        delivered_messages: std::time::Duration::from_secs(3_600),
        idempotency_keys: std::time::Duration::from_secs(3_600),
    };
    let pruned = suite_db::prune(&db, &retention, now).await.unwrap();
    assert_eq!(
        pruned,
        suite_db::Pruned {
            delivered_messages: 1,
            idempotency_keys: 1
        }
    );
    let left: Vec<String> =
        sqlx::query("SELECT message_key FROM outbox_messages ORDER BY message_key")
            .fetch_all(db.pool())
            .await
            .unwrap()
            .iter()
            .map(|row| sqlx::Row::get(row, "message_key"))
            .collect();
    assert_eq!(left, ["dead", "pending", "recent"]);
    assert_eq!(database.count_rows("idempotency_keys").await, 1);
}

#[tokio::test]
async fn a_batch_of_audit_events_larger_than_one_statement_is_written_whole_and_in_order() {
    let database = suite_testkit::migrated_database(&[]).await;
    let db = database.database();
    let tenant = uuid::Uuid::new_v4();
    // More events than one statement writes, so the batch crosses a statement boundary.
    let names: Vec<String> = (0..300).map(|n| format!("things/{n:03}")).collect();
    let events: Vec<suite_db::AuditEvent> = names
        .iter()
        .map(|name| suite_db::AuditEvent {
            tenant_id: tenant,
            resource_name: name,
            action: "Test",
            request_id: None,
            before: None,
            after: Some(name.clone().into_bytes()),
        })
        .collect();
    let mut tx = db.begin().await.unwrap();
    suite_db::record_audits(&mut tx, &suite_auth::Caller::service("test"), &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let rows = sqlx::query(
        "SELECT resource_name, after_state FROM audit_events WHERE tenant_id = $1 ORDER BY id",
    )
    .bind(tenant.to_string())
    .fetch_all(db.pool())
    .await
    .unwrap();
    let written: Vec<(String, Vec<u8>)> = rows
        .iter()
        .map(|row| {
            use sqlx::Row;
            (row.get("resource_name"), row.get("after_state"))
        })
        .collect();
    let expected: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|name| (name.clone(), name.clone().into_bytes()))
        .collect();
    assert_eq!(written, expected);
}
