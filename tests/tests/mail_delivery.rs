//! E-mails leave over SMTP exactly as the outbox holds them. A real SMTP server on loopback
//! (aiosmtpd, as `.ci/run` installs it) receives the enrollment approval and the transfer
//! e-mails the services wrote; a relay killed mid-batch and started again loses none (a
//! repeat carries the same Message-ID); two relays over one database deliver a batch once.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use sqlx::Row;
use suite_config::{DEFAULT_MAIL_FROM, MailConfig, Secret};
use suite_db::{Database, RelaySettings, RelayWaker};
use suite_mail::{EMAIL_TOPIC, Email, Mailer};
use suite_proto::transfer::v1 as tr;
use suite_testkit::{
    Actor, Suite, customer_accepts_relationship_request, direct_bill_partner, eventually,
    licence_based, order_subscription, record_customer, request_id,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

/// An SMTP server that prints each message it accepts as one JSON line, decoded by
/// Python's own e-mail parser (headers and the plain-text body as a reader sees it); it
/// takes its port and how long it dwells on each message.
const CAPTURE_SERVER: &str = r#"
import asyncio, json, sys, threading
from email import message_from_bytes
from email.policy import default
from aiosmtpd.controller import Controller

class Capture:
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(sys.argv[2]))
        message = message_from_bytes(envelope.content, policy=default)
        print(json.dumps({
            "message_id": str(message["Message-ID"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "body": message.get_content(),
        }), flush=True)
        return "250 OK"

port = int(sys.argv[1])
controller = Controller(Capture(), hostname="127.0.0.1", port=port)
controller.start()
print("LISTENING %d" % port, flush=True)
threading.Event().wait()
"#;

/// One message as the server received it.
#[derive(Debug, Clone, Deserialize)]
struct Received {
    message_id: String,
    to: String,
    subject: String,
    body: String,
}

/// The SMTP server and what it has received so far.
struct SmtpServer {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    _process: Child,
}

impl SmtpServer {
    async fn start() -> Self {
        Self::start_dwelling(Duration::ZERO).await
    }

    /// A server that takes `dwell` over each message, so a batch takes a while to leave.
    async fn start_dwelling(dwell: Duration) -> Self {
        // aiosmtpd checks its own port by connecting to it, so it is picked here.
        let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = free.local_addr().unwrap().port().to_string();
        drop(free);
        let mut process = Command::new("python3")
            .args([
                "-c",
                CAPTURE_SERVER,
                &port,
                &dwell.as_secs_f64().to_string(),
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd)");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the SMTP server starts")
            .unwrap()
            .expect("the SMTP server prints its port");
        let port = first
            .strip_prefix("LISTENING ")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let message: Received = serde_json::from_str(&line).unwrap();
                sink.lock().unwrap().push(message);
            }
        });
        Self {
            port,
            received,
            _process: process,
        }
    }

    fn mailer(&self, service: &'static str) -> Mailer {
        Mailer::from_config(
            service,
            &MailConfig {
                smtp_url: Some(Secret::new(format!("smtp://127.0.0.1:{}", self.port))),
                directory: None,
                from: DEFAULT_MAIL_FROM.into(),
            },
        )
        .unwrap()
        .unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many times each outbox id arrived (read from its Message-ID).
    fn arrivals(&self) -> BTreeMap<String, usize> {
        let mut arrivals = BTreeMap::new();
        for message in self.received() {
            *arrivals.entry(outbox_id(&message.message_id)).or_insert(0) += 1;
        }
        arrivals
    }
}

/// The outbox id in a Message-ID `<id@service.csp-suite.invalid>`.
fn outbox_id(message_id: &str) -> String {
    message_id
        .trim_start_matches('<')
        .split('@')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The e-mails in `db`'s outbox: id, the e-mail, and whether it was delivered.
async fn outbox_emails(db: &Database) -> Vec<(String, Email, bool)> {
    sqlx::query(
        "SELECT id, payload, delivered_at FROM outbox_messages WHERE topic = $1 ORDER BY id",
    )
    .bind(EMAIL_TOPIC)
    .fetch_all(db.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|row| {
        let payload: Vec<u8> = row.get("payload");
        let delivered: Option<i64> = row.get("delivered_at");
        (
            row.get("id"),
            serde_json::from_slice(&payload).unwrap(),
            delivered.is_some(),
        )
    })
    .collect()
}

/// A relay of `service`'s e-mails over `db` to `server`, until the handle is dropped or
/// aborted.
fn relay(
    server: &SmtpServer,
    service: &'static str,
    db: Database,
    settings: RelaySettings,
) -> (tokio::task::JoinHandle<()>, watch::Sender<bool>) {
    let (stop, stopping) = watch::channel(false);
    let task = tokio::spawn(suite_db::run_relay(
        db,
        service,
        Arc::new(server.mailer(service)),
        settings,
        RelayWaker::default(),
        stopping,
    ));
    (task, stop)
}

fn quick_relay(lease: Duration) -> RelaySettings {
    RelaySettings {
        interval: Duration::from_millis(20),
        lease,
        concurrency: 4,
        first_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        batch: 10,
        ..RelaySettings::default()
    }
}

/// Each e-mail in `db`'s outbox arrived with its own Message-ID, recipient, subject and body.
fn assert_arrived_as_written(server: &SmtpServer, written: &[(String, Email, bool)]) {
    let received = server.received();
    for (id, email, _) in written {
        let copies: Vec<&Received> = received
            .iter()
            .filter(|message| outbox_id(&message.message_id) == *id)
            .collect();
        assert!(!copies.is_empty(), "{id} ({}) arrived", email.subject);
        for copy in copies {
            assert_eq!(copy.to, email.to, "{id}");
            assert_eq!(copy.subject, email.subject, "{id}");
            // SMTP carries lines ended by CRLF; the text is the same.
            let body = copy.body.replace("\r\n", "\n");
            assert_eq!(body.trim_end(), email.body.trim_end(), "{id}");
        }
    }
}

#[tokio::test]
async fn the_approval_and_transfer_e_mails_reach_the_smtp_server_as_the_outbox_holds_them() {
    let server = SmtpServer::start().await;
    let suite = Suite::start().await;

    // The enrollment service approves a partner (an approval e-mail); a partner asks another
    // for a New Commerce licence (e-mails to the customer and to the source).
    let source = direct_bill_partner(&suite.enrollment).await;
    let customer = Uuid::new_v4();
    record_customer(&suite.relationship, source, customer).await;
    order_subscription(
        suite.transfer(),
        source,
        customer,
        licence_based(tr::OfferKind::NewCommerceLicense, "CFQ7TTC0LF8R", 10, ""),
    )
    .await;
    let target = direct_bill_partner(&suite.enrollment).await;
    customer_accepts_relationship_request(
        &suite.relationship,
        target,
        customer,
        &["New Commerce CFQ7TTC0LF8R, 10 licences"],
    )
    .await;
    suite
        .transfer()
        .transfer(&Actor::admin_agent(target))
        .create_partner_transfer_request(tr::CreatePartnerTransferRequestRequest {
            request_id: request_id(),
            parent: format!("partners/{target}"),
            source: format!("partners/{source}"),
            customer_tenant_id: customer.to_string(),
            customer_email: "it@fourthcoffee.example".into(),
        })
        .await
        .unwrap();

    let enrollment_db = suite.enrollment.database.database();
    let transfer_db = suite.transfer().database.database();
    let approvals = outbox_emails(&enrollment_db).await;
    let transfer_mail = outbox_emails(&transfer_db).await;
    assert!(
        approvals
            .iter()
            .any(|(_, email, _)| email.subject.to_lowercase().contains("approved")),
        "{approvals:?}"
    );
    assert_eq!(
        transfer_mail
            .iter()
            .map(|(_, email, _)| email.to.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["it@fourthcoffee.example", "ops@fabrikam.example"]),
        "the customer and the source's primary contact"
    );

    let (_enrollment_relay, _stop_enrollment) = relay(
        &server,
        "enrollment",
        enrollment_db.clone(),
        quick_relay(Duration::from_secs(30)),
    );
    let (_transfer_relay, _stop_transfer) = relay(
        &server,
        "transfer",
        transfer_db.clone(),
        quick_relay(Duration::from_secs(30)),
    );
    let expected = approvals.len() + transfer_mail.len();
    eventually("every e-mail is delivered", WAIT, || {
        let (enrollment_db, transfer_db) = (enrollment_db.clone(), transfer_db.clone());
        async move {
            let delivered = outbox_emails(&enrollment_db)
                .await
                .into_iter()
                .chain(outbox_emails(&transfer_db).await)
                .filter(|(_, _, delivered)| *delivered)
                .count();
            delivered == expected
        }
    })
    .await;
    assert_arrived_as_written(&server, &approvals);
    assert_arrived_as_written(&server, &transfer_mail);
    assert!(
        server.arrivals().values().all(|copies| *copies == 1),
        "one relay per database delivers each message once: {:?}",
        server.arrivals()
    );
}

/// Writes `count` e-mails to `db`'s outbox, as a service's change would.
async fn write_emails(db: &Database, count: usize) {
    let mut tx = db.begin().await.unwrap();
    for n in 0..count {
        suite_mail::enqueue(
            &mut tx,
            &format!("partners/{}", Uuid::new_v4()),
            &Email {
                to: format!("admin{n}@reseller.example"),
                subject: format!("Invitation {n}: become an indirect reseller"),
                body: format!(
                    "Hello,\n\nOpen https://partners.example.com/accept?token={} to accept.\n",
                    "f".repeat(64)
                ),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// Waits until `count` e-mails are recorded delivered and each has reached `server`.
async fn wait_until_all_delivered(server: &SmtpServer, db: &Database, count: usize) {
    eventually("every e-mail is delivered", WAIT, || async {
        outbox_emails(db)
            .await
            .iter()
            .filter(|(_, _, delivered)| *delivered)
            .count()
            == count
    })
    .await;
    eventually("the server has read every e-mail", WAIT, || {
        let arrived = server.arrivals().len();
        async move { arrived == count }
    })
    .await;
}

#[tokio::test]
async fn a_relay_killed_mid_batch_loses_nothing_and_a_repeat_keeps_its_message_id() {
    const COUNT: usize = 40;
    // 40 messages at 50 ms each, four at a time: half a second to leave.
    let server = SmtpServer::start_dwelling(Duration::from_millis(50)).await;
    let database = suite_testkit::TestDatabase::fresh().await;
    let db = database.database();
    db.migrate(&[]).await.unwrap();
    write_emails(&db, COUNT).await;

    // A short lease, so that the messages the killed relay held are taken up again soon.
    let settings = quick_relay(Duration::from_millis(500));
    let (first, _stop_first) = relay(&server, "relationship", db.clone(), settings.clone());
    eventually("part of the batch arrives", WAIT, || {
        let arrived = server.received().len();
        async move { arrived >= 5 }
    })
    .await;
    first.abort();
    let _ = first.await;
    let arrived_before = server.received().len();
    assert!(
        arrived_before < COUNT,
        "the relay was killed mid-batch ({arrived_before} of {COUNT} arrived)"
    );

    let (_second, _stop_second) = relay(&server, "relationship", db.clone(), settings);
    wait_until_all_delivered(&server, &db, COUNT).await;
    let written = outbox_emails(&db).await;
    assert_arrived_as_written(&server, &written);
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), COUNT, "no message lost: {arrivals:?}");
    // A message sent just before the kill may come again, always under its own id.
    assert!(arrivals.values().all(|copies| (1..=2).contains(copies)));
}

#[tokio::test]
async fn two_relays_over_one_database_deliver_each_message_of_a_batch_once() {
    const COUNT: usize = 40;
    let server = SmtpServer::start().await;
    let database = suite_testkit::TestDatabase::fresh().await;
    let db = database.database();
    db.migrate(&[]).await.unwrap();
    write_emails(&db, COUNT).await;

    let settings = quick_relay(Duration::from_secs(30));
    let (_one, _stop_one) = relay(&server, "relationship", db.clone(), settings.clone());
    let (_two, _stop_two) = relay(&server, "relationship", db.clone(), settings);
    wait_until_all_delivered(&server, &db, COUNT).await;
    let arrivals = server.arrivals();
    assert_eq!(arrivals.len(), COUNT);
    assert!(
        arrivals.values().all(|copies| *copies == 1),
        "each message once: {arrivals:?}"
    );
    assert_arrived_as_written(&server, &outbox_emails(&db).await);
}
