//! The store on Spin's SQLite database `default` (`fermyon:spin/sqlite@2.0.0`): one table,
//! `levee_kv`, of keys and values. Every port operation is one SQL statement, which SQLite runs
//! atomically; a batch is one `BEGIN IMMEDIATE` transaction.
//!
//! Spin opens a connection of its own for each `open` (one per request: Spin makes an instance
//! per request), so a transaction is this request's alone; an instance that dies mid-way closes
//! its connection and SQLite rolls the transaction back. A writer waits up to
//! `BUSY_TIMEOUT_MS` for another's transaction, then the request answers 503.
//!
//! Durability: the database runs in WAL mode with `synchronous = FULL` (or EXTRA), so every
//! commit has flushed the write-ahead log when it returns, and with it every write before it,
//! by any request. `sync` has nothing left to do. FULL is SQLite's own default and Spin 4.0.2
//! keeps it; `open` reads the setting with the records it reads ahead and sets FULL if a
//! build of Spin starts its connections lower.
//!
//! Read ahead: `open` fetches in one statement the records levee reads one by one (the
//! `read_ahead` keys: the policy registry, the taxonomy, the controls, what the runners said of
//! their files, the demo tokens), and each fetched value answers the reads of its key until the
//! request writes it (made or attempted) or a commit begins (`begin_exclusive`), as if those
//! reads had been made when the request began. Reads of every other key go to the database.
//! Nothing levee does waits for one of those records to change, and a commit reads what it
//! checks inside its own transaction, so a value read ahead never decides a write.
//!
//! Closing: the levee component keeps the connection open for `LINGER` after it has answered.
//!
//! Commits do not race: levee's commit holds the database with a write transaction
//! (`begin_exclusive`, `BEGIN IMMEDIATE`) while it reads the ledger's head and the records its
//! entry changes and writes its batch, so no attempt reads something another request changes
//! before it commits. Other writers wait (`BUSY_TIMEOUT_MS`). While the transaction is held,
//! what it read or wrote is what the database holds, so the batch's check compares its
//! expectations with those values and reads only the keys this transaction has not seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use levee_core::store::{Batch, Store, StoreError};
use spin_sdk::sqlite::{Connection, Error, QueryResult, Value};

use super::SingleThreaded;

/// The database spin.toml grants the component (`sqlite_databases`).
pub const DATABASE: &str = "default";

/// How long a write waits for another request's transaction before giving up (503).
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// How long SQLite itself waits for the database before a statement answers that it is locked:
/// short, because its waits grow to 100 ms each and leave the database idle between them.
const SQLITE_WAITS_MS: u32 = 8;

/// The longest pause between two tries at a locked database.
const PAUSE_MICROS: u64 = 3_000;

/// `PRAGMA synchronous`'s FULL: every commit flushes the write-ahead log before it returns.
const SYNCHRONOUS_FULL: i64 = 2;

/// How long the levee component keeps its connection open after answering, before it closes
/// it. Closing the last open connection to the database checkpoints the write-ahead log into
/// the database and deletes it (reads, writes, flushes and removes files), and the next request
/// makes the log again; with an instance per request, every request's close was the last one
/// at one client, and a submission's p50 went from about 5.5 ms to 8–9 ms with it
/// (BENCHMARKS.md). A request that comes while an earlier one lingers finds the database open,
/// so under steady traffic no close is the last one and the log is checkpointed as it fills
/// (SQLite's automatic checkpoints), as under a long-lived server. An idle connection holds no
/// lock: it keeps nobody waiting. 20 ms covers the gap between one answer and a client's next
/// request, and keeps few instances alive at once (about 6 at 300 requests a second).
pub const LINGER: Duration = Duration::from_millis(20);

/// The most keys one `IN (…)` list names (SQLite allows 32,766 parameters).
const KEYS_PER_STATEMENT: usize = 500;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS levee_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";

/// Stored values found, as (key, value).
type Found = Vec<(String, Vec<u8>)>;

pub struct SqliteStore {
    connection: SingleThreaded<Connection>,
    /// A write transaction `begin_exclusive` opened is open.
    exclusive: AtomicBool,
    /// Values read ahead, key → value (`None`: absent), until written or a commit begins.
    ahead: Mutex<HashMap<String, Option<Vec<u8>>>>,
    /// While `exclusive`: each key this transaction read or wrote, and its value now.
    seen: Mutex<HashMap<String, Option<Vec<u8>>>>,
}

impl SqliteStore {
    /// Opens the database and reads `read_ahead` (module docs); makes a new database's table.
    pub fn open(read_ahead: &[String]) -> Result<SqliteStore, StoreError> {
        let connection = Connection::open(DATABASE).map_err(|error| store_error("open the database", error))?;
        let store = SqliteStore {
            connection: SingleThreaded(connection),
            exclusive: AtomicBool::new(false),
            ahead: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
        };
        store.run(&format!("PRAGMA busy_timeout = {SQLITE_WAITS_MS}"), &[])?;
        let keys: Vec<&str> = read_ahead.iter().map(String::as_str).collect();
        let (found, synchronous) = match store.values_and_synchronous(&keys) {
            Ok(read) => read,
            // A new database gets its table and WAL mode (which the file keeps) once.
            Err(_) => {
                store.run("PRAGMA journal_mode = WAL", &[])?;
                store.run(SCHEMA, &[])?;
                store.values_and_synchronous(&keys)?
            }
        };
        if synchronous < SYNCHRONOUS_FULL {
            store.run("PRAGMA synchronous = FULL", &[])?;
        }
        let mut found: HashMap<String, Vec<u8>> = found.into_iter().collect();
        store.ahead().extend(read_ahead.iter().map(|key| (key.clone(), found.remove(key))));
        Ok(store)
    }

    /// Runs `statement`; while another request holds the database (SQLite waits
    /// `SQLITE_WAITS_MS` itself, sleeping), waits a random while of up to `PAUSE_MICROS` and
    /// tries again, for at most `BUSY_TIMEOUT_MS` in all.
    fn run(&self, statement: &str, parameters: &[Value]) -> Result<QueryResult, StoreError> {
        let started = Instant::now();
        loop {
            match self.connection.0.execute(statement, parameters) {
                Err(Error::Io(message))
                    if message.contains("database is locked")
                        && started.elapsed() < Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)) =>
                {
                    super::pause_randomly(PAUSE_MICROS);
                }
                outcome => return outcome.map_err(|error| store_error(statement, error)),
            }
        }
    }

    fn ahead(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Vec<u8>>>> {
        self.ahead.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Vec<u8>>>> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notes what the held transaction now knows the database holds for each key.
    fn note_seen(&self, values: impl IntoIterator<Item = (String, Option<Vec<u8>>)>) {
        if self.exclusive.load(Ordering::SeqCst) {
            self.seen().extend(values);
        }
    }

    /// Drops what was read ahead of `keys`, and what the held transaction saw of them: about to
    /// be written by a statement whose outcome this store does not track.
    fn forget<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        let (mut ahead, mut seen) = (self.ahead(), self.seen());
        for key in keys {
            ahead.remove(key);
            seen.remove(key);
        }
    }

    /// Whether a write ending in `RETURNING 1` changed a row.
    fn changed(&self, statement: &str, parameters: &[Value]) -> Result<bool, StoreError> {
        Ok(!self.run(statement, parameters)?.rows.is_empty())
    }

    /// The stored values of `keys`, in any order, as (key, value).
    fn values_of(&self, keys: &[&str]) -> Result<Found, StoreError> {
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

    /// The stored values of `keys`, as `values_of`, and the connection's `synchronous` setting,
    /// in one statement.
    fn values_and_synchronous(&self, keys: &[&str]) -> Result<(Found, i64), StoreError> {
        let (first, rest) = keys.split_at(keys.len().min(KEYS_PER_STATEMENT));
        let statement = format!(
            "SELECT key, value FROM levee_kv WHERE key IN ({}) UNION ALL SELECT NULL, synchronous FROM pragma_synchronous",
            placeholders(first.len())
        );
        let parameters: Vec<Value> = first.iter().map(|key| text(key)).collect();
        let (mut found, mut synchronous) = (Vec::new(), None);
        for row in self.run(&statement, &parameters)?.rows {
            match <[Value; 2]>::try_from(row.values) {
                Ok([Value::Text(key), value]) => {
                    let value = bytes_of(&key, value)?;
                    found.push((key, value));
                }
                Ok([Value::Null, Value::Integer(setting)]) => synchronous = Some(setting),
                other => return Err(StoreError::Backend(format!("reading ahead: the database answered {other:?}"))),
            }
        }
        found.extend(self.values_of(rest)?);
        let synchronous = synchronous.ok_or_else(|| {
            StoreError::Backend("reading ahead: the database did not say its synchronous setting".into())
        })?;
        Ok((found, synchronous))
    }

    fn write_all(&self, writes: &[(String, Option<Vec<u8>>)]) -> Result<(), StoreError> {
        self.forget(writes.iter().map(|(key, _)| key.as_str()));
        let sets: Vec<(&str, &[u8])> =
            writes.iter().filter_map(|(key, value)| value.as_deref().map(|value| (key.as_str(), value))).collect();
        for chunk in sets.chunks(KEYS_PER_STATEMENT) {
            let rows = vec!["(?, ?)"; chunk.len()].join(", ");
            let statement = format!(
                "INSERT INTO levee_kv (key, value) VALUES {rows} ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            );
            let parameters: Vec<Value> =
                chunk.iter().flat_map(|(key, value)| [text(key), Value::Blob(value.to_vec())]).collect();
            self.run(&statement, &parameters)?;
        }
        let deletes: Vec<&str> =
            writes.iter().filter(|(_, value)| value.is_none()).map(|(key, _)| key.as_str()).collect();
        for chunk in deletes.chunks(KEYS_PER_STATEMENT) {
            let statement = format!("DELETE FROM levee_kv WHERE key IN ({})", placeholders(chunk.len()));
            self.run(&statement, &chunk.iter().map(|key| text(key)).collect::<Vec<_>>())?;
        }
        self.note_seen(writes.iter().cloned());
        Ok(())
    }

    /// Checks and writes a batch inside a transaction: the keys the held transaction has seen
    /// are checked against what it saw, the others read now.
    fn check_and_write(&self, batch: &Batch) -> Result<bool, StoreError> {
        let mut known: HashMap<String, Option<Vec<u8>>> = {
            let seen = self.seen();
            batch.expected.iter().filter_map(|(key, _)| Some((key.clone(), seen.get(key)?.clone()))).collect()
        };
        let unseen: Vec<&str> =
            batch.expected.iter().map(|(key, _)| key.as_str()).filter(|key| !known.contains_key(*key)).collect();
        let stored: HashMap<String, Vec<u8>> = self.values_of(&unseen)?.into_iter().collect();
        for key in unseen {
            known.insert(key.to_owned(), stored.get(key).cloned());
        }
        let holds = batch.expected.iter().all(|(key, expected)| known.get(key).is_some_and(|value| value == expected));
        if !holds {
            return Ok(false);
        }
        self.write_all(&batch.writes)?;
        Ok(true)
    }

    /// The held transaction is over (committed or rolled back): what it saw is not known any more.
    fn release(&self) {
        self.exclusive.store(false, Ordering::SeqCst);
        self.seen().clear();
    }

    /// Commits the open transaction (rolls it back if that fails).
    fn commit(&self) -> Result<(), StoreError> {
        self.run("COMMIT", &[]).map(|_| ()).inspect_err(|_| {
            let _ = self.run("ROLLBACK", &[]);
        })
    }
}

impl Store for SqliteStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_many(&[key.to_owned()])?.pop().flatten())
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut answer: Vec<Option<Option<Vec<u8>>>> = {
            let ahead = self.ahead();
            keys.iter().map(|key| ahead.get(key).cloned()).collect()
        };
        let missing: Vec<&str> =
            keys.iter().zip(&answer).filter(|(_, read)| read.is_none()).map(|(key, _)| key.as_str()).collect();
        let found: HashMap<String, Vec<u8>> = self.values_of(&missing)?.into_iter().collect();
        self.note_seen(missing.iter().map(|key| ((*key).to_owned(), found.get(*key).cloned())));
        for (slot, key) in answer.iter_mut().zip(keys) {
            if slot.is_none() {
                *slot = Some(found.get(key).cloned());
            }
        }
        Ok(answer.into_iter().map(Option::flatten).collect())
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
        self.forget([key]);
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
        self.forget([key]);
        let result = self.run(
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

    /// One transaction: `BEGIN IMMEDIATE`, the check, the writes, `COMMIT`; or, inside
    /// `begin_exclusive`'s transaction, the check and the writes, and that transaction's
    /// `COMMIT` (a failed check leaves it open for the next attempt).
    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        let inside_exclusive = self.exclusive.load(Ordering::SeqCst);
        if !inside_exclusive {
            self.run("BEGIN IMMEDIATE", &[])?;
        }
        match self.check_and_write(batch) {
            Ok(true) => {
                self.release();
                self.commit().map(|()| true)
            }
            Ok(false) if inside_exclusive => Ok(false),
            outcome => {
                self.release();
                let _ = self.run("ROLLBACK", &[]);
                outcome
            }
        }
    }

    fn begin_exclusive(&self) -> Result<bool, StoreError> {
        self.ahead().clear();
        self.seen().clear();
        self.run("BEGIN IMMEDIATE", &[])?;
        self.exclusive.store(true, Ordering::SeqCst);
        Ok(true)
    }

    fn end_exclusive(&self) -> Result<(), StoreError> {
        if self.exclusive.load(Ordering::SeqCst) {
            self.release();
            self.commit()?;
        }
        Ok(())
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
