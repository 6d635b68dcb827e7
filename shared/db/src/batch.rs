//! Point reads of one kind that arrive together are answered by one statement. A read that
//! finds a batch slot free starts a batch at once, so a read alone waits for nothing; reads
//! that arrive while every slot is busy wait for the next batch and share its statement.
//! Under load a service then runs one statement (and one pool checkout) for many calls
//! instead of one each.
//!
//! A read is only ever answered by a batch that started after it arrived, so it sees every
//! change committed before it was asked, as a statement of its own would.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::StoreError;

/// What a batch's statement found: the value of each key found; a key left out has none.
pub type Loaded<K, V> = Result<HashMap<K, V>, StoreError>;

type LoadFuture<K, V> = Pin<Box<dyn Future<Output = Loaded<K, V>> + Send>>;
type Load<K, V> = Arc<dyn Fn(Vec<K>) -> LoadFuture<K, V> + Send + Sync>;
type Answer<V> = oneshot::Sender<Result<Option<V>, StoreError>>;

/// Batches point reads by key `K` of values `V` (see the module's documentation).
pub struct ReadBatcher<K, V> {
    inner: Arc<Inner<K, V>>,
}

impl<K, V> Clone for ReadBatcher<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<K, V> {
    waiting: Mutex<Vec<(K, Answer<V>)>>,
    /// One permit per batch in flight.
    slots: Arc<Semaphore>,
    max_keys: usize,
    load: Load<K, V>,
}

impl<K, V> ReadBatcher<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Reads with `load`, which gets the distinct keys of at most `max_keys` reads and answers
    /// those it finds; at most `slots` batches run at once (the pool's size is a good choice: more would
    /// queue on the pool rather than batch).
    pub fn new<F, Fut>(slots: usize, max_keys: usize, load: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Loaded<K, V>> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                waiting: Mutex::new(Vec::new()),
                slots: Arc::new(Semaphore::new(slots.max(1))),
                max_keys: max_keys.max(1),
                load: Arc::new(move |keys| Box::pin(load(keys))),
            }),
        }
    }

    /// The value of `key`, if there is one.
    pub async fn get(&self, key: K) -> Result<Option<V>, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.inner.waiting_list().push((key, answer));
        Inner::dispatch(&self.inner);
        // A batch runs as a task of its own, so a caller that goes away (a cancelled call)
        // takes no other caller's answer with it; the sender is dropped unanswered only if
        // the batch's task panicked.
        answered
            .await
            .unwrap_or_else(|_| Err(StoreError::Other("a batched read ended unanswered".into())))
    }
}

impl<K, V> Inner<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    fn waiting_list(&self) -> std::sync::MutexGuard<'_, Vec<(K, Answer<V>)>> {
        // The list stays consistent whatever panicked while it was held: pushes and drains only.
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a batch of the reads waiting if a slot is free. A batch that ends calls it
    /// again, so a read that found every slot busy is taken by the next batch to end.
    fn dispatch(inner: &Arc<Self>) {
        let Ok(slot) = inner.slots.clone().try_acquire_owned() else {
            return;
        };
        let batch: Vec<(K, Answer<V>)> = {
            let mut waiting = inner.waiting_list();
            let take = waiting.len().min(inner.max_keys);
            waiting.drain(..take).collect()
        };
        if batch.is_empty() {
            return;
        }
        tokio::spawn(Self::run(inner.clone(), batch, slot));
    }

    async fn run(inner: Arc<Self>, batch: Vec<(K, Answer<V>)>, slot: OwnedSemaphorePermit) {
        let mut seen = HashSet::with_capacity(batch.len());
        let keys: Vec<K> = batch
            .iter()
            .filter(|(key, _)| seen.insert(key.clone()))
            .map(|(key, _)| key.clone())
            .collect();
        let loaded = (inner.load)(keys).await;
        for (key, answer) in batch {
            let value = match &loaded {
                Ok(values) => Ok(values.get(&key).cloned()),
                Err(error) => Err(error.clone()),
            };
            // A caller that went away no longer listens: nothing to do.
            let _ = answer.send(value);
        }
        drop(slot);
        Self::dispatch(&inner);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// A loader that records each batch's keys and answers `key * 10` for even keys, after
    /// the test opens its gate (one permit per batch).
    struct Gated {
        batches: Arc<Mutex<Vec<Vec<u32>>>>,
        gate: Arc<Semaphore>,
    }

    impl Gated {
        fn new(slots: usize) -> (ReadBatcher<u32, u32>, Self) {
            let batches = Arc::new(Mutex::new(Vec::new()));
            let gate = Arc::new(Semaphore::new(0));
            let (seen, opened) = (batches.clone(), gate.clone());
            let batcher = ReadBatcher::new(slots, 3, move |keys: Vec<u32>| {
                seen.lock().unwrap().push(keys.clone());
                let opened = opened.clone();
                async move {
                    opened.acquire().await.unwrap().forget();
                    Ok(keys
                        .into_iter()
                        .filter(|k| k % 2 == 0)
                        .map(|k| (k, k * 10))
                        .collect())
                }
            });
            (batcher, Self { batches, gate })
        }

        fn batches(&self) -> Vec<Vec<u32>> {
            self.batches.lock().unwrap().clone()
        }

        /// Waits (bounded) until `count` batches have started.
        async fn started(&self, count: usize) {
            tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while self.batches().len() < count {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the batches never started");
        }
    }

    #[tokio::test]
    async fn reads_that_wait_share_the_next_batch_and_each_gets_its_own_value() {
        let (batcher, loader) = Gated::new(1);
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.get(2).await }
        });
        loader.started(1).await;
        // Every slot is busy: these wait, and may not be answered by the batch under way,
        // which started before they were asked.
        let waiting: Vec<_> = [4, 5, 4, 6, 8]
            .into_iter()
            .map(|key| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.get(key).await })
            })
            .collect();
        while batcher.inner.waiting_list().len() < 5 {
            tokio::task::yield_now().await;
        }
        loader.gate.add_permits(3);
        assert_eq!(first.await.unwrap().unwrap(), Some(20));
        let mut answers = Vec::new();
        for read in waiting {
            answers.push(read.await.unwrap().unwrap());
        }
        assert_eq!(answers, [Some(40), None, Some(40), Some(60), Some(80)]);
        // At most three reads a batch, in the order asked; a key asked twice is read once.
        assert_eq!(loader.batches(), [vec![2], vec![4, 5], vec![6, 8]]);
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
        let calls = Arc::new(Mutex::new(0));
        let counted = calls.clone();
        let batcher = ReadBatcher::new(1, 10, move |keys: Vec<u32>| {
            let first = {
                let mut calls = counted.lock().unwrap();
                *calls += 1;
                *calls == 1
            };
            async move {
                if first {
                    Err(StoreError::Unavailable("gone".into()))
                } else {
                    Ok(keys.into_iter().map(|k| (k, k)).collect())
                }
            }
        });
        let reads: Vec<_> = [1, 2]
            .into_iter()
            .map(|key| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.get(key).await })
            })
            .collect();
        let mut failed = 0;
        for read in reads {
            match read.await.unwrap() {
                Err(StoreError::Unavailable(_)) => failed += 1,
                Ok(value) => assert!(value.is_some()),
                Err(other) => panic!("{other}"),
            }
        }
        assert!(failed >= 1, "the first batch's reads fail");
        assert_eq!(
            batcher.get(7).await.unwrap(),
            Some(7),
            "later batches still run"
        );
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_the_others_answered() {
        let (batcher, loader) = Gated::new(1);
        let gone = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.get(2).await }
        });
        loader.started(1).await;
        let stays = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.get(4).await }
        });
        while batcher.inner.waiting_list().is_empty() {
            tokio::task::yield_now().await;
        }
        gone.abort();
        loader.gate.add_permits(2);
        assert_eq!(stays.await.unwrap().unwrap(), Some(40));
    }
}
