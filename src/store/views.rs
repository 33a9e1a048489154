//! Reads remembered in this process, each tagged with a version kept in the
//! cache (so shared by every instance) that was current before it was read.
//! Every commit that can change what such a read answers moves its version
//! on (`Tx::commit`), so a view whose tag is no longer current is read
//! again: exact at the very next request, as long as every instance writing
//! shares the cache. Members (`Store::member`, per organization) and
//! integrations (`Store::integration`, read by every SCIM request and every
//! sign-in) are remembered this way.

use std::collections::BTreeSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::StoreResult;
use crate::cache::Cache;

/// The longest a remembered read is served without a fresh one. Not what
/// keeps views right — the version does that, at the very next request —
/// but the backstop for a version a commit could not move (the cache
/// unreachable from the writing instance just then): its change shows on
/// every instance within this.
pub(super) const VIEW_MAX_AGE: Duration = Duration::from_secs(5);

/// The versions views are tagged with, in the cache every instance shares.
#[derive(Clone)]
pub(super) struct Versions {
    cache: Cache,
    /// Version keys a commit could not move: moved with the next commit's,
    /// until then covered by the views' `max_age`.
    unmoved: Arc<Mutex<BTreeSet<String>>>,
}

impl Versions {
    pub(super) fn new(cache: Cache) -> Self {
        Versions {
            cache,
            unmoved: Arc::default(),
        }
    }

    /// The current version under `key`, read before the value so that a
    /// write committed meanwhile leaves the view tagged out of date.
    /// `None` when the cache cannot say: the caller reads the database and
    /// remembers nothing.
    pub(super) async fn version(&self, key: &str) -> Option<u64> {
        match self.cache.version(key).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "read fresh: no version");
                None
            }
        }
    }

    /// Moves on the versions under `keys` and any a previous commit could
    /// not move. Only after the commit: a bump before it would let another
    /// instance read the old rows under the new version, so it would not
    /// spare the bump after, and a failed bump must not undo a commit.
    pub(super) async fn move_on(&self, mut keys: BTreeSet<String>) {
        keys.append(&mut self.unmoved.lock().unwrap_or_else(PoisonError::into_inner));
        let mut failed = BTreeSet::new();
        for key in keys {
            if let Err(e) = self.cache.bump_version(&key).await {
                tracing::warn!(key, error = %e, "a committed change could not move its version; other instances see it within {} s", VIEW_MAX_AGE.as_secs());
                failed.insert(key);
            }
        }
        if !failed.is_empty() {
            self.unmoved
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .append(&mut failed);
        }
    }
}

/// Reads of one kind, by key, each as of a version.
#[derive(Clone)]
pub(super) struct Views<K, V> {
    views: moka::sync::Cache<K, View<V>>,
    max_age: Duration,
}

/// One read as made at `version`. Requests that miss together share the
/// one read (`read` is filled once): a version moving under load costs one
/// database read, not one per request in flight.
#[derive(Clone)]
struct View<V> {
    version: u64,
    read_at: Instant,
    read: Arc<tokio::sync::OnceCell<V>>,
}

impl<V> View<V> {
    fn current(&self, version: u64, max_age: Duration) -> bool {
        self.version == version && self.read_at.elapsed() < max_age
    }
}

impl<K, V> Views<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(capacity: u64, max_age: Duration) -> Self {
        Views {
            views: moka::sync::Cache::builder().max_capacity(capacity).build(),
            max_age,
        }
    }

    /// The value of `key` as remembered at `version`, or as `query` reads
    /// it now (once for all who ask at that version meanwhile). A row gone
    /// is remembered as gone, until the version moves.
    pub(super) async fn read<F>(
        &self,
        key: K,
        version: u64,
        query: impl FnOnce() -> F,
    ) -> StoreResult<V>
    where
        F: std::future::Future<Output = StoreResult<V>>,
    {
        let view = match self.views.get(&key) {
            Some(view) if view.current(version, self.max_age) => view,
            _ => self.view_at(key, version),
        };
        view.read.get_or_try_init(query).await.cloned()
    }

    /// The view of `key` at `version`: the one there when current, else a
    /// new one to read, put there in one step so that concurrent misses
    /// find the same.
    fn view_at(&self, key: K, version: u64) -> View<V> {
        use moka::ops::compute::{CompResult, Op};
        let fresh = || View {
            version,
            read_at: Instant::now(),
            read: Arc::default(),
        };
        let result = self.views.entry(key).and_compute_with(|current| {
            match current.map(|e| e.into_value()) {
                Some(view) if view.current(version, self.max_age) => Op::Nop,
                _ => Op::Put(fresh()),
            }
        });
        match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e) => {
                e.into_value()
            }
            // Not produced by the closure above (it neither removes nor
            // leaves a key absent); an unshared read is still right.
            CompResult::StillNone(_) | CompResult::Removed(_) => fresh(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests that miss at one version share a single database read;
    /// a moved version reads again.
    #[tokio::test]
    async fn requests_missing_together_share_one_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let views: Views<(String, String), Option<String>> = Views::new(100, VIEW_MAX_AGE);
        let key = || ("org-1".to_string(), "user-1".to_string());
        let reads = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..16)
            .map(|_| {
                let (views, reads) = (views.clone(), reads.clone());
                tokio::spawn(async move {
                    views
                        .read(key(), 7, || async move {
                            reads.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Ok(None)
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for r in readers {
            assert!(r.await.unwrap().is_none());
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let again = reads.clone();
        views
            .read(key(), 8, || async move {
                again.fetch_add(1, Ordering::SeqCst);
                Ok(None)
            })
            .await
            .unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }
}
