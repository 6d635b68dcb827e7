//! What the relays tell an operator about the outboxes: per service and topic, how many
//! messages wait, how old the oldest of them is, how many are dead letters (gauges read from
//! the database by each relay every `gauge_interval`; every replica reports the same figures,
//! so aggregate them across pods with `max`), and how each delivery attempt ended (a
//! counter). A waiting `transfer.v1.transfer_request.execute` message is an accepted transfer still running, so
//! its age is the age of the oldest pending transfer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::Row;
use suite_telemetry::{Counter, KeyValue};

use crate::{Database, StoreError};

/// How one delivery attempt ended, as counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Delivered,
    Retry,
    DeadLetter,
    /// The outcome was not written: the lease ran out and another replica took the message.
    LeaseLost,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry => "retry",
            Self::DeadLetter => "dead_letter",
            Self::LeaseLost => "lease_lost",
        }
    }
}

/// The figures of one service's topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Backlog {
    waiting: i64,
    oldest_created_at: Option<i64>,
    dead_letters: i64,
}

type Key = (&'static str, String);

/// The process-wide instruments: the gauges are registered once and observe the figures
/// every relay of the process last read.
struct Instruments {
    deliveries: Counter<u64>,
    backlogs: Arc<Mutex<BTreeMap<Key, Backlog>>>,
}

fn instruments() -> &'static Instruments {
    static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();
    INSTRUMENTS.get_or_init(|| {
        let meter = suite_telemetry::meter();
        let backlogs: Arc<Mutex<BTreeMap<Key, Backlog>>> = Arc::default();
        let observe = |read: fn(&Backlog, i64) -> Option<i64>| {
            let backlogs = backlogs.clone();
            move |observer: &dyn suite_telemetry::AsyncInstrument<i64>| {
                let now = crate::now_micros();
                let Ok(backlogs) = backlogs.lock() else {
                    return;
                };
                for ((service, topic), backlog) in backlogs.iter() {
                    if let Some(value) = read(backlog, now) {
                        observer.observe(value, &labels(service, topic));
                    }
                }
            }
        };
        meter
            .i64_observable_gauge("outbox.messages.waiting")
            .with_description("Outbox messages not yet delivered (dead letters apart)")
            .with_callback(observe(|backlog, _| Some(backlog.waiting)))
            .build();
        meter
            .i64_observable_gauge("outbox.oldest_waiting.age")
            .with_unit("s")
            .with_description(
                "Age of the oldest outbox message not yet delivered; 0 when none waits",
            )
            .with_callback(observe(|backlog, now| {
                Some(backlog.oldest_created_at.map_or(0, |created| {
                    (now.saturating_sub(created) / 1_000_000).max(0)
                }))
            }))
            .build();
        meter
            .i64_observable_gauge("outbox.dead_letters")
            .with_description("Outbox messages that failed for good and wait for an operator")
            .with_callback(observe(|backlog, _| Some(backlog.dead_letters)))
            .build();
        Instruments {
            deliveries: meter
                .u64_counter("outbox.deliveries")
                .with_description("Delivery attempts of outbox messages, by outcome")
                .build(),
            backlogs,
        }
    })
}

fn labels(service: &'static str, topic: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("service", service),
        KeyValue::new("topic", topic.to_owned()),
    ]
}

/// Counts one delivery attempt of a message of `topic`.
pub(crate) fn count_delivery(service: &'static str, topic: &str, outcome: Outcome) {
    let [service, topic] = labels(service, topic);
    instruments().deliveries.add(
        1,
        &[service, topic, KeyValue::new("outcome", outcome.label())],
    );
}

/// Reads the backlog of `topics` in `db` for the gauges. Both queries are served by partial
/// indexes of their own (`outbox_messages_waiting`, `outbox_messages_dead`).
pub(crate) async fn read_backlog(
    db: &Database,
    service: &'static str,
    topics: &[&'static str],
) -> Result<(), StoreError> {
    let read = query_backlog(db, topics).await;
    let Ok(mut backlogs) = instruments().backlogs.lock() else {
        return read.map(|_| ());
    };
    // Figures that could not be read are dropped, not left standing: the series goes
    // absent, which an alert can tell from a backlog that stopped moving.
    for topic in topics {
        backlogs.remove(&(service, (*topic).to_owned()));
    }
    for (topic, backlog) in read? {
        backlogs.insert((service, topic), backlog);
    }
    Ok(())
}

async fn query_backlog(
    db: &Database,
    topics: &[&'static str],
) -> Result<BTreeMap<String, Backlog>, StoreError> {
    let in_topics = crate::placeholders(1..=topics.len());
    let waiting_sql = format!(
        "SELECT topic, COUNT(*) AS waiting, MIN(created_at) AS oldest FROM outbox_messages \
         WHERE delivered_at IS NULL AND failed_at IS NULL AND topic IN ({in_topics}) GROUP BY topic"
    );
    let dead_sql = format!(
        "SELECT topic, COUNT(*) AS dead FROM outbox_messages \
         WHERE failed_at IS NOT NULL AND topic IN ({in_topics}) GROUP BY topic"
    );
    let bind_all = |sql: String| {
        topics
            .iter()
            .fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |query, topic| {
                query.bind(*topic)
            })
    };
    // Every topic is reported, at zero when nothing waits, so a drained backlog shows as 0.
    let mut found: BTreeMap<String, Backlog> = topics
        .iter()
        .map(|topic| ((*topic).to_owned(), Backlog::default()))
        .collect();
    for row in bind_all(waiting_sql).fetch_all(db.pool()).await? {
        let backlog = found.entry(row.try_get("topic")?).or_default();
        backlog.waiting = row.try_get("waiting")?;
        backlog.oldest_created_at = row.try_get("oldest")?;
    }
    for row in bind_all(dead_sql).fetch_all(db.pool()).await? {
        found.entry(row.try_get("topic")?).or_default().dead_letters = row.try_get("dead")?;
    }
    Ok(found)
}
