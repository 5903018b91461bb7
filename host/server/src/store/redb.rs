//! The embedded store: redb, one table of string keys and byte values in one file. Every write
//! is its own durable transaction; compare-and-swap and increment read and write inside one
//! write transaction, and redb runs one write transaction at a time, so both are atomic.

use std::path::Path;

use anyhow::Context;
use levee_core::store::{Store, StoreError, parse_counter};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

/// A redb database file.
pub struct RedbStore {
    db: Database,
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
        let store = RedbStore { db };
        store.write(|_| Ok(())).context("initialise the store")?;
        Ok(store)
    }

    /// Runs `change` on the table inside one durable write transaction.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn: WriteTransaction = self.db.begin_write().map_err(backend)?;
        let result = {
            let mut table = txn.open_table(RECORDS).map_err(backend)?;
            change(&mut table)?
        };
        txn.commit().map_err(backend)?;
        Ok(result)
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
}

#[cfg(test)]
mod tests {
    #[test]
    fn redb_store_keeps_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::RedbStore::open(&dir.path().join("levee.redb")).unwrap();
        levee_core::store::contract::check_store_contract(&store);
    }
}
