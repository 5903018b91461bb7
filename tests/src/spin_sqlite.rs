//! The Spin application's SQLite database read from the test process, through rusqlite: its
//! `levee_kv` table (host/spin/src/store/sqlite.rs) as a `Store`, to read or tamper with once
//! the application has stopped, and for `verify_stopped`.

use std::path::Path;
use std::sync::Mutex;

use levee_core::store::{Store, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

pub struct SqliteFileStore {
    connection: Mutex<Connection>,
}

impl SqliteFileStore {
    pub fn open(path: &Path) -> SqliteFileStore {
        let connection =
            Connection::open(path).unwrap_or_else(|error| panic!("open the Spin database {}: {error}", path.display()));
        SqliteFileStore { connection: Mutex::new(connection) }
    }

    fn with<T>(&self, work: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let connection = self.connection.lock().map_err(|_| StoreError::Backend("lock poisoned".into()))?;
        work(&connection).map_err(|error| StoreError::Backend(error.to_string()))
    }
}

impl Store for SqliteFileStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|connection| {
            connection
                .query_row("SELECT CAST(value AS BLOB) FROM levee_kv WHERE key = ?", [key], |row| row.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with(|connection| {
            connection
                .execute(
                    "INSERT INTO levee_kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )
                .map(|_| ())
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.with(|connection| connection.execute("DELETE FROM levee_kv WHERE key = ?", [key]).map(|_| ()))
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.with(|connection| match current {
            None => connection
                .execute(
                    "INSERT INTO levee_kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
                    params![key, new],
                )
                .map(|changed| changed == 1),
            Some(current) => connection
                .execute("UPDATE levee_kv SET value = ?3 WHERE key = ?1 AND value = ?2", params![key, current, new])
                .map(|changed| changed == 1),
        })
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.with(|connection| {
            connection.query_row(
                "INSERT INTO levee_kv (key, value) VALUES (?1, CAST(?2 AS TEXT)) \
                 ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(CAST(value AS TEXT) AS INTEGER) + ?2 AS TEXT) \
                 RETURNING CAST(CAST(value AS TEXT) AS INTEGER)",
                params![key, delta],
                |row| row.get(0),
            )
        })
    }
}
