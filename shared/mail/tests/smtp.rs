//! Delivery to a real SMTP server on loopback (aiosmtpd, as `.ci/run` installs it): the
//! message arrives with its stable Message-ID; a server that is down is retried.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed assertion

use std::process::Stdio;
use std::time::Duration;

use suite_config::{DEFAULT_MAIL_FROM, MailConfig, Secret};
use suite_db::{Deliverer, Delivery, PendingMessage};
use suite_mail::{EMAIL_TOPIC, Email, Mailer};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(20);

async fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn mailer(port: u16) -> Mailer {
    Mailer::from_config(
        "relationship",
        &MailConfig {
            smtp_url: Some(Secret::new(format!("smtp://127.0.0.1:{port}"))),
            directory: None,
            from: DEFAULT_MAIL_FROM.into(),
        },
    )
    .unwrap()
    .unwrap()
}

fn invitation(id: &str) -> PendingMessage {
    PendingMessage {
        id: id.into(),
        topic: EMAIL_TOPIC.into(),
        key: "partners/p/partnerships/r".into(),
        payload: serde_json::to_vec(&Email {
            to: "admin@reseller.example".into(),
            subject: "Invitation: become an indirect reseller".into(),
            body: "Open the link to accept.".into(),
        })
        .unwrap(),
        attempts: 0,
        trace_parent: None,
    }
}

#[tokio::test]
async fn a_message_reaches_the_smtp_server_and_an_absent_server_is_retried() {
    let port = free_port().await;
    let id = "0192a000-0000-7000-8000-0000000000aa";

    // Nobody listens yet: a transient failure, to be retried.
    let outcome = mailer(port).deliver(&invitation(id)).await;
    assert!(matches!(outcome, Delivery::Retry(_)), "{outcome:?}");

    let mut server = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 with aiosmtpd (pip install aiosmtpd)");
    let listening = async {
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, listening)
        .await
        .expect("aiosmtpd listens");

    let outcome = mailer(port).deliver(&invitation(id)).await;
    assert_eq!(outcome, Delivery::Delivered);

    // The server prints what it received.
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let received = async {
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains("END MESSAGE");
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("the server stopped: {seen:?}");
    };
    let seen = tokio::time::timeout(WAIT, received)
        .await
        .expect("the message arrives");
    for expected in [
        format!("Message-ID: <{id}@relationship.csp-suite.invalid>"),
        "Subject: Invitation: become an indirect reseller".to_owned(),
        "To: admin@reseller.example".to_owned(),
    ] {
        assert!(
            seen.iter().any(|line| line.contains(&expected)),
            "{expected}: {seen:?}"
        );
    }
    server.kill().await.unwrap();
}
