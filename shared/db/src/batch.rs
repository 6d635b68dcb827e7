//! Point reads of one kind that arrive together are answered by one statement. A read that
//! finds a batch slot free starts a batch at once; reads that arrive while every slot is
//! busy wait for the next batch to end and share the statement after it. Under load a
//! service then runs one statement for many calls instead of one each.
//!
//! A slot keeps its connection for the reads that arrive while its statement runs, up to
//! [`TURNS_PER_CONNECTION`] statements: the pool checks every connection it takes back with a
//! round trip of its own. Before its next statement it yields to the runtime a few times
//! ([`PASSES_BEFORE_NEXT`]), so that other ready tasks run first, among them the
//! connections that decode requests already received: their reads join that statement
//! instead of each waiting for one of their own. Under load the statements per call, and
//! the work per call with them, fall severalfold. A read that finds a slot free still
//! starts at once. The slots should leave some of the pool to other statements (see
//! [`crate::Database::read_batch_slots`]): a slot holds its connection for several
//! statements, and a write waiting for one would wait for all of them.
//!
//! A read is only ever answered by a statement that started after it arrived, so it sees
//! every change committed before it was asked, as a statement of its own would.
//!
//! How many reads each statement answers is a histogram, `db.read_batch.reads`, labelled
//! `loader` with the loader's [`LoadBatch::NAME`]: near 1 the database keeps up with every call on
//! its own; near the batch size it is what limits the service.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures_util::future::BoxFuture;
use suite_telemetry::{Histogram, KeyValue};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tracing::Instrument as _;

use crate::StoreError;

/// What a batch's statement found: each key found with its value, or with why its rows could
/// not be read (so one bad row fails only its own key's reads); a key left out has none. An
/// error for the whole statement fails every read of the batch.
pub type Loaded<K, V> = Result<HashMap<K, Result<V, StoreError>>, StoreError>;

/// Most statements a slot runs on one connection before giving it back to the pool, so that
/// writes waiting for a connection get one while reads keep coming.
pub const TURNS_PER_CONNECTION: usize = 8;

/// Times a slot yields to the runtime before its next statement, unless a full statement's
/// reads already wait. Under the benchmark's load on PostgreSQL one yield gathered about 8
/// reads a statement, four about 17.
pub const PASSES_BEFORE_NEXT: usize = 4;

/// How a [`ReadBatcher`] reads: the connection a slot holds, and the statement for a batch.
pub trait LoadBatch<K, V>: Send + Sync + 'static {
    /// What is read, as the metrics name it (`enrollment.standings`).
    const NAME: &'static str;

    /// What a slot reads through (a pooled connection).
    type Connection: Send + 'static;

    /// A connection for a slot's statements.
    fn connect(&self) -> BoxFuture<'_, Result<Self::Connection, StoreError>>;

    /// Reads the distinct `keys` of a batch and answers those it finds.
    fn load<'a>(
        &'a self,
        connection: &'a mut Self::Connection,
        keys: Vec<K>,
    ) -> BoxFuture<'a, Loaded<K, V>>;
}

type Answer<V> = oneshot::Sender<Result<Option<V>, StoreError>>;
type Waiting<K, V> = Vec<(K, Answer<V>)>;

/// Batches point reads by key `K` of values `V` (see the module's documentation).
pub struct ReadBatcher<K, V, L> {
    inner: Arc<Inner<K, V, L>>,
}

impl<K, V, L> Clone for ReadBatcher<K, V, L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, V, L> {
    /// Reads not yet in a batch. Taking a slot and emptying the list happen under its lock,
    /// so a read pushed while every slot is busy is seen by the batch that frees one.
    waiting: Mutex<Waiting<K, V>>,
    /// One permit per batch in flight.
    slots: Arc<Semaphore>,
    max_keys: usize,
    /// Most reads waiting: one full batch per slot. A read beyond it is refused as
    /// [`StoreError::Overloaded`] (UNAVAILABLE, retryable) rather than queued behind reads
    /// the database cannot keep up with.
    max_waiting: usize,
    loader: L,
}

impl<K, V, L> ReadBatcher<K, V, L>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    L: LoadBatch<K, V>,
{
    /// Reads with `loader`, a batch at most `max_keys` reads; at most `slots` batches run at
    /// once, each holding a connection (see [`crate::Database::read_batch_slots`]).
    pub fn new(slots: usize, max_keys: usize, loader: L) -> Self {
        let (slots, max_keys) = (slots.max(1), max_keys.max(1));
        Self {
            inner: Arc::new(Inner {
                waiting: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(slots)),
                max_keys,
                max_waiting: slots * max_keys,
                loader,
            }),
        }
    }

    /// The value of `key`, if there is one. Call it inside a Tokio runtime: the batch runs as
    /// a task of its own, so a caller that goes away (a cancelled call) takes no other
    /// caller's answer with it.
    pub async fn get(&self, key: K) -> Result<Option<V>, StoreError> {
        let (answer, answered) = oneshot::channel();
        let ready = {
            let mut waiting = self.inner.waiting_list();
            if waiting.len() >= self.inner.max_waiting {
                waiting.retain(|(_, answer)| !answer.is_closed());
            }
            if waiting.len() >= self.inner.max_waiting {
                return Err(StoreError::Overloaded(
                    "too many reads are waiting for the database".into(),
                ));
            }
            waiting.push((key, answer));
            self.inner.take_batches(&mut waiting)
        };
        self.inner.start(ready);
        // Unanswered only when the batch's task ended early: a panic (a bug), or the runtime
        // shutting down.
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Other(
                "the read was cut off before it was answered".into(),
            ))
        })
    }
}

impl<K, V, L> Inner<K, V, L>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    L: LoadBatch<K, V>,
{
    fn waiting_list(&self) -> MutexGuard<'_, Waiting<K, V>> {
        // The list stays consistent whatever panicked while it was held: pushes and drains only.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot and a batch of the reads waiting for every free slot. Called under the
    /// list's lock, so a read pushed while every slot is busy is seen by the batch that frees
    /// one.
    fn take_batches(
        &self,
        waiting: &mut Waiting<K, V>,
    ) -> Vec<(OwnedSemaphorePermit, Waiting<K, V>)> {
        let mut ready = Vec::new();
        while !waiting.is_empty() {
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                break;
            };
            let Some(reads) = self.next_batch(waiting) else {
                break; // the slot goes back under the lock: no read can be pushed meanwhile
            };
            ready.push((slot, reads));
        }
        ready
    }

    /// Up to a batch of the reads waiting, dropping first those whose caller went away (looked
    /// through only once a slot is had: the list can be long when none is).
    fn next_batch(&self, waiting: &mut Waiting<K, V>) -> Option<Waiting<K, V>> {
        waiting.retain(|(_, answer)| !answer.is_closed());
        let take = waiting.len().min(self.max_keys);
        (take > 0).then(|| waiting.drain(..take).collect())
    }

    /// Runs each batch `take_batches` made as a task of its own. Called without the list's
    /// lock: a runtime that is shutting down drops a task at once, and the batch's drop takes
    /// the lock.
    fn start(self: &Arc<Self>, ready: Vec<(OwnedSemaphorePermit, Waiting<K, V>)>) {
        for (slot, reads) in ready {
            let batch = Batch {
                inner: self.clone(),
                slot: Some(slot),
            };
            tokio::spawn(batch.run(reads));
        }
    }
}

/// A slot in use; when it ends, however it ends (answered, panicked, cancelled), the slot
/// goes to the reads waiting.
struct Batch<K, V, L>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    L: LoadBatch<K, V>,
{
    inner: Arc<Inner<K, V, L>>,
    slot: Option<OwnedSemaphorePermit>,
}

impl<K, V, L> Batch<K, V, L>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    L: LoadBatch<K, V>,
{
    /// Reads `reads`, then the reads that arrived meanwhile, on one connection.
    async fn run(self, mut reads: Waiting<K, V>) {
        let mut connection = match self.inner.loader.connect().await {
            Ok(connection) => connection,
            Err(error) => return answer(reads, &Err(error)),
        };
        for turn in 1..=TURNS_PER_CONNECTION {
            let keys = distinct_keys(&reads);
            reads_per_statement().record(reads.len() as u64, &[KeyValue::new("loader", L::NAME)]);
            let span = tracing::debug_span!("batched read", reads = reads.len(), turn);
            let loaded = self
                .inner
                .loader
                .load(&mut connection, keys)
                .instrument(span)
                .await;
            // A statement that failed as a whole may have left the connection broken: it goes
            // back to the pool, which checks it and closes it if it is.
            let carry_on = loaded.is_ok() && turn < TURNS_PER_CONNECTION;
            answer(reads, &loaded);
            if carry_on {
                for _ in 0..PASSES_BEFORE_NEXT {
                    if self.inner.waiting_list().len() >= self.inner.max_keys {
                        break; // a full statement's worth: waiting would only hold it longer
                    }
                    tokio::task::yield_now().await;
                }
            }
            let next = carry_on
                .then(|| self.inner.next_batch(&mut self.inner.waiting_list()))
                .flatten();
            match next {
                Some(next) => reads = next,
                None => break,
            }
        }
    }
}

/// The process's histogram of reads answered per statement.
fn reads_per_statement() -> &'static Histogram<u64> {
    static HISTOGRAM: OnceLock<Histogram<u64>> = OnceLock::new();
    HISTOGRAM.get_or_init(|| {
        suite_telemetry::meter()
            .u64_histogram("db.read_batch.reads")
            .with_description("Reads answered by each batched statement, by what is read")
            .with_boundaries(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 99.0, 100.0])
            .build()
    })
}

fn distinct_keys<K: Eq + Hash + Clone, V>(reads: &Waiting<K, V>) -> Vec<K> {
    let mut seen = HashSet::with_capacity(reads.len());
    reads
        .iter()
        .filter(|(key, _)| seen.insert(key.clone()))
        .map(|(key, _)| key.clone())
        .collect()
}

fn answer<K: Eq + Hash, V: Clone>(reads: Waiting<K, V>, loaded: &Loaded<K, V>) {
    for (key, answer) in reads {
        let value = match loaded {
            Ok(found) => found.get(&key).cloned().transpose(),
            Err(error) => Err(error.clone()),
        };
        // A caller that went away no longer listens: nothing to do.
        let _ = answer.send(value);
    }
}

impl<K, V, L> Drop for Batch<K, V, L>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
    L: LoadBatch<K, V>,
{
    fn drop(&mut self) {
        drop(self.slot.take());
        // Outside a runtime (it is shutting down) nothing more can run.
        if tokio::runtime::Handle::try_current().is_ok() {
            let ready = self.inner.take_batches(&mut self.inner.waiting_list());
            self.inner.start(ready);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::time::Duration;

    use super::*;

    /// Key 99 makes its batch fail as the database being unreachable, key 77 has a corrupt
    /// row, key 13 makes the loader panic; any other even key `k` has the value `k * 10`.
    fn value_of(keys: Vec<u32>) -> Loaded<u32, u32> {
        if keys.contains(&99) {
            return Err(StoreError::Unavailable("gone".into()));
        }
        assert!(!keys.contains(&13), "the loader failed");
        Ok(keys
            .into_iter()
            .filter_map(|k| match k {
                77 => Some((k, Err(StoreError::Corrupt("row 77".into())))),
                _ if k % 2 == 0 => Some((k, Ok(k * 10))),
                _ => None,
            })
            .collect())
    }

    /// A loader that records each batch's connection and keys, and answers [`value_of`] them
    /// once the test opens its gate (one permit per batch). Connections are numbered from 1
    /// in the order opened.
    type Started = (u32, Vec<u32>);

    #[derive(Clone)]
    struct Gated {
        /// Each batch's connection and keys, in the order started.
        batches: Arc<Mutex<Vec<Started>>>,
        gate: Arc<Semaphore>,
        opened: Arc<std::sync::atomic::AtomicU32>,
    }

    impl LoadBatch<u32, u32> for Gated {
        const NAME: &'static str = "test.gated";

        type Connection = u32;

        fn connect(&self) -> BoxFuture<'_, Result<u32, StoreError>> {
            let number = self
                .opened
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            Box::pin(async move { Ok(number) })
        }

        fn load<'a>(
            &'a self,
            connection: &'a mut u32,
            keys: Vec<u32>,
        ) -> BoxFuture<'a, Loaded<u32, u32>> {
            self.batches
                .lock()
                .unwrap()
                .push((*connection, keys.clone()));
            Box::pin(async move {
                self.gate.acquire().await.unwrap().forget();
                value_of(keys)
            })
        }
    }

    type Batcher = ReadBatcher<u32, u32, Gated>;

    impl Gated {
        fn new(slots: usize) -> (Batcher, Self) {
            let loader = Self {
                batches: Arc::default(),
                gate: Arc::new(Semaphore::new(0)),
                opened: Arc::default(),
            };
            (ReadBatcher::new(slots, 3, loader.clone()), loader)
        }

        fn batches(&self) -> Vec<Vec<u32>> {
            let batches = self.batches.lock().unwrap();
            batches.iter().map(|(_, keys)| keys.clone()).collect()
        }

        fn connections(&self) -> Vec<u32> {
            let batches = self.batches.lock().unwrap();
            batches.iter().map(|(connection, _)| *connection).collect()
        }

        /// Waits (bounded) until `count` batches have started.
        async fn started(&self, count: usize) {
            until(|| self.batches().len() >= count).await;
        }
    }

    /// Yields until `done` holds, failing the test after 5 s.
    async fn until(done: impl Fn() -> bool) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while !done() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the condition never held");
    }

    fn read(
        batcher: &Batcher,
        key: u32,
    ) -> tokio::task::JoinHandle<Result<Option<u32>, StoreError>> {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.get(key).await })
    }

    /// Starts a read of `key` that holds the only slot until the gate opens.
    async fn busy(
        batcher: &Batcher,
        loader: &Gated,
        key: u32,
    ) -> tokio::task::JoinHandle<Result<Option<u32>, StoreError>> {
        let first = read(batcher, key);
        loader.started(1).await;
        first
    }

    /// Spawns reads of `keys` and waits until they all wait for a slot.
    async fn queue(
        batcher: &Batcher,
        keys: &[u32],
    ) -> Vec<tokio::task::JoinHandle<Result<Option<u32>, StoreError>>> {
        let open = || {
            let waiting = batcher.inner.waiting_list();
            waiting
                .iter()
                .filter(|(_, answer)| !answer.is_closed())
                .count()
        };
        let before = open();
        let reads = keys.iter().map(|key| read(batcher, *key)).collect();
        until(|| open() == before + keys.len()).await;
        reads
    }

    #[tokio::test]
    async fn reads_that_wait_share_the_next_batch_and_each_gets_its_own_value() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        // Every slot is busy: these wait, and may not be answered by the batch under way,
        // which started before they were asked.
        let waiting = queue(&batcher, &[4, 5, 4]).await;
        loader.gate.add_permits(2);
        assert_eq!(first.await.unwrap().unwrap(), Some(20));
        let mut answers = Vec::new();
        for read in waiting {
            answers.push(read.await.unwrap().unwrap());
        }
        assert_eq!(answers, [Some(40), None, Some(40)]);
        // The reads in the order asked; a key asked twice is read once.
        assert_eq!(loader.batches(), [vec![2], vec![4, 5]]);
        // The slot kept its connection for them.
        assert_eq!(loader.connections(), [1, 1]);
    }

    #[tokio::test]
    async fn a_read_alone_starts_its_batch_at_once() {
        let (batcher, loader) = Gated::new(2);
        loader.gate.add_permits(2);
        assert_eq!(batcher.get(2).await.unwrap(), Some(20));
        assert_eq!(batcher.get(3).await.unwrap(), None);
        assert_eq!(loader.batches(), [vec![2], vec![3]]);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_read_of_its_batch_and_the_next_batch_runs() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        let failing = queue(&batcher, &[4, 99]).await;
        loader.gate.add_permits(3);
        assert_eq!(first.await.unwrap().unwrap(), Some(20));
        for read in failing {
            assert!(matches!(
                read.await.unwrap(),
                Err(StoreError::Unavailable(_))
            ));
        }
        assert_eq!(
            batcher.get(6).await.unwrap(),
            Some(60),
            "later batches still run"
        );
        // The failed statement's connection was given back, not used again.
        assert_eq!(loader.connections(), [1, 1, 2]);
    }

    #[tokio::test]
    async fn calls_received_while_a_statement_runs_share_the_next_one() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        // The statement ends; then, before the slot's task runs again, requests come in:
        // spawned, not yet run, as calls a server has received but not yet handled. (Enough
        // permits for a statement each, so that a slot that does not wait fails the test
        // rather than hangs it.)
        loader.gate.add_permits(4);
        let reads: Vec<_> = [4, 6, 8].iter().map(|key| read(&batcher, *key)).collect();
        assert_eq!(first.await.unwrap().unwrap(), Some(20));
        for (read, key) in reads.into_iter().zip([4, 6, 8]) {
            assert_eq!(read.await.unwrap().unwrap(), Some(key * 10));
        }
        assert_eq!(loader.batches(), [vec![2], vec![4, 6, 8]]);
        assert_eq!(loader.connections(), [1, 1]);
    }

    #[tokio::test]
    async fn reads_waiting_behind_a_failed_or_panicking_statement_get_a_new_one() {
        for broken in [99, 13] {
            let (batcher, loader) = Gated::new(1);
            let first = busy(&batcher, &loader, broken).await;
            let waiting = queue(&batcher, &[4]).await;
            loader.gate.add_permits(2);
            assert!(first.await.unwrap().is_err());
            for read in waiting {
                assert_eq!(read.await.unwrap().unwrap(), Some(40));
            }
            assert_eq!(loader.connections(), [1, 2], "after key {broken}");
        }
    }

    #[tokio::test]
    async fn a_slot_gives_its_connection_back_after_so_many_statements() {
        let (batcher, loader) = Gated::new(1);
        let mut reads = vec![busy(&batcher, &loader, 0).await];
        for turn in 1..=TURNS_PER_CONNECTION {
            let key = 2 * turn as u32;
            reads.extend(queue(&batcher, &[key]).await);
            loader.gate.add_permits(1);
            loader.started(turn + 1).await;
        }
        loader.gate.add_permits(1);
        for (turn, read) in reads.into_iter().enumerate() {
            assert_eq!(read.await.unwrap().unwrap(), Some(20 * turn as u32));
        }
        let mut expected = vec![1; TURNS_PER_CONNECTION];
        expected.push(2);
        assert_eq!(loader.connections(), expected);
    }

    #[tokio::test]
    async fn a_corrupt_row_fails_only_its_own_reads() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        let reads = queue(&batcher, &[4, 77]).await;
        loader.gate.add_permits(2);
        first.await.unwrap().unwrap();
        let [healthy, corrupt]: [_; 2] = reads.try_into().unwrap();
        assert_eq!(healthy.await.unwrap().unwrap(), Some(40));
        assert!(matches!(
            corrupt.await.unwrap(),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(loader.batches(), [vec![2], vec![4, 77]]);
    }

    #[tokio::test]
    async fn a_read_whose_caller_went_away_is_not_read() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        let gone = queue(&batcher, &[4]).await;
        gone[0].abort();
        until(|| gone[0].is_finished()).await;
        let stays = queue(&batcher, &[6]).await.pop().unwrap();
        loader.gate.add_permits(2);
        first.await.unwrap().unwrap();
        assert_eq!(stays.await.unwrap().unwrap(), Some(60));
        assert_eq!(loader.batches(), [vec![2], vec![6]]);
    }

    #[tokio::test]
    async fn a_batch_that_panics_fails_its_reads_and_frees_its_slot() {
        let (batcher, loader) = Gated::new(1);
        loader.gate.add_permits(2);
        assert!(matches!(batcher.get(13).await, Err(StoreError::Other(_))));
        assert_eq!(batcher.get(2).await.unwrap(), Some(20));
    }

    #[tokio::test]
    async fn reads_beyond_a_full_batch_per_slot_are_refused_at_once() {
        let (batcher, loader) = Gated::new(1);
        let first = busy(&batcher, &loader, 2).await;
        let waiting = queue(&batcher, &[4, 6, 8]).await;
        assert!(matches!(
            batcher.get(10).await,
            Err(StoreError::Overloaded(_))
        ));
        loader.gate.add_permits(2);
        first.await.unwrap().unwrap();
        for read in waiting {
            assert!(read.await.unwrap().unwrap().is_some());
        }
    }

    /// Answers `k + 1` for every key `k`, after a yield.
    struct Echo;

    impl LoadBatch<u32, u32> for Echo {
        const NAME: &'static str = "test.echo";

        type Connection = ();

        fn connect(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            Box::pin(async { Ok(()) })
        }

        fn load<'a>(&'a self, _: &'a mut (), keys: Vec<u32>) -> BoxFuture<'a, Loaded<u32, u32>> {
            Box::pin(async move {
                assert!(keys.len() <= 16, "at most 16 reads a batch");
                tokio::task::yield_now().await;
                Ok(keys.into_iter().map(|k| (k, Ok(k + 1))).collect())
            })
        }
    }

    /// Callers on several threads against one slot and against two: every read is answered,
    /// with its own key's value (a lost wake-up would leave one waiting past the timeout).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_from_many_threads_are_all_answered_with_their_own_value() {
        for slots in [1, 2] {
            // A full batch per caller may wait: none is refused.
            let batcher = ReadBatcher::new(slots, 16, Echo);
            let mut callers = tokio::task::JoinSet::new();
            for caller in 0..16_u32 {
                let batcher = batcher.clone();
                callers.spawn(async move {
                    for round in 0..200_u32 {
                        let key = caller * 1_000 + round % 7;
                        let value = batcher.get(key).await.unwrap();
                        assert_eq!(value, Some(key + 1));
                    }
                });
            }
            tokio::time::timeout(Duration::from_secs(30), async {
                while let Some(caller) = callers.join_next().await {
                    caller.unwrap();
                }
            })
            .await
            .expect("a read was never answered");
        }
    }
}
