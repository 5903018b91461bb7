//! The embedded store: redb, one table of string keys and byte values in one file.
//!
//! Every write is its own redb transaction, so compare-and-swap and increment (which read and
//! write inside one) are atomic: redb runs one write transaction at a time. Writes commit
//! without waiting for the disk (`Durability::None`) and are made durable in groups by `sync`:
//! one durable commit, with one fsync, covers every write before it, however many requests made
//! them (group commit). redb persists commits in order, so a crash keeps a prefix of the writes.

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use anyhow::Context;
use levee_core::store::{Store, StoreError, parse_counter};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

/// A redb database file.
pub struct RedbStore {
    db: Database,
    commits: GroupCommit,
}

/// How far writes are made, and how far they are durable, counted in commits.
#[derive(Default)]
struct CommitCount {
    written: u64,
    durable: u64,
    /// A durable commit is under way; others wait for it rather than start their own.
    syncing: bool,
}

/// The group commit's bookkeeping: `sync` callers wait on `synced` while one of them commits.
#[derive(Default)]
struct GroupCommit {
    count: Mutex<CommitCount>,
    synced: Condvar,
}

impl RedbStore {
    /// Opens (or creates) the database at `path`, creating its directory.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
        }
        let db = Database::create(path).with_context(|| {
            format!("open the store {} (is another levee using it? stop it, or use its HTTP API)", path.display())
        })?;
        let store = RedbStore { db, commits: GroupCommit::default() };
        store.write(|_| Ok(())).and_then(|()| store.sync()).context("initialise the store")?;
        Ok(store)
    }

    /// Runs `change` on the table inside one write transaction, committed without waiting for
    /// the disk; `sync` makes it durable.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn: WriteTransaction = self.db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::None).map_err(backend)?;
        let result = {
            let mut table = txn.open_table(RECORDS).map_err(backend)?;
            change(&mut table)?
        };
        txn.commit().map_err(backend)?;
        self.counted()?.written += 1;
        Ok(result)
    }

    fn counted(&self) -> Result<MutexGuard<'_, CommitCount>, StoreError> {
        self.commits.count.lock().map_err(|_| StoreError::Backend("redb commit count lock poisoned".into()))
    }

    /// One durable (empty) commit: redb persists every commit before it with it.
    fn durable_commit(&self) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(backend)?;
        txn.set_durability(Durability::Immediate).map_err(backend)?;
        txn.commit().map_err(backend)
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        if let Err(error) = self.sync() {
            tracing::error!(%error, "the last writes could not be made durable");
        }
    }
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("redb: {error}"))
}

fn read_value(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table.get(key).map_err(backend)?.map(|value| value.value().to_vec()))
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(RECORDS).map_err(backend)?;
        read_value(&table, key)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let txn = self.db.begin_read().map_err(backend)?;
        let table = txn.open_table(RECORDS).map_err(backend)?;
        keys.iter().map(|key| read_value(&table, key)).collect()
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(|table| table.insert(key, value).map(|_| ()).map_err(backend))
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        self.write(|table| {
            entries
                .iter()
                .try_for_each(|(key, value)| table.insert(key.as_str(), value.as_slice()).map(|_| ()).map_err(backend))
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write(|table| table.remove(key).map(|_| ()).map_err(backend))
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.write(|table| {
            if read_value(table, key)?.as_deref() != current {
                return Ok(false);
            }
            table.insert(key, new).map_err(backend)?;
            Ok(true)
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.write(|table| {
            let current = match read_value(table, key)? {
                Some(bytes) => parse_counter(key, &bytes)?,
                None => 0,
            };
            let next = current
                .checked_add(delta)
                .ok_or_else(|| StoreError::Backend(format!("counter {key} would overflow")))?;
            table.insert(key, next.to_string().as_bytes()).map_err(backend)?;
            Ok(next)
        })
    }

    /// Waits until a durable commit covers every write made before this call: joins the one
    /// under way if it started late enough, or makes one for everyone waiting.
    fn sync(&self) -> Result<(), StoreError> {
        let mut count = self.counted()?;
        let needed = count.written;
        loop {
            if count.durable >= needed {
                return Ok(());
            }
            if !count.syncing {
                count.syncing = true;
                let target = count.written;
                drop(count);
                let committed = self.durable_commit();
                count = self.counted()?;
                count.syncing = false;
                if committed.is_ok() {
                    count.durable = count.durable.max(target);
                }
                self.commits.synced.notify_all();
                committed?;
                continue;
            }
            count = self
                .commits
                .synced
                .wait(count)
                .map_err(|_| StoreError::Backend("redb commit count lock poisoned".into()))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use levee_core::store::Store;

    #[test]
    fn synced_writes_survive_reopening_and_concurrent_syncs_share_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("levee.redb");
        let store = std::sync::Arc::new(super::RedbStore::open(&path).unwrap());
        let writers: Vec<_> = (0..8)
            .map(|writer| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for round in 0..50 {
                        store.set(&format!("w{writer}/{round}"), b"v").unwrap();
                        store.sync().unwrap();
                    }
                })
            })
            .collect();
        writers.into_iter().for_each(|writer| writer.join().unwrap());
        let count = store.commits.count.lock().unwrap();
        assert_eq!((count.written, count.durable), (401, 401), "every write counted and made durable");
        drop(count);
        drop(store);
        let reopened = super::RedbStore::open(&path).unwrap();
        assert_eq!(reopened.get("w7/49").unwrap().as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn redb_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::RedbStore::open(&dir.path().join("levee.redb")).unwrap();
        levee_core::store::contract::check_store_contract(&store);
    }
}
