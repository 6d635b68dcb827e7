//! The load generator: C connections × S calls in flight each (closed loop, as h2load), or
//! calls started at a fixed rate (open loop) with a bound on those in flight. Every answer's
//! gRPC code is counted; latencies go to HDR histograms in microseconds.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// A call under way; resolves to the gRPC code of the answer.
pub type CallFuture = Pin<Box<dyn Future<Output = Code> + Send>>;

/// One call of the workload on a connection.
pub type Call = Arc<dyn Fn(Channel) -> CallFuture + Send + Sync>;

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// After this long.
    Time(Duration),
    /// After this many calls.
    Count(u64),
}

/// Opens `connections` HTTP/2 connections to `addr`, one tonic channel each.
pub async fn connect(
    addr: std::net::SocketAddr,
    connections: usize,
) -> Result<Vec<Channel>, tonic::transport::Error> {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        channels.push(channel);
    }
    Ok(channels)
}

/// What a run measured.
pub struct Outcome {
    /// Latency of OK answers, µs.
    pub ok_latency: Histogram<u64>,
    /// Latency of every other answer, µs.
    pub refused_latency: Histogram<u64>,
    /// Answers by gRPC code.
    pub codes: BTreeMap<i32, u64>,
    /// Calls the open loop did not start because its in-flight bound was reached.
    pub shed: u64,
    /// Calls offered (started or shed).
    pub offered: u64,
    /// The measured window: from the first call to the last started (closed loop: to the
    /// last answer).
    pub window: Duration,
}

impl Outcome {
    fn new() -> Self {
        Self {
            ok_latency: histogram(),
            refused_latency: histogram(),
            codes: BTreeMap::new(),
            shed: 0,
            offered: 0,
            window: Duration::ZERO,
        }
    }

    fn record(&mut self, code: Code, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if code == Code::Ok {
            self.ok_latency.saturating_record(micros.max(1));
        } else {
            self.refused_latency.saturating_record(micros.max(1));
        }
        *self.codes.entry(code as i32).or_default() += 1;
    }

    fn merge(&mut self, other: &Outcome) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.ok_latency.add(&other.ok_latency);
        let _ = self.refused_latency.add(&other.refused_latency);
        for (code, count) in &other.codes {
            *self.codes.entry(*code).or_default() += count;
        }
        self.shed += other.shed;
        self.offered += other.offered;
    }

    /// Answers of any code.
    pub fn answered(&self) -> u64 {
        self.codes.values().sum()
    }

    /// OK answers.
    pub fn ok(&self) -> u64 {
        self.codes.get(&(Code::Ok as i32)).copied().unwrap_or(0)
    }

    /// Answers per second, any code.
    pub fn rps(&self) -> f64 {
        per_second(self.answered(), self.window)
    }

    /// OK answers per second.
    pub fn goodput(&self) -> f64 {
        per_second(self.ok(), self.window)
    }

    /// The `quantile` of OK latencies, in milliseconds.
    pub fn ok_ms(&self, quantile: f64) -> f64 {
        millis(&self.ok_latency, quantile)
    }

    /// The `quantile` of refusal latencies, in milliseconds.
    pub fn refused_ms(&self, quantile: f64) -> f64 {
        millis(&self.refused_latency, quantile)
    }

    /// Answers other than OK, as `Code: count` pairs; `none` when every answer was OK.
    pub fn errors(&self) -> String {
        let errors: Vec<String> = self
            .codes
            .iter()
            .filter(|(code, _)| **code != Code::Ok as i32)
            .map(|(code, count)| format!("{:?}: {count}", Code::from(*code)))
            .collect();
        if errors.is_empty() {
            "none".to_owned()
        } else {
            errors.join(", ")
        }
    }
}

/// A histogram of 1 µs to 100 s at three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3)
        .unwrap_or_else(|error| unreachable!("constant histogram bounds: {error}"))
}

/// `quantile` of `histogram` (µs) in milliseconds; 0 when empty.
pub fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    if histogram.is_empty() {
        return 0.0;
    }
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

fn per_second(count: u64, window: Duration) -> f64 {
    if window.is_zero() {
        return 0.0;
    }
    count as f64 / window.as_secs_f64()
}

/// Closed loop: `streams` calls in flight on each channel, each started as soon as the
/// previous one on its stream answered, until `bound`.
pub async fn closed(channels: &[Channel], streams: usize, bound: Bound, call: &Call) -> Outcome {
    let started = Instant::now();
    let remaining = Arc::new(AtomicU64::new(match bound {
        Bound::Count(count) => count,
        Bound::Time(_) => u64::MAX,
    }));
    let stop_at = match bound {
        Bound::Time(duration) => Some(started + duration),
        Bound::Count(_) => None,
    };
    let mut tasks = JoinSet::new();
    for channel in channels {
        for _ in 0..streams {
            let channel = channel.clone();
            let call = call.clone();
            let remaining = remaining.clone();
            tasks.spawn(async move {
                let mut part = Outcome::new();
                loop {
                    if stop_at.is_some_and(|stop_at| Instant::now() >= stop_at) {
                        break;
                    }
                    let taken = remaining
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                    if taken.is_err() {
                        break;
                    }
                    let begin = Instant::now();
                    let code = call(channel.clone()).await;
                    part.record(code, begin.elapsed());
                    part.offered += 1;
                }
                part
            });
        }
    }
    let mut outcome = Outcome::new();
    while let Some(part) = tasks.join_next().await {
        if let Ok(part) = part {
            outcome.merge(&part);
        }
    }
    outcome.window = started.elapsed();
    outcome
}

/// Open loop: calls started at `rate` per second, round robin over `channels`, until `bound`;
/// a call due while `max_in_flight` are unanswered is not started (counted as shed). Latency
/// counts from when the call was due, so a late start is not hidden.
///
/// The schedule is kept by a thread of its own: Tokio's timer fires on millisecond ticks, so
/// a call paced by it would start up to two milliseconds after it was due, and that lag
/// would be counted as the service's latency. A thread's sleep ends within tens of
/// microseconds of its deadline.
pub async fn open(
    channels: &[Channel],
    rate: f64,
    bound: Bound,
    max_in_flight: usize,
    call: &Call,
) -> Outcome {
    let rate = rate.max(1.0);
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let (results_tx, mut results_rx) = mpsc::unbounded_channel::<(Code, Duration)>();
    let collector = tokio::spawn(async move {
        let mut outcome = Outcome::new();
        while let Some((code, latency)) = results_rx.recv().await {
            outcome.record(code, latency);
        }
        outcome
    });
    let (due_tx, mut due_rx) = mpsc::unbounded_channel::<Vec<Instant>>();
    let pacer = std::thread::spawn(move || pace(started, rate, bound, due_tx));
    let mut offered = 0_u64;
    let mut shed = 0_u64;
    while let Some(batch) = due_rx.recv().await {
        for due in batch {
            let channel = channels[(offered as usize) % channels.len()].clone();
            offered += 1;
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                shed += 1;
                continue;
            };
            let call = call.clone();
            let results_tx = results_tx.clone();
            tokio::spawn(async move {
                let code = call(channel).await;
                let _ = results_tx.send((code, due.elapsed()));
                drop(permit);
            });
        }
    }
    // The pacer has sent its last call and ended; nothing to wait for.
    let _ = pacer.join();
    let window = started.elapsed();
    drop(results_tx);
    let mut outcome = collector.await.unwrap_or_else(|_| Outcome::new());
    outcome.offered = offered;
    outcome.shed = shed;
    outcome.window = window;
    outcome
}

/// The pacer's shortest sleep: a call starts at most this much after it was due (and that
/// lag counts as latency), and the pacer wakes at most 5,000 times a second.
const PACER_TICK: Duration = Duration::from_micros(200);

/// Sends the instants the calls of the open loop are due, when they are due, until `bound`;
/// stops early when the receiver is gone. The calls due by the time the thread wakes go
/// together, so at high rates the generator wakes once per batch, not once per call.
fn pace(started: Instant, rate: f64, bound: Bound, due_tx: mpsc::UnboundedSender<Vec<Instant>>) {
    let due_at = |offered: u64| started + Duration::from_secs_f64(offered as f64 / rate);
    let past_bound = |offered: u64| match bound {
        Bound::Time(duration) => due_at(offered) >= started + duration,
        Bound::Count(count) => offered >= count,
    };
    let mut offered = 0_u64;
    let mut woke = Instant::now();
    while !past_bound(offered) {
        // At most one wake-up per tick: the generator shares the cores with the service.
        let next = due_at(offered).max(woke + PACER_TICK);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        woke = Instant::now();
        let mut batch = Vec::new();
        while !past_bound(offered) && due_at(offered) <= woke {
            batch.push(due_at(offered));
            offered += 1;
        }
        if due_tx.send(batch).is_err() {
            return;
        }
    }
}
