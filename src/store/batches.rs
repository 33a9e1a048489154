//! Group commit of writes (`Store::group_write`, `Store::write_together`):
//! SCIM changes and audit rows that accompany no change.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::Executor;
use tokio::sync::{mpsc, oneshot};

use super::{Backend, Store, StoreError, StoreResult, Tx};

/// Group commit: concurrent requests' changes run one after another in one
/// write transaction, each inside its own savepoint. A SCIM initial sync is
/// thousands of small writes, a busy sign-in page an audit row per person;
/// with one transaction each, SQLite's single writer lock (and on
/// PostgreSQL the commit flush and the `event_sequence` row lock) was the
/// ceiling. A change that fails rolls
/// back to its savepoint alone and answers at once; the others answer once
/// the batch has committed, so nobody hears of a success that did not land.
/// Events stay in commit order: the batch's events are numbered at its
/// commit, in the order its changes ran.
#[derive(Clone, Default)]
pub(super) struct WriteBatches {
    queue: Arc<std::sync::Mutex<Option<mpsc::Sender<Job>>>>,
    /// Changes waiting to run together (`write_together`), one list
    /// per kind (a `Waiting<I, T, E>` under its type's id).
    together: Arc<std::sync::Mutex<HashMap<TypeId, Box<dyn Any + Send>>>>,
}

/// A point inside a write transaction that what follows can be rolled
/// back to alone, its events with it.
pub struct Savepoint {
    name: &'static str,
    events: usize,
}

impl Tx {
    /// Opens a savepoint. Savepoints of one name nest: one that is never
    /// released ends with the transaction, which saves a statement per
    /// change (a rollback goes back to the newest of the name).
    pub async fn savepoint(&mut self, name: &'static str) -> StoreResult<Savepoint> {
        (&mut *self.inner)
            .execute(format!("SAVEPOINT {name}").as_str())
            .await?;
        Ok(self.savepoint_named(name))
    }

    /// The savepoint `name` a statement of the caller's opens here.
    pub(super) fn savepoint_named(&self, name: &'static str) -> Savepoint {
        Savepoint {
            name,
            events: self.events.len(),
        }
    }

    /// Undoes everything since `savepoint` (which stays open).
    pub async fn rollback_to(&mut self, savepoint: &Savepoint) -> StoreResult<()> {
        (&mut *self.inner)
            .execute(format!("ROLLBACK TO SAVEPOINT {}", savepoint.name).as_str())
            .await?;
        self.events.truncate(savepoint.events);
        Ok(())
    }
}

/// How many changes one transaction takes at most: enough to amortize the
/// commit, few enough that a batch holds the writer lock only briefly. On
/// PostgreSQL each change's savepoint that writes is a subtransaction; past
/// 64 in one transaction its snapshots overflow and every reader slows.
fn batch_changes(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 64,
        Backend::Postgres => 32,
    }
}

/// Hands a change's outcome to the request that is waiting for it.
type Deliver = Box<dyn FnOnce() + Send>;

/// What running a change in a batch came to.
enum Ran {
    /// Kept (`true`) or rolled back to its savepoint; its outcome.
    Done(bool, Deliver),
    /// Rolled back on a transient error: to run again in a later
    /// transaction, once this one has let go of its locks.
    Again(Job),
}

/// A change run inside the batch's transaction.
type Job = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Ran> + Send>;

/// How often a change that hit a transient error (on PostgreSQL a
/// deadlock between two batches inserting the same new accounts in
/// opposite orders) runs again before its request hears of it.
const CHANGE_ATTEMPTS: usize = 3;

/// An error a change may be retried after, in a new transaction.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

impl Transient for StoreError {
    fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// What a request hears when its batch could not start or commit: the
/// change did not land (or may not have), worth a retry.
fn not_committed() -> StoreError {
    StoreError::Unavailable(sqlx::Error::Protocol(
        "the write batch did not commit; retry".into(),
    ))
}

fn job<T, E, F>(change: Arc<F>, reply: oneshot::Sender<Result<T, E>>, attempts: usize) -> Job
where
    F: for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
    T: Send + 'static,
    E: Transient + Send + 'static,
{
    Box::new(move |tx: &mut Tx| -> BoxFuture<'_, Ran> {
        Box::pin(async move {
            match change(tx).await {
                Err(e) if attempts > 1 && e.is_transient() => {
                    Ran::Again(job(change, reply, attempts - 1))
                }
                result => {
                    let ok = result.is_ok();
                    // The request may have gone (client disconnected).
                    let deliver: Deliver = Box::new(move || {
                        let _ = reply.send(result);
                    });
                    Ran::Done(ok, deliver)
                }
            }
        })
    })
}

impl Store {
    /// Runs `change` in the next group-committed write transaction and
    /// returns its outcome once that transaction has committed (an error at
    /// once: the change was rolled back to its savepoint). Everything
    /// `change` reads must go through its `Tx`: the pool does not see the
    /// batch's earlier, uncommitted changes. `change` may run more than once
    /// (after a transient error, in a new transaction).
    pub async fn group_write<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: for<'t> Fn(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + Transient + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = job(Arc::new(change), reply, CHANGE_ATTEMPTS);
        if self.write_batches.sender(self).send(job).await.is_err() {
            return Err(not_committed().into());
        }
        answer.await.unwrap_or_else(|_| Err(not_committed().into()))
    }
}

/// Changes of one kind waiting to run together, with whom to answer.
type Waiting<I, T, E> = Vec<(I, oneshot::Sender<Result<T, E>>)>;

/// Runs a list of changes of one kind in a transaction: one outcome per
/// change, in their order; an error (the transaction broke) for them all.
pub type Together<I, T, E> =
    for<'t> fn(&'t mut Tx, &'t [I]) -> BoxFuture<'t, Result<Vec<Result<T, E>>, E>>;

impl Store {
    /// Like `group_write`, but concurrent changes of one kind (one `I`) run
    /// as one change, `run`, over all of them: it can write them with a few
    /// multi-row statements instead of several statements each. The list
    /// grows while the change waits in the queue, and is taken when it
    /// first runs. Each change's outcome is delivered once the transaction
    /// has committed; `run` keeps one change's failure from the others.
    pub async fn write_together<I, T, E>(&self, item: I, run: Together<I, T, E>) -> Result<T, E>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + Transient + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut together = self.write_batches.waiting();
            let list = together
                .entry(TypeId::of::<Waiting<I, T, E>>())
                .or_insert_with(|| Box::new(Waiting::<I, T, E>::new()));
            match list.downcast_mut::<Waiting<I, T, E>>() {
                Some(list) => {
                    list.push((item, reply));
                    list.len() == 1
                }
                // Not reached: each list is stored under its own type's id.
                None => return Err(not_committed().into()),
            }
        };
        if first {
            // On its own task: the waiters hear from it even if this
            // request goes away.
            tokio::spawn(self.clone().submit_together(run));
        }
        answer.await.unwrap_or_else(|_| Err(not_committed().into()))
    }

    /// Queues the change that takes the waiting list of its kind.
    /// (Boxed: it may queue another of itself.)
    fn submit_together<I, T, E>(self, run: Together<I, T, E>) -> BoxFuture<'static, ()>
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        E: From<StoreError> + Transient + Send + 'static,
    {
        Box::pin(async move {
            let most = batch_changes(self.backend);
            let taken: Arc<std::sync::Mutex<Option<Taken<I, T, E>>>> = Arc::default();
            let store = self.clone();
            let holds = taken.clone();
            let outcome = self
                .group_write(move |tx| {
                    let store = store.clone();
                    let holds = holds.clone();
                    Box::pin(async move {
                        // Taken once: a run after a transient error runs the same list.
                        let items = {
                            let mut holds = holds.lock().unwrap_or_else(|e| e.into_inner());
                            if holds.is_none() {
                                let (taken, left) = store.take_waiting::<I, T, E>(most);
                                if left {
                                    tokio::spawn(store.clone().submit_together(run));
                                }
                                *holds = Some(taken);
                            }
                            holds
                                .as_ref()
                                .map(|(items, _)| items.clone())
                                .unwrap_or_default()
                        };
                        run(&mut *tx, &items).await
                    })
                })
                .await;
            // Never ran (the batch did not start): the list is still waiting.
            let replies = match taken.lock().unwrap_or_else(|e| e.into_inner()).take() {
                Some((_, replies)) => replies,
                None => (self.take_waiting::<I, T, E>(usize::MAX).0).1,
            };
            match outcome {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(_) => {
                    for reply in replies {
                        let _ = reply.send(Err(not_committed().into()));
                    }
                }
            }
        })
    }

    /// Takes at most `most` waiting changes of a kind; whether some were
    /// left waiting (they need a change of their own).
    fn take_waiting<I, T, E>(&self, most: usize) -> (Taken<I, T, E>, bool)
    where
        I: Send + Sync + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut together = self.write_batches.waiting();
        let key = TypeId::of::<Waiting<I, T, E>>();
        let mut list = Waiting::<I, T, E>::new();
        let mut left = false;
        if let Some(waiting) = together
            .get_mut(&key)
            .and_then(|l| l.downcast_mut::<Waiting<I, T, E>>())
        {
            if waiting.len() > most {
                list = waiting.drain(..most).collect();
                left = true;
            } else {
                list = std::mem::take(waiting);
            }
        }
        if !left {
            together.remove(&key);
        }
        let (items, replies) = list.into_iter().unzip();
        ((Arc::new(items), replies), left)
    }
}

/// Waiting changes taken to run: what they are, and whom to answer.
type Taken<I, T, E> = (Arc<Vec<I>>, Vec<oneshot::Sender<Result<T, E>>>);

impl WriteBatches {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Box<dyn Any + Send>>> {
        self.together.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The queue's sender, starting the workers on first use (and again
    /// should they have stopped).
    fn sender(&self, store: &Store) -> mpsc::Sender<Job> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sender) = queue.as_ref().filter(|s| !s.is_closed()) {
            return sender.clone();
        }
        let (sender, receiver) = mpsc::channel(4 * batch_changes(store.backend));
        let receiver = Arc::new(tokio::sync::Mutex::new(receiver));
        // The workers' store has a queue of its own (never used), so the
        // workers stop once every other handle on the store is gone.
        let worker_store = Store {
            write_batches: WriteBatches::default(),
            ..store.clone()
        };
        // SQLite admits one writer: a second batch would only wait for the
        // lock. PostgreSQL runs writes side by side and pays a round trip per
        // statement: serializing them costs more than commits save, so it
        // gets a worker per concurrent write the pool can spare (half of it;
        // the rest serves reads) and batches form only beyond that.
        let workers = match store.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => (store.pool.options().get_max_connections() / 2).max(1),
        };
        for _ in 0..workers {
            tokio::spawn(run_batches(worker_store.clone(), receiver.clone()));
        }
        *queue = Some(sender.clone());
        sender
    }
}

async fn run_batches(store: Store, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let most = batch_changes(store.backend);
    loop {
        let jobs = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < most {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        run_batch(&store, jobs).await;
    }
}

/// One transaction over `jobs`, a savepoint each, then one more for those
/// to run again, until none is left.
async fn run_batch(store: &Store, mut jobs: Vec<Job>) {
    while !jobs.is_empty() {
        jobs = run_transaction(store, jobs).await;
    }
}

/// One transaction over `jobs`; returns the changes to run again. A job
/// dropped without delivering (the transaction could not start, or broke)
/// answers `not_committed`.
async fn run_transaction(store: &Store, jobs: Vec<Job>) -> Vec<Job> {
    let mut again = Vec::new();
    let mut tx = match store.write_tx().await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::warn!(error = %e, "a write batch could not start");
            return again;
        }
    };
    let mut committed = Vec::with_capacity(jobs.len());
    // One statement per change: a change that succeeded is kept by opening
    // the next savepoint over it (they nest; the commit ends them all); one
    // that failed is undone back to its own, which stays open for the next.
    // A change alone needs none: the transaction is its savepoint.
    let alone = jobs.len() == 1;
    let mut savepoint = None;
    for job in jobs {
        if savepoint.is_none() && !alone {
            match tx.savepoint("batched_change").await {
                Ok(opened) => savepoint = Some(opened),
                Err(e) => {
                    tracing::warn!(error = %e, "a write batch broke");
                    return Vec::new();
                }
            }
        }
        let failed = match job(&mut tx).await {
            Ran::Done(true, deliver) => {
                committed.push(deliver);
                savepoint = None;
                continue;
            }
            Ran::Done(false, deliver) => Some(deliver),
            Ran::Again(job) => {
                again.push(job);
                None
            }
        };
        let Some(open) = &savepoint else {
            // Alone: the transaction was its savepoint.
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "a batched write did not roll back");
            }
            if let Some(deliver) = failed {
                deliver();
            }
            return again;
        };
        // Its events go with its savepoint, which stays open for the next.
        if let Err(e) = tx.rollback_to(open).await {
            tracing::warn!(error = %e, "a write batch broke");
            return Vec::new();
        }
        if let Some(deliver) = failed {
            deliver();
        }
    }
    match tx.commit().await {
        Ok(()) => committed.into_iter().for_each(|deliver| deliver()),
        Err(e) => tracing::warn!(error = %e, "a write batch did not commit"),
    }
    again
}
