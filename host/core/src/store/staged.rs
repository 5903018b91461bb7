//! Writes staged over a store, to be written all at once: reads see the staged writes first,
//! then the store; compare-and-swap and increment are decided against what a read sees, so code
//! written for the port (the ledger store's commits, the projections) runs on a `Staged` unchanged.
//! Nothing reaches the store until the stage is handed over:
//!
//! - `into_batch` makes a `Batch` for `Store::commit_batch`: the staged writes, and the value
//!   each key read held when it was first read. A backend with atomic batches writes all of it,
//!   or nothing if any of those keys has changed since. The ledger store commits a ledger slot and
//!   every projection of it this way, so a failed write never leaves a slot without them.
//! - `flush` writes the staged keys in one `set_many`, unconditionally: the demo seeder plays
//!   months of history on a stage and pays one durable transaction for all of it.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Mutex, MutexGuard};

use super::{Batch, Store, StoreError, parse_counter};

/// Staged writes (`None`: deleted) over the store `base` they are meant for.
pub struct Staged<B> {
    base: B,
    stage: Mutex<Stage>,
}

#[derive(Default)]
struct Stage {
    /// What each key held in the store when it was first read, before any staged write to it.
    read: HashMap<String, Option<Vec<u8>>>,
    /// What each written key will hold.
    written: HashMap<String, Option<Vec<u8>>>,
    /// Values fetched ahead (`Staged::prefetch`), not yet read: a key joins `read` (and the
    /// batch's expectations) only once something reads it.
    fetched: HashMap<String, Option<Vec<u8>>>,
}

impl Stage {
    /// What a read sees: the staged write, or the store's value (remembered as read).
    fn view(&mut self, base: &(impl Store + ?Sized), key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(staged) = self.written.get(key) {
            return Ok(staged.clone());
        }
        if let Some(read) = self.read.get(key) {
            return Ok(read.clone());
        }
        let stored = match self.fetched.remove(key) {
            Some(fetched) => fetched,
            None => base.get(key)?,
        };
        self.read.insert(key.to_owned(), stored.clone());
        Ok(stored)
    }
}

impl<B> Staged<B>
where
    B: Deref,
    B::Target: Store,
{
    pub fn over(base: B) -> Self {
        Staged { base, stage: Mutex::new(Stage::default()) }
    }

    /// Fetches `keys` in one `get_many`, for the reads to come: a store that answers each read
    /// in a round trip (Spin's SQLite database, Redis) answers them all in one. A key fetched
    /// and never read changes nothing (it is not among the batch's expectations).
    pub fn prefetch(&self, keys: impl IntoIterator<Item = String>) -> Result<(), StoreError> {
        let mut stage = self.stage();
        let mut wanted: Vec<String> = keys
            .into_iter()
            .filter(|key| {
                !stage.read.contains_key(key) && !stage.written.contains_key(key) && !stage.fetched.contains_key(key)
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        let values = self.base.get_many(&wanted)?;
        stage.fetched.extend(wanted.into_iter().zip(values));
        Ok(())
    }

    fn stage(&self) -> MutexGuard<'_, Stage> {
        self.stage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The staged writes, conditional on every key read still holding what it held, in key
    /// order.
    pub fn into_batch(self) -> Batch {
        let stage = self.stage.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut batch =
            Batch { expected: stage.read.into_iter().collect(), writes: stage.written.into_iter().collect() };
        batch.expected.sort_by(|a, b| a.0.cmp(&b.0));
        batch.writes.sort_by(|a, b| a.0.cmp(&b.0));
        batch
    }

    /// Writes every staged key to the store (whatever it holds now) in one `set_many`, then
    /// the deletions; returns how many keys.
    pub fn flush(&self) -> Result<usize, StoreError> {
        let mut staged: Vec<(String, Option<Vec<u8>>)> = self.stage().written.drain().collect();
        staged.sort_by(|a, b| a.0.cmp(&b.0));
        let (writes, deletes): (Vec<_>, Vec<_>) = staged.into_iter().partition(|(_, value)| value.is_some());
        let writes: Vec<(String, Vec<u8>)> =
            writes.into_iter().filter_map(|(key, value)| value.map(|value| (key, value))).collect();
        self.base.set_many(&writes)?;
        for (key, _) in &deletes {
            self.base.delete(key)?;
        }
        Ok(writes.len() + deletes.len())
    }
}

impl<B> Store for Staged<B>
where
    B: Deref + Send + Sync,
    B::Target: Store,
{
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.stage().view(&*self.base, key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.stage().written.insert(key.to_owned(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.stage().written.insert(key.to_owned(), None);
        Ok(())
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        // The lock is held across the read and the write, so the swap is atomic on the stage.
        let mut stage = self.stage();
        if stage.view(&*self.base, key)?.as_deref() != current {
            return Ok(false);
        }
        stage.written.insert(key.to_owned(), Some(new.to_vec()));
        Ok(true)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let mut stage = self.stage();
        let stored = stage.view(&*self.base, key)?;
        let current = stored.map(|bytes| parse_counter(key, &bytes)).transpose()?.unwrap_or(0);
        let next =
            current.checked_add(delta).ok_or_else(|| StoreError::Backend(format!("counter {key} would overflow")))?;
        stage.written.insert(key.to_owned(), Some(next.to_string().into_bytes()));
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn a_stage_keeps_the_store_contract_and_writes_nothing_until_flushed() {
        let base: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let staged = Staged::over(base.clone());
        crate::store::contract::check_store_contract(&staged);
        staged.set("seeded", b"yes").unwrap();
        assert_eq!(base.get("seeded").unwrap(), None);
        staged.flush().unwrap();
        assert_eq!(base.get("seeded").unwrap().as_deref(), Some(&b"yes"[..]));
    }

    #[test]
    fn a_batch_expects_what_was_first_read_and_writes_what_was_staged_last() {
        let base = MemoryStore::new();
        base.set("read", b"before").unwrap();
        let staged = Staged::over(&base as &dyn Store);
        assert!(staged.compare_and_swap("read", Some(b"before"), b"after").unwrap());
        assert!(staged.compare_and_swap("slot", None, b"claimed").unwrap());
        staged.set("blind", b"x").unwrap();
        let batch = staged.into_batch();
        let owned = |key: &str, value: Option<&[u8]>| (key.to_owned(), value.map(<[u8]>::to_vec));
        assert_eq!(batch.expected, [owned("read", Some(b"before")), owned("slot", None)]);
        assert_eq!(
            batch.writes,
            [owned("blind", Some(b"x")), owned("read", Some(b"after")), owned("slot", Some(b"claimed"))]
        );
    }

    /// Prefetched values answer reads as the store did when fetched; a key fetched but never
    /// read is not among the batch's expectations, so it cannot make the batch lose a race.
    #[test]
    fn a_prefetched_key_is_expected_only_once_read() {
        let base = MemoryStore::new();
        base.set("used", b"then").unwrap();
        base.set("unused", b"then").unwrap();
        let staged = Staged::over(&base as &dyn Store);
        staged.prefetch(["used".to_owned(), "unused".to_owned(), "absent".to_owned()]).unwrap();
        base.set("used", b"later").unwrap();
        assert_eq!(staged.get("used").unwrap().as_deref(), Some(&b"then"[..]), "read as fetched");
        assert_eq!(staged.get("absent").unwrap(), None);
        let batch = staged.into_batch();
        let owned = |key: &str, value: Option<&[u8]>| (key.to_owned(), value.map(<[u8]>::to_vec));
        assert_eq!(batch.expected, [owned("absent", None), owned("used", Some(b"then"))]);
    }
}
