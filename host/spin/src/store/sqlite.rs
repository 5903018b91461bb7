//! The store on Spin's SQLite database `default` (`fermyon:spin/sqlite@2.0.0`): one table,
//! `levee_kv`, of keys and values. Every port operation is one SQL statement, which SQLite runs
//! atomically; a batch is one `BEGIN IMMEDIATE` transaction.
//!
//! Spin opens a connection of its own for each `open` (one per request: Spin makes an instance
//! per request), so a transaction is this request's alone; an instance that dies mid-way closes
//! its connection and SQLite rolls the transaction back. A writer waits up to
//! `BUSY_TIMEOUT_MS` for another's transaction, then the request answers 503.
//!
//! Durability: the database runs in WAL mode. A batch (the journal's commit: a ledger slot with
//! its projections) commits with `synchronous = FULL`, so the write-ahead log is on disk when it
//! returns, and with it every write made before it, by any request (the log is one file, written
//! in order). Lone writes (the case counter, say) commit with `synchronous = NORMAL`, without a
//! flush of their own; `sync`, which runs before anything is acknowledged, flushes the log if a
//! lone write was made since this request's last durable commit.

use std::sync::atomic::{AtomicBool, Ordering};

use levee_core::store::{Batch, Store, StoreError};
use spin_sdk::sqlite::{Connection, Error, QueryResult, Value};

use super::SingleThreaded;

/// The database spin.toml grants the component (`sqlite_databases`).
pub const DATABASE: &str = "default";

/// How long a write waits for another request's transaction before giving up (503).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// The most keys one `IN (…)` list names (SQLite allows 32,766 parameters).
const KEYS_PER_STATEMENT: usize = 500;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS levee_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";

/// A key written only to make `sync` flush the log.
const SYNC_KEY: &str = "store/sync";

pub struct SqliteStore {
    connection: SingleThreaded<Connection>,
    /// A lone write was made since this connection's last durable commit.
    unflushed: AtomicBool,
}

impl SqliteStore {
    pub fn open() -> Result<SqliteStore, StoreError> {
        let connection = Connection::open(DATABASE).map_err(|error| store_error("open the database", error))?;
        let store = SqliteStore { connection: SingleThreaded(connection), unflushed: AtomicBool::new(false) };
        store.run(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"), &[])?;
        store.run("PRAGMA synchronous = NORMAL", &[])?;
        // A new database gets its table and WAL mode (which the file keeps) once.
        if store.run("SELECT 1 FROM levee_kv LIMIT 0", &[]).is_err() {
            store.run("PRAGMA journal_mode = WAL", &[])?;
            store.run(SCHEMA, &[])?;
        }
        Ok(store)
    }

    /// Runs `work` with `synchronous = FULL`: a commit it makes is on disk, with every write
    /// before it. `flushed` says from its outcome whether it committed (a rollback flushes
    /// nothing), and so whether no lone write is left unflushed.
    fn durably<T>(
        &self,
        work: impl FnOnce() -> Result<T, StoreError>,
        flushed: impl Fn(&T) -> bool,
    ) -> Result<T, StoreError> {
        self.run("PRAGMA synchronous = FULL", &[])?;
        let outcome = work();
        let restored = self.run("PRAGMA synchronous = NORMAL", &[]);
        let outcome = outcome?;
        restored?;
        if flushed(&outcome) {
            self.unflushed.store(false, Ordering::SeqCst);
        }
        Ok(outcome)
    }

    /// A write outside a batch: committed, not yet flushed.
    fn lone_write(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, StoreError> {
        self.unflushed.store(true, Ordering::SeqCst);
        self.run(statement, parameters)
    }

    fn run(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, StoreError> {
        self.connection.0.execute(statement, parameters).map_err(|error| store_error(statement, error))
    }

    /// Whether a write ending in `RETURNING 1` changed a row.
    fn changed(&self, statement: &str, parameters: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.lone_write(statement, parameters)?.rows.is_empty())
    }

    /// The stored values of `keys`, in any order, as (key, value).
    fn values_of(&self, keys: &[&str]) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let statement = format!("SELECT key, value FROM levee_kv WHERE key IN ({})", placeholders(chunk.len()));
            let parameters: Vec<Value> = chunk.iter().map(|key| text(key)).collect();
            for row in self.run(&statement, &parameters)?.rows {
                let mut values = row.values.into_iter();
                if let (Some(Value::Text(key)), Some(value)) = (values.next(), values.next()) {
                    let value = bytes_of(&key, value)?;
                    found.push((key, value));
                }
            }
        }
        Ok(found)
    }

    fn write_all(&self, writes: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        let sets: Vec<(&str, &[u8])> =
            writes.iter().filter_map(|(key, value)| value.as_deref().map(|value| (key.as_str(), value))).collect();
        for chunk in sets.chunks(KEYS_PER_STATEMENT) {
            let rows = vec!["(?, ?)"; chunk.len()].join(", ");
            let statement = format!(
                "INSERT INTO levee_kv (key, value) VALUES {rows} ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            );
            let parameters: Vec<Value> =
                chunk.iter().flat_map(|(key, value)| [text(key), Value::Blob(value.to_vec())]).collect();
            self.lone_write(&statement, &parameters)?;
        }
        let deletes: Vec<&str> =
            writes.iter().filter(|(_, value)| value.is_none()).map(|(key, _)| key.as_str()).collect();
        for chunk in deletes.chunks(KEYS_PER_STATEMENT) {
            let statement = format!("DELETE FROM levee_kv WHERE key IN ({})", placeholders(chunk.len()));
            self.lone_write(&statement, &chunk.iter().map(|key| text(key)).collect::<Vec<_>>())?;
        }
        Ok(())
    }

    /// Checks and writes a batch inside the transaction `commit_batch` opened.
    fn check_and_write(&self, batch: &Batch) -> Result<bool, StoreError> {
        let keys: Vec<&str> = batch.expected.iter().map(|(key, _)| key.as_str()).collect();
        let stored = self.values_of(&keys)?;
        let holds = batch.expected.iter().all(|(key, expected)| {
            stored.iter().find(|(stored_key, _)| stored_key == key).map(|(_, value)| value) == expected.as_ref()
        });
        if !holds {
            return Ok(false);
        }
        self.write_all(&batch.writes)?;
        Ok(true)
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self.run("SELECT value FROM levee_kv WHERE key = ?", &[text(key)])?;
        match result.rows.into_iter().next().and_then(|row| row.values.into_iter().next()) {
            Some(value) => bytes_of(key, value).map(Some),
            None => Ok(None),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let asked: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut found = self.values_of(&asked)?;
        Ok(keys
            .iter()
            .map(|key| found.iter().position(|(stored, _)| stored == key).map(|index| found.swap_remove(index).1))
            .collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write_all(&[(key.to_owned(), Some(value.to_vec()))])
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        let writes: Vec<(String, Option<Vec<u8>>)> =
            entries.iter().map(|(key, value)| (key.clone(), Some(value.clone()))).collect();
        self.write_all(&writes)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.write_all(&[(key.to_owned(), None)])
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        match current {
            None => self.changed(
                "INSERT INTO levee_kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING RETURNING 1",
                &[text(key), Value::Blob(new.to_vec())],
            ),
            Some(current) => self.changed(
                "UPDATE levee_kv SET value = ? WHERE key = ? AND value = ? RETURNING 1",
                &[Value::Blob(new.to_vec()), text(key), Value::Blob(current.to_vec())],
            ),
        }
    }

    /// Counters are ASCII decimal, as on every other backend.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let result = self.lone_write(
            "INSERT INTO levee_kv (key, value) VALUES (?1, CAST(?2 AS TEXT)) \
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(CAST(value AS TEXT) AS INTEGER) + ?2 AS TEXT) \
             RETURNING CAST(CAST(value AS TEXT) AS INTEGER)",
            &[text(key), Value::Integer(delta)],
        )?;
        match result.rows.into_iter().next().and_then(|row| row.values.into_iter().next()) {
            Some(Value::Integer(value)) => Ok(value),
            other => Err(StoreError::Backend(format!("counter {key}: the database answered {other:?}"))),
        }
    }

    fn atomic_batches(&self) -> bool {
        true
    }

    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        self.durably(
            || {
                self.run("BEGIN IMMEDIATE", &[])?;
                let outcome = self.check_and_write(batch);
                match outcome {
                    Ok(true) => match self.run("COMMIT", &[]) {
                        Ok(_) => Ok(true),
                        Err(error) => {
                            let _ = self.run("ROLLBACK", &[]);
                            Err(error)
                        }
                    },
                    Ok(false) | Err(_) => {
                        let _ = self.run("ROLLBACK", &[]);
                        outcome
                    }
                }
            },
            |committed| *committed,
        )
    }

    /// Flushes the log if a lone write was made since the last durable commit: a durable write
    /// of `SYNC_KEY` flushes everything before it.
    fn sync(&self) -> Result<(), StoreError> {
        if !self.unflushed.load(Ordering::SeqCst) {
            return Ok(());
        }
        self.durably(
            || {
                self.run(
                    "INSERT INTO levee_kv (key, value) VALUES (?1, x'01') \
                 ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(CAST(value AS TEXT) AS INTEGER) + 1 AS TEXT)",
                    &[text(SYNC_KEY)],
                )
                .map(|_| ())
            },
            |_| true,
        )
    }
}

fn text(key: &str) -> Value {
    Value::Text(key.to_owned())
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// A stored value's bytes (counters come back as text).
fn bytes_of(key: &str, value: Value) -> Result<Vec<u8>, StoreError> {
    match value {
        Value::Blob(bytes) => Ok(bytes),
        Value::Text(text) => Ok(text.into_bytes()),
        Value::Integer(number) => Ok(number.to_string().into_bytes()),
        other => Err(StoreError::Backend(format!("{key}: the database holds {other:?}, not bytes"))),
    }
}

fn store_error(what: &str, error: Error) -> StoreError {
    match error {
        Error::NoSuchDatabase => StoreError::Backend(format!(
            "{what}: Spin has no SQLite database named {DATABASE} (a runtime config that names another database must also define `default`)"
        )),
        Error::AccessDenied => StoreError::Backend(format!(
            "{what}: the SQLite database {DATABASE} is not granted to the component: list it in `sqlite_databases` in spin.toml"
        )),
        Error::DatabaseFull => StoreError::Unavailable(format!("{what}: the SQLite database is full")),
        Error::InvalidConnection => StoreError::Unavailable(format!("{what}: the database connection was lost")),
        Error::Io(message) => StoreError::Unavailable(format!("{what}: {message}")),
    }
}
