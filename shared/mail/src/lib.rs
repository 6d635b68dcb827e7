//! E-mails of every service: written to the service's outbox in the transaction of the
//! change that causes them, and delivered by the one outbox relay, at least once, over SMTP
//! (lettre) or, in the embedded suite, as one file per message in a directory. Each message
//! carries a Message-ID made from its outbox id, so a repeated delivery is recognisable.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::ContentType;
use lettre::message::{Body, Mailbox};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use suite_config::MailConfig;
use suite_db::{
    Database, Deliverer, Delivery, OutboxMessage, PendingMessage, RelaySettings, RelayWaker,
    StoreError, Tx,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Longest wait for one SMTP command; below the relay's cut-off of an attempt.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Outbox topic of e-mails.
pub const EMAIL_TOPIC: &str = "email";

/// One plain-text e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Writes `email` about resource `key` to the outbox inside `tx`: it leaves if and only if
/// the change commits.
pub async fn enqueue(tx: &mut Tx, key: &str, email: &Email) -> Result<(), StoreError> {
    let payload = serde_json::to_vec(email).map_err(|e| StoreError::Other(e.to_string()))?;
    suite_db::enqueue(
        tx,
        OutboxMessage {
            topic: EMAIL_TOPIC,
            key,
            payload,
        },
    )
    .await
}

/// A mail configuration that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("mail: {0}")]
pub struct MailError(String);

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Directory(PathBuf),
}

/// Delivers the `email` topic of one service's outbox.
pub struct Mailer {
    service: &'static str,
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// The mailer `config` describes for `service`; `None` when no SMTP server nor
    /// directory is configured (e-mails then wait in the outbox).
    pub fn from_config(
        service: &'static str,
        config: &MailConfig,
    ) -> Result<Option<Self>, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| MailError(format!("MAIL_FROM `{}` is not a mailbox: {e}", config.from)))?;
        let transport = match (&config.smtp_url, &config.directory) {
            (Some(url), _) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| MailError(format!("SMTP_URL: {e}")))?
                    // Within the relay's cut-off, so a slow server ends the attempt here.
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
            (None, Some(directory)) => Transport::Directory(directory.clone()),
            (None, None) => return Ok(None),
        };
        Ok(Some(Self {
            service,
            from,
            transport,
        }))
    }

    /// Where messages are written, for a mailer that writes files.
    pub fn directory(&self) -> Option<&PathBuf> {
        match &self.transport {
            Transport::Directory(directory) => Some(directory),
            Transport::Smtp(_) => None,
        }
    }

    fn message(&self, pending: &PendingMessage) -> Result<Message, String> {
        let email: Email = serde_json::from_slice(&pending.payload)
            .map_err(|e| format!("unreadable e-mail: {e}"))?;
        let to: Mailbox = email
            .to
            .parse()
            // The address stays out of the reason: reasons are logged and kept.
            .map_err(|e| format!("the recipient is not a mailbox: {e}"))?;
        Message::builder()
            // Stable across deliveries: a receiver sees a repeat as the same message.
            .message_id(Some(format!(
                "<{}@{}.csp-suite.invalid>",
                pending.id, self.service
            )))
            .from(self.from.clone())
            .to(to)
            .subject(email.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(readable_body(email.body))
            .map_err(|e| format!("cannot build the message: {e}"))
    }

    async fn deliver_email(&self, pending: &PendingMessage) -> Delivery {
        let message = match self.message(pending) {
            Ok(message) => message,
            Err(reason) => return Delivery::Failed(reason),
        };
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Delivery::Delivered,
                Err(error) if error.is_permanent() => Delivery::Failed(error.to_string()),
                Err(error) => Delivery::Retry(error.to_string()),
            },
            Transport::Directory(directory) => {
                match write_file(directory, &pending.id, self.service, &message.formatted()).await {
                    Ok(()) => Delivery::Delivered,
                    Err(error) => {
                        Delivery::Retry(format!("writing to {}: {error}", directory.display()))
                    }
                }
            }
        }
    }
}

/// The body as written, so that a person reading the file or the raw message can copy a
/// link out of it: 7- or 8-bit with the lines as they are (SMTP allows 998 bytes a line),
/// where the default would switch to quoted-printable at 76. Quoted-printable only for a
/// body that 8-bit transport cannot carry.
fn readable_body(text: String) -> Body {
    const MAX_LINE_BYTES: usize = 998;
    let carried = !text.contains('\0') && text.lines().all(|line| line.len() <= MAX_LINE_BYTES);
    if !carried {
        return Body::new(text);
    }
    let encoding = if text.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    let crlf = text.lines().collect::<Vec<_>>().join("\r\n");
    Body::dangerous_pre_encoded(crlf.into_bytes(), encoding)
}

/// Writes one message as `{outbox id}-{service}.eml`: outbox ids start with their time, so
/// the newest message sorts last. Written aside and renamed, so a reader never sees half.
async fn write_file(
    directory: &PathBuf,
    id: &str,
    service: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    tokio::fs::create_dir_all(directory).await?;
    let name = format!("{id}-{service}.eml");
    let partial = directory.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, directory.join(name)).await
}

impl Deliverer for Mailer {
    fn topics(&self) -> &'static [&'static str] {
        &[EMAIL_TOPIC]
    }

    fn deliver<'a>(
        &'a self,
        message: &'a PendingMessage,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>> {
        Box::pin(self.deliver_email(message))
    }
}

/// Runs `mailer` over `db`'s outbox until `stopping` turns true.
pub fn spawn(db: Database, mailer: Mailer, stopping: watch::Receiver<bool>) -> JoinHandle<()> {
    let settings = RelaySettings {
        // An SMTP outage is retried at least every minute once the server answers again.
        max_backoff: Duration::from_secs(60),
        ..RelaySettings::default()
    };
    let service = mailer.service;
    tokio::spawn(suite_db::run_relay(
        db,
        service,
        Arc::new(mailer),
        settings,
        RelayWaker::default(),
        stopping,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer(directory: PathBuf) -> Mailer {
        Mailer::from_config(
            "enrollment",
            &MailConfig {
                smtp_url: None,
                directory: Some(directory),
                from: suite_config::DEFAULT_MAIL_FROM.into(),
            },
        )
        .unwrap()
        .unwrap()
    }

    fn pending(id: &str, to: &str) -> PendingMessage {
        PendingMessage {
            id: id.into(),
            topic: EMAIL_TOPIC.into(),
            key: "partners/x".into(),
            payload: serde_json::to_vec(&Email {
                to: to.into(),
                subject: "Your enrollment is approved".into(),
                body: format!(
                    "Hello,\n\nhttps://partners.example.com/accept?name=partners/{}&token={}\n",
                    "7".repeat(36),
                    "f".repeat(64)
                ),
            })
            .unwrap(),
            attempts: 0,
            trace_parent: None,
        }
    }

    #[tokio::test]
    async fn each_message_is_a_file_with_a_message_id_from_its_outbox_id() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = mailer(dir.path().join("mail"));
        let id = "0192a000-0000-7000-8000-000000000001";
        let delivered = mailer
            .deliver_email(&pending(id, "ops@contoso.example"))
            .await;
        assert_eq!(delivered, Delivery::Delivered);
        let file = dir.path().join("mail").join(format!("{id}-enrollment.eml"));
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.contains(&format!("Message-ID: <{id}@enrollment.csp-suite.invalid>")),
            "{text}"
        );
        assert!(text.contains("To: ops@contoso.example"), "{text}");
        // A link longer than a 76-character line stays whole, to be copied from the file.
        assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
        assert!(
            text.contains(&format!("&token={}", "f".repeat(64))),
            "{text}"
        );
        // Delivered twice (a redelivery after a crash), it is the same message.
        mailer
            .deliver_email(&pending(id, "ops@contoso.example"))
            .await;
        assert_eq!(
            std::fs::read_dir(dir.path().join("mail")).unwrap().count(),
            1
        );
    }

    #[tokio::test]
    async fn a_bad_recipient_fails_for_good() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = mailer(dir.path().to_path_buf());
        let outcome = mailer.deliver_email(&pending("1", "not an address")).await;
        assert!(matches!(outcome, Delivery::Failed(_)), "{outcome:?}");
    }

    #[test]
    fn a_bad_sender_or_url_is_refused_at_start() {
        let bad_from = MailConfig {
            smtp_url: None,
            directory: None,
            from: "nobody".into(),
        };
        assert!(Mailer::from_config("enrollment", &bad_from).is_err());
        let none = MailConfig {
            from: suite_config::DEFAULT_MAIL_FROM.into(),
            ..MailConfig::default()
        };
        assert!(Mailer::from_config("enrollment", &none).unwrap().is_none());
    }
}
