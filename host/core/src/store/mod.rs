//! The storage port: the only thing levee asks of a backend. Five operations (and batch forms
//! of two) so that the same core runs on redb, Redis and Spin's key-value stores, and one a
//! backend may offer: an atomic conditional batch (`commit_batch`).
//!
//! Lists (queues, the ledger) are explicit index records, sequence numbers come from
//! `increment`, and every concurrent update goes through `compare_and_swap`.

pub mod redis_scripts;
mod staged;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use self::staged::Staged;

/// A backend failed to answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or timed out: worth retrying later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with something levee cannot use.
    #[error("store error: {0}")]
    Backend(String),
}

/// A key-value store with atomic compare-and-swap and increment.
///
/// Semantics every backend must keep exactly:
/// - `get` of an absent key is `Ok(None)`; `delete` of an absent key succeeds.
/// - `compare_and_swap(key, current, new)` writes `new` only if the stored value equals
///   `current` byte for byte, where `None` means "the key is absent" (so `None` is an atomic
///   insert-if-absent). It returns `Ok(true)` if it wrote and `Ok(false)` if the stored value
///   differed: a lost race, never an error.
/// - `increment(key, delta)` treats an absent key as 0, stores the result and returns it. It is
///   atomic. levee reads a counter only through `increment`, so its stored form is the
///   backend's: ASCII decimal here, in redb and in Redis (`INCRBY`); 8 little-endian bytes in
///   Spin's SQLite store.
/// - A successful `set`, `compare_and_swap` or `increment` is visible to every reader at once,
///   and durable once `sync` has returned after it. A backend may make each write durable
///   before it returns (then `sync` has nothing to do), or make writes durable in groups (redb:
///   group commit). Either way a crash keeps a prefix of the writes in the order they were
///   made, never a later write without an earlier one. Whoever acknowledges a write to the
///   outside world calls `sync` first: `api::handle` for every request but a read, the
///   schedule after each run, the outbox before it sends.
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError>;
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;

    /// Reads several keys; the answer is in the order asked. Not atomic across keys.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Writes several keys. Not atomic across keys.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        entries.iter().try_for_each(|(key, value)| self.set(key, value))
    }

    /// A view of this store for one request, or one run of the schedule: the same data, with
    /// whatever the backend tracks of what that request has done (redb: the writes it made or
    /// read, which its `sync` waits for and a reopen may have lost) kept in the value returned,
    /// not in the thread or task that runs it. `None`: the backend tracks nothing per request,
    /// and the store itself serves every request. `Levee::for_request` asks for one.
    fn session(&self) -> Option<Arc<dyn Store>> {
        None
    }

    /// Returns once every write that returned before this call is durable.
    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// `sync`, for a request with others behind it: while `more_writes_coming()` says another
    /// request of this process is about to write, the store may wait for the durable commit
    /// that request's own sync makes instead of making one now, so that one flush covers the
    /// whole queue (the redb store does; elsewhere this is `sync`). It still returns only once
    /// every write before the call is durable.
    fn sync_in_turn(&self, more_writes_coming: &dyn Fn() -> bool) -> Result<(), StoreError> {
        let _ = more_writes_coming;
        self.sync()
    }

    /// Whether `commit_batch` is atomic here. Without it, levee writes a batch's keys one at a
    /// time and repairs what a failure leaves (the ledger store's settle).
    fn atomic_batches(&self) -> bool {
        false
    }

    /// Writes every key of `batch.writes` (`None`: deletes it) in one atomic step, if every key
    /// of `batch.expected` still holds the value given (`None`: absent). `Ok(false)`: one did
    /// not, and nothing was written (a lost race, never an error). Only where `atomic_batches`.
    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        let _ = batch;
        Err(StoreError::Backend("this store cannot commit a batch of writes at once".to_owned()))
    }

    /// Holds off every other writer of the store, in any process, until the next batch commits
    /// or `end_exclusive`, where the backend can do that cheaply; `Ok(false)` where it cannot.
    /// levee's commit reads and writes its ledger slot inside (`Exclusive`), so that no attempt
    /// loses a race and has to run again. Without it, concurrent commits race optimistically:
    /// fine in one process, which serializes its own commits, and for a store that many hosts
    /// share over a network (Redis), where holding it would stall them all.
    ///
    /// Spin's stores do it, the SQLite store with a write transaction and the Redis store with a
    /// hold that only orders commits: every request is its own instance with its own
    /// connection, so without it sixteen concurrent submissions race for the ledger's head and
    /// most of them read everything again.
    fn begin_exclusive(&self) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Ends what `begin_exclusive` began, if a batch has not: a write made inside it outside a
    /// batch (a hint such as the ledger's head) is kept, not undone.
    fn end_exclusive(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The store held exclusively (`Store::begin_exclusive`) until `end` or drop.
pub struct Exclusive<'a> {
    store: &'a dyn Store,
    held: bool,
}

impl<'a> Exclusive<'a> {
    pub fn take(store: &'a dyn Store) -> Result<Exclusive<'a>, StoreError> {
        let held = store.begin_exclusive()?;
        Ok(Exclusive { store, held })
    }

    /// Lets other writers in again.
    pub fn end(mut self) -> Result<(), StoreError> {
        if !std::mem::take(&mut self.held) {
            return Ok(());
        }
        self.store.end_exclusive()
    }
}

impl Drop for Exclusive<'_> {
    fn drop(&mut self) {
        if self.held
            && let Err(error) = self.store.end_exclusive()
        {
            tracing::warn!(%error, "the store's exclusive hold could not be ended cleanly");
        }
    }
}

/// Writes that are made together or not at all (`Store::commit_batch`), made by `Staged`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// What each key must hold for the batch to be written (`None`: absent).
    pub expected: Vec<(String, Option<Vec<u8>>)>,
    /// What each key will hold (`None`: deleted).
    pub writes: Vec<(String, Option<Vec<u8>>)>,
}

/// Parses a counter value written by `increment`.
pub fn parse_counter(key: &str, bytes: &[u8]) -> Result<i64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .ok_or_else(|| StoreError::Backend(format!("counter {key} does not hold an integer")))
}

/// An in-process store: the reference implementation of the port's semantics, used by unit
/// tests and by a server configured with `store = { type = "memory" }`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// A std mutex: every operation is a short map access and never awaits.
    entries: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key, sorted (for tests and tools that look inside).
    pub fn keys(&self) -> Result<Vec<String>, StoreError> {
        let mut keys: Vec<String> = self.locked()?.keys().cloned().collect();
        keys.sort();
        Ok(keys)
    }

    fn locked(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>>, StoreError> {
        self.entries.lock().map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.locked()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.locked()?.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.locked()?.remove(key);
        Ok(())
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let mut entries = self.locked()?;
        if entries.get(key).map(Vec::as_slice) != current {
            return Ok(false);
        }
        entries.insert(key.to_owned(), new.to_vec());
        Ok(true)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut entries = self.locked()?;
        let current = match entries.get(key) {
            Some(bytes) => parse_counter(key, bytes)?,
            None => 0,
        };
        let next =
            current.checked_add(delta).ok_or_else(|| StoreError::Backend(format!("counter {key} would overflow")))?;
        entries.insert(key.to_owned(), next.to_string().into_bytes());
        Ok(next)
    }

    fn atomic_batches(&self) -> bool {
        true
    }

    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        let mut entries = self.locked()?;
        if batch.expected.iter().any(|(key, expected)| entries.get(key) != expected.as_ref()) {
            return Ok(false);
        }
        for (key, value) in &batch.writes {
            match value {
                Some(value) => entries.insert(key.clone(), value.clone()),
                None => entries.remove(key),
            };
        }
        Ok(true)
    }
}

/// Contract tests every backend runs: the port's documented semantics, checked.
pub mod contract {
    use super::{Batch, Store};

    /// Runs every check against a fresh, empty store; panics naming the first that fails.
    pub fn check_store_contract(store: &dyn Store) {
        assert_eq!(store.get("absent").unwrap(), None, "get of an absent key");
        store.delete("absent").expect("delete of an absent key succeeds");

        store.set("k", b"one").unwrap();
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"one"[..]));

        assert!(!store.compare_and_swap("k", Some(b"other"), b"two").unwrap(), "CAS with a stale value loses");
        assert!(!store.compare_and_swap("k", None, b"two").unwrap(), "insert-if-absent on a present key loses");
        assert!(store.compare_and_swap("k", Some(b"one"), b"two").unwrap(), "CAS with the current value wins");
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"two"[..]));
        assert!(store.compare_and_swap("fresh", None, b"x").unwrap(), "insert-if-absent on an absent key wins");

        assert_eq!(store.increment("n", 1).unwrap(), 1, "increment of an absent key starts at 0");
        assert_eq!(store.increment("n", 41).unwrap(), 42);
        assert_eq!(store.increment("n", 0).unwrap(), 42, "an increment of 0 reads the counter");

        let keys = vec!["k".to_owned(), "absent".to_owned(), "n".to_owned()];
        let values = store.get_many(&keys).unwrap();
        assert_eq!(values[..2], [Some(b"two".to_vec()), None]);
        store.set_many(&[("a".to_owned(), b"1".to_vec()), ("b".to_owned(), b"2".to_vec())]).unwrap();
        assert_eq!(store.get("b").unwrap().as_deref(), Some(&b"2"[..]));

        store.delete("k").unwrap();
        assert_eq!(store.get("k").unwrap(), None, "deleted keys are absent");
        if store.atomic_batches() {
            check_batches(store);
        }
    }

    /// A batch is written whole if what it expects holds, and not at all otherwise.
    fn check_batches(store: &dyn Store) {
        let owned = |key: &str, value: Option<&[u8]>| (key.to_owned(), value.map(<[u8]>::to_vec));
        store.set("batch/held", b"1").unwrap();
        let stale = Batch {
            expected: vec![owned("batch/held", Some(b"1")), owned("batch/absent", None), owned("batch/held2", None)],
            writes: vec![owned("batch/new", Some(b"n"))],
        };
        store.set("batch/held2", b"raced").unwrap();
        assert!(!store.commit_batch(&stale).unwrap(), "a batch whose expectation changed loses");
        assert_eq!(store.get("batch/new").unwrap(), None, "a lost batch writes nothing");
        let fresh = Batch {
            expected: vec![owned("batch/held", Some(b"1")), owned("batch/absent", None)],
            writes: vec![owned("batch/new", Some(b"n")), owned("batch/held", Some(b"2")), owned("batch/held2", None)],
        };
        assert!(store.commit_batch(&fresh).unwrap(), "a batch whose expectations hold is written");
        let keys = ["batch/new", "batch/held", "batch/held2"].map(str::to_owned);
        assert_eq!(store.get_many(&keys).unwrap(), [Some(b"n".to_vec()), Some(b"2".to_vec()), None]);
    }
}

/// A record as the store keeps it: JSON.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Backend(format!("cannot encode a record: {error}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_store_keeps_the_contract() {
        super::contract::check_store_contract(&super::MemoryStore::new());
    }
}
