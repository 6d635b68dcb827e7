use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt as _, StreamExt as _};
use sqlx::Row;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::outbox_metrics::{self, Outcome};
use crate::{Database, StoreError, now_micros};

/// An outbox message waiting for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    /// Message id.
    pub id: String,
    /// Topic.
    pub topic: String,
    /// Resource it concerns.
    pub key: String,
    /// Body.
    pub payload: Vec<u8>,
    /// Earlier attempts.
    pub attempts: i64,
    /// The W3C `traceparent` of the change that wrote it, if that change was traced.
    pub trace_parent: Option<String>,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Done; never sent again.
    Delivered,
    /// Not now (the peer is down, say); try again after a back-off.
    Retry(String),
    /// Never deliverable: kept as a dead letter with the reason, not retried, not pruned.
    Failed(String),
}

/// Delivers the messages of some topics. Deliveries are at least once: a message may be
/// handed over again after a crash, so deliverers make repeats harmless (e.g. a fixed
/// `request_id` that the receiver replays).
pub trait Deliverer: Send + Sync + 'static {
    /// Topics this deliverer takes.
    fn topics(&self) -> &'static [&'static str];

    /// One attempt at delivering `message`.
    fn deliver<'a>(
        &'a self,
        message: &'a PendingMessage,
    ) -> Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;
}

/// Pace of the relay.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// How often it looks for due messages when not woken.
    pub interval: Duration,
    /// How long a claimed message is left to its claimer before another replica may take it.
    /// The claimer renews it every third of it while the attempt runs, so a slow attempt
    /// keeps its message, and a replica that dies holding one delays it by at most this much.
    pub lease: Duration,
    /// The longest one delivery attempt may take; it is then cut off and retried.
    pub attempt_timeout: Duration,
    /// First retry delay; doubled on each attempt.
    pub first_backoff: Duration,
    /// Longest retry delay.
    pub max_backoff: Duration,
    /// Most messages one [`relay_once`] pass claims, and most waiting messages brought
    /// forward at once when their receiver answers again.
    pub batch: i64,
    /// Most deliveries of one relay running at once.
    pub concurrency: usize,
    /// How often the backlog is read for the outbox gauges.
    pub gauge_interval: Duration,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            // Recovery after a crash takes seconds; one renewal every 2 s per message in flight.
            lease: Duration::from_secs(6),
            // Outlasts a peer call's deadline (REQUEST_TIMEOUT_MS, 10 s by default) and an
            // SMTP exchange's, so their own timeouts end a hung call, not the cut-off.
            attempt_timeout: Duration::from_secs(20),
            first_backoff: Duration::from_millis(500),
            // A peer back after an outage sees a message again within 10 s, and the rest of
            // its waiting messages as soon as one goes through.
            max_backoff: Duration::from_secs(10),
            batch: 50,
            concurrency: 16,
            // Fresh enough for an alert, cheap for the database.
            gauge_interval: Duration::from_secs(5),
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl RelaySettings {
    fn renewal_interval(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(1))
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
        self.first_backoff
            .saturating_mul(2_u32.saturating_pow(exponent))
            .min(self.max_backoff)
    }
}

/// Delivers due outbox messages of `deliverer`'s topics once; returns how many it claimed
/// and attempted (whatever the outcome, a lost lease included). Safe with several replicas:
/// a message is claimed by moving its `next_attempt_at` under a compare-and-set, so one
/// replica at a time holds it for the lease.
pub async fn relay_once(
    db: &Database,
    service: &'static str,
    deliverer: &dyn Deliverer,
    settings: &RelaySettings,
) -> Result<usize, StoreError> {
    let messages = due_messages(db, deliverer.topics(), settings.batch).await?;
    // Deliveries wait on peers and SMTP servers, so several run at once; each message is
    // still claimed, renewed and recorded on its own.
    let mut attempts = futures_util::stream::iter(messages)
        .map(|(message, seen)| deliver_one(db, service, deliverer, settings, message, seen))
        .buffer_unordered(settings.concurrency.max(1));
    let mut handled = 0;
    while let Some(attempt) = attempts.next().await {
        handled += usize::from(attempt_handled(attempt));
    }
    Ok(handled)
}

/// Up to `limit` messages of `topics` due now, oldest first, each with the `next_attempt_at`
/// it was seen due at (its claim compares against it).
async fn due_messages(
    db: &Database,
    topics: &[&str],
    limit: i64,
) -> Result<Vec<(PendingMessage, i64)>, StoreError> {
    let sql = format!(
        "SELECT id, topic, message_key, payload, attempts, next_attempt_at, trace_parent FROM outbox_messages \
         WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND topic IN ({}) \
         ORDER BY id LIMIT $2",
        crate::placeholders(3..=topics.len() + 2)
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(now_micros())
        .bind(limit);
    let rows = topics
        .iter()
        .fold(query, |query, topic| query.bind(*topic))
        .fetch_all(db.pool())
        .await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        let message = PendingMessage {
            id: row.try_get("id")?,
            topic: row.try_get("topic")?,
            key: row.try_get("message_key")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
            trace_parent: row.try_get("trace_parent")?,
        };
        let seen: i64 = row.try_get("next_attempt_at")?;
        messages.push((message, seen));
    }
    Ok(messages)
}

/// The deliveries of one relay under way, each a task of its own (so they progress while
/// the relay looks for more), with the message each attempts.
#[derive(Default)]
struct InFlight {
    tasks: JoinSet<Result<bool, StoreError>>,
    messages: HashMap<tokio::task::Id, String>,
}

impl InFlight {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn holds(&self, message: &str) -> bool {
        self.messages.values().any(|id| id == message)
    }

    fn start(
        &mut self,
        message: String,
        delivery: impl Future<Output = Result<bool, StoreError>> + Send + 'static,
    ) {
        let task = self.tasks.spawn(delivery);
        self.messages.insert(task.id(), message);
    }

    /// Waits for the next delivery to end.
    async fn next(&mut self) -> Option<()> {
        let ended = self.tasks.join_next_with_id().await?;
        self.ended(ended);
        Some(())
    }

    /// As [`Self::next`], for a delivery that has already ended.
    fn try_next(&mut self) -> Option<()> {
        let ended = self.tasks.try_join_next_with_id()?;
        self.ended(ended);
        Some(())
    }

    fn ended(
        &mut self,
        ended: Result<(tokio::task::Id, Result<bool, StoreError>), tokio::task::JoinError>,
    ) {
        match ended {
            Ok((task, attempt)) => {
                self.messages.remove(&task);
                attempt_handled(attempt);
            }
            Err(error) => {
                self.messages.remove(&error.id());
                // Not the deliverer (its panics are retries): the message is taken up
                // again once its lease ends.
                tracing::error!(%error, "an outbox delivery panicked");
            }
        }
    }
}

/// Whether an attempt counts as handled; an outcome that could not be recorded is logged.
fn attempt_handled(attempt: Result<bool, StoreError>) -> bool {
    match attempt {
        Ok(handled) => handled,
        // The message stays claimed until its lease ends, then is taken up again.
        Err(error) => {
            tracing::warn!(%error, "an outbox delivery was not recorded");
            false
        }
    }
}

/// Claims `message` (last seen due at `seen`), delivers it and records the outcome; false
/// when another replica claimed it first.
async fn deliver_one(
    db: &Database,
    service: &'static str,
    deliverer: &dyn Deliverer,
    settings: &RelaySettings,
    message: PendingMessage,
    seen: i64,
) -> Result<bool, StoreError> {
    let mut lease_until = now_micros() + micros(settings.lease);
    // The claim's token makes every later write of this attempt conditional on the claim
    // still being this one, whatever the clocks say.
    let token = uuid::Uuid::new_v4().to_string();
    let claimed = sqlx::query(
        "UPDATE outbox_messages SET next_attempt_at = $1, attempts = attempts + 1, lease_token = $2 \
         WHERE id = $3 AND next_attempt_at = $4 AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(lease_until)
    .bind(&token)
    .bind(&message.id)
    .bind(seen)
    .execute(db.pool())
    .await?;
    if claimed.rows_affected() == 0 {
        return Ok(false); // another replica holds it
    }
    // Each attempt is a span of its own, linked to the request that wrote the message.
    let span = tracing::info_span!(
        "outbox.deliver",
        topic = %message.topic,
        message = %message.id,
        attempt = message.attempts + 1,
    );
    if let Some(parent) = &message.trace_parent {
        suite_telemetry::link_to_traceparent(&span, parent);
    }
    // A deliverer that panics is retried with back-off like one that failed, not claimed
    // again and again at every lease's end.
    let delivery = std::panic::AssertUnwindSafe(deliverer.deliver(&message))
        .catch_unwind()
        .map(|attempt| {
            attempt.unwrap_or_else(|_| Delivery::Retry("the deliverer panicked".into()))
        });
    let attempt = tokio::time::timeout(settings.attempt_timeout, delivery).instrument(span);
    tokio::pin!(attempt);
    let mut renewals = tokio::time::interval_at(
        tokio::time::Instant::now() + settings.renewal_interval(),
        settings.renewal_interval(),
    );
    let outcome = loop {
        tokio::select! {
            finished = &mut attempt => break match finished {
                Ok(outcome) => outcome,
                Err(_) => Delivery::Retry(format!(
                    "no outcome within {:?}: cut off",
                    settings.attempt_timeout
                )),
            },
            _ = renewals.tick() => {
                let renewed = now_micros() + micros(settings.lease);
                match renew_lease(db, &message.id, &token, renewed).await {
                    Ok(true) => lease_until = renewed,
                    Ok(false) => return Ok(lease_lost(service, &message)),
                    // Past its lease another replica may take the message: this attempt
                    // stops rather than run beside that one.
                    Err(error) if now_micros() >= lease_until => {
                        tracing::warn!(%error, message = %message.id, "lease not renewed in time");
                        return Ok(lease_lost(service, &message));
                    }
                    Err(error) => tracing::debug!(%error, message = %message.id, "lease not renewed yet"),
                }
            }
        }
    };
    let finished = now_micros();
    // Each outcome is written only while this replica still holds the lease.
    let update = match &outcome {
        Delivery::Delivered => sqlx::query(
            "UPDATE outbox_messages SET delivered_at = $1, last_error = NULL, lease_token = NULL \
             WHERE id = $2 AND lease_token = $3",
        )
        .bind(finished)
        .bind(&message.id)
        .bind(&token),
        // Without a token the message waits out its back-off (see `retry_waiting_now`).
        Delivery::Retry(reason) => sqlx::query(
            "UPDATE outbox_messages SET next_attempt_at = $1, last_error = $2, lease_token = NULL \
             WHERE id = $3 AND lease_token = $4",
        )
        .bind(finished + micros(settings.backoff(message.attempts)))
        .bind(reason.clone())
        .bind(&message.id)
        .bind(&token),
        // A dead letter is never due again, also for a replica of an older release that
        // does not know `failed_at` yet (during a rolling upgrade).
        Delivery::Failed(reason) => sqlx::query(
            "UPDATE outbox_messages SET failed_at = $1, next_attempt_at = 9223372036854775807, last_error = $2, \
             lease_token = NULL WHERE id = $3 AND lease_token = $4",
        )
        .bind(finished)
        .bind(reason.clone())
        .bind(&message.id)
        .bind(&token),
    };
    if update.execute(db.pool()).await?.rows_affected() == 0 {
        // Another replica took the message meanwhile: its outcome stands, and this
        // delivery happened once more (deliverers make repeats harmless).
        return Ok(lease_lost(service, &message));
    } else {
        let counted = match &outcome {
            Delivery::Delivered => Outcome::Delivered,
            Delivery::Retry(_) => Outcome::Retry,
            Delivery::Failed(_) => Outcome::DeadLetter,
        };
        outbox_metrics::count_delivery(service, &message.topic, counted);
        // A message that failed before went through: its receiver is back, so the other
        // messages of its topic waiting out a back-off are tried now, not minutes later.
        if matches!(outcome, Delivery::Delivered)
            && message.attempts > 0
            && let Err(error) = retry_waiting_now(db, &message.topic, settings.batch).await
        {
            // They are tried when their back-off ends, as without it.
            tracing::warn!(%error, topic = %message.topic, "waiting messages not brought forward");
        }
    }
    match outcome {
        Delivery::Delivered => {
            tracing::debug!(message = %message.id, topic = %message.topic, "delivered")
        }
        Delivery::Retry(reason) => {
            tracing::info!(message = %message.id, topic = %message.topic, %reason, attempts = message.attempts + 1, "delivery will be retried")
        }
        Delivery::Failed(reason) => {
            tracing::warn!(message = %message.id, topic = %message.topic, %reason, "delivery failed for good: kept as a dead letter")
        }
    }
    Ok(true)
}

/// Counts and logs an attempt whose claim another replica took over; returns that the
/// message was handled.
fn lease_lost(service: &'static str, message: &PendingMessage) -> bool {
    tracing::warn!(message = %message.id, topic = %message.topic, "the lease was lost: outcome not recorded");
    outbox_metrics::count_delivery(service, &message.topic, Outcome::LeaseLost);
    true
}

/// Extends the lease to `renewed` while the claim is still `token`'s.
async fn renew_lease(
    db: &Database,
    id: &str,
    token: &str,
    renewed: i64,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query(
        "UPDATE outbox_messages SET next_attempt_at = $1 \
         WHERE id = $2 AND lease_token = $3 AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(renewed)
    .bind(id)
    .bind(token)
    .execute(db.pool())
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Makes up to `limit` messages of `topic` that wait out a back-off due now, the soonest
/// due first. A waiting message has an error and no claim; one being attempted has a
/// claim token (a replica of the release before this one claims without a token, so during
/// that upgrade a message it is attempting may be delivered once more).
async fn retry_waiting_now(db: &Database, topic: &str, limit: i64) -> Result<(), StoreError> {
    let now = now_micros();
    sqlx::query(
        "UPDATE outbox_messages SET next_attempt_at = $1 WHERE id IN ( \
             SELECT id FROM outbox_messages \
             WHERE topic = $2 AND delivered_at IS NULL AND failed_at IS NULL \
             AND lease_token IS NULL AND last_error IS NOT NULL AND next_attempt_at > $1 \
             ORDER BY next_attempt_at LIMIT $3) \
         AND lease_token IS NULL AND delivered_at IS NULL AND failed_at IS NULL",
    )
    .bind(now)
    .bind(topic)
    .bind(limit)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Wakes a running relay, e.g. right after a commit that enqueued a message.
#[derive(Clone, Default)]
pub struct RelayWaker(Arc<Notify>);

impl RelayWaker {
    /// Asks the relay to look for due messages now.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Runs the relay of `service` until `stopping` turns true, keeping up to
/// `settings.concurrency` deliveries under way; every few seconds it also reads its topics'
/// backlog for the outbox gauges. Once stopping, it starts no delivery and returns when
/// those under way have ended.
pub async fn run_relay(
    db: Database,
    service: &'static str,
    deliverer: Arc<dyn Deliverer>,
    settings: RelaySettings,
    waker: RelayWaker,
    mut stopping: watch::Receiver<bool>,
) {
    // The gauges are read on their own schedule, also while every slot waits on a slow peer.
    let gauges = {
        let (db, mut stopping) = (db.clone(), stopping.clone());
        let (topics, every) = (deliverer.topics(), settings.gauge_interval);
        async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopping.changed() => return,
                }
                if let Err(error) = outbox_metrics::read_backlog(&db, service, topics).await {
                    tracing::debug!(%error, "outbox backlog not read");
                }
            }
        }
    };
    let deliveries = async move {
        let concurrency = settings.concurrency.max(1);
        let mut interval = tokio::time::interval(settings.interval);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let settings = Arc::new(settings);
        let mut in_flight = InFlight::default();
        // Whether due messages may be waiting beyond those in flight: after a wake-up, a
        // tick, a delivery, or a look that found more than it had slots for.
        let mut look = true;
        let mut stopped = *stopping.borrow();
        loop {
            // A slot is refilled as soon as it frees, so one slow delivery holds up only
            // its own message, not the ones behind it.
            let free = concurrency.saturating_sub(in_flight.len());
            if look && free > 0 && !stopped {
                // Messages under way are still due until their claim commits: asked for
                // beyond the free slots (so at least `free` others come back when that
                // many are due), and skipped.
                let limit = i64::try_from(concurrency).unwrap_or(i64::MAX);
                match due_messages(&db, deliverer.topics(), limit).await {
                    Ok(messages) => {
                        let mut fresh: Vec<_> = messages
                            .into_iter()
                            .filter(|(message, _)| !in_flight.holds(&message.id))
                            .collect();
                        // Some were left for want of a slot: look again when one frees.
                        look = fresh.len() > free;
                        fresh.truncate(free);
                        for (message, seen) in fresh {
                            let (db, deliverer, settings) =
                                (db.clone(), deliverer.clone(), settings.clone());
                            let id = message.id.clone();
                            in_flight.start(id, async move {
                                deliver_one(
                                    &db,
                                    service,
                                    deliverer.as_ref(),
                                    &settings,
                                    message,
                                    seen,
                                )
                                .await
                            });
                        }
                    }
                    Err(error) => {
                        // Before migrations or during a database outage; the next tick
                        // tries again.
                        tracing::debug!(%error, "outbox relay look skipped");
                        look = false;
                    }
                }
                continue;
            }
            if in_flight.len() == 0 && stopped {
                return;
            }
            tokio::select! {
                Some(()) = in_flight.next(), if in_flight.len() > 0 => {
                    // A backlog may wait for the freed slot, and a delivery that went
                    // through may have made others due (see `retry_waiting_now`). Every
                    // other delivery that ended meanwhile frees its slot too, so the next
                    // look fills them all at once.
                    while in_flight.try_next().is_some() {}
                    look = true;
                }
                _ = interval.tick() => look = true,
                _ = waker.0.notified() => look = true,
                // No new delivery starts; those under way finish (each within its attempt
                // timeout) unless the relay's task is aborted, as the services do at
                // shutdown: an aborted delivery's message is taken up again once its lease
                // ends.
                changed = stopping.changed(), if !stopped => {
                    // A dropped sender stops the relay as well.
                    stopped = changed.is_err() || *stopping.borrow();
                }
            }
        }
    };
    tokio::join!(gauges, deliveries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let settings = RelaySettings {
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..Default::default()
        };
        assert_eq!(settings.backoff(0), Duration::from_millis(100));
        assert_eq!(settings.backoff(3), Duration::from_millis(800));
        assert_eq!(settings.backoff(4), Duration::from_secs(1));
        assert_eq!(settings.backoff(1_000), Duration::from_secs(1));
    }

    #[test]
    fn a_lease_is_renewed_several_times_before_it_would_run_out() {
        let settings = RelaySettings::default();
        assert!(settings.renewal_interval() * 3 <= settings.lease);
        assert!(settings.lease < settings.attempt_timeout);
    }
}
