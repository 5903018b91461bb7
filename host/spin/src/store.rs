//! levee's storage port over Spin's key-value store `default`, through `wasi:keyvalue`
//! (store and atomics, 0.2.0-draft2): the interface in which Spin offers compare-and-swap.
//!
//! What each Spin backend guarantees, and what this adapter does about it (docs/spin.md):
//! - Compare-and-swap of a present value is atomic on SQLite (`UPDATE … WHERE value = old`);
//!   on Redis (`WATCH`/`MULTI`/`EXEC`) an aborted transaction has been reported as success, so
//!   every swap is read back and counts as won only if the key now holds what was written.
//! - Insert-if-absent (`swap` after `current()` answered none) is an upsert on SQLite: two
//!   writers racing for the same new key can both be told they won. The read-back catches the
//!   loser only if the winner's write landed first. Redis does not overwrite.
//! - `increment` is atomic on every backend, but Spin's SQLite store keeps the counter as 8
//!   little-endian bytes, not ASCII: levee reads counters only through `increment`.

use levee_core::store::{Store, StoreError};

use crate::bindings::wasi::keyvalue::atomics::{self, Cas, CasError};
use crate::bindings::wasi::keyvalue::store::{self as kv, Bucket};

/// The name of the store levee uses; spin.toml grants the component exactly this one.
pub const STORE_NAME: &str = "default";

pub struct SpinStore {
    bucket: Bucket,
}

// The component is single-threaded: Spin runs one request per instance on one thread.
unsafe impl Send for SpinStore {}
unsafe impl Sync for SpinStore {}

impl SpinStore {
    pub fn open() -> Result<SpinStore, StoreError> {
        let bucket = kv::open(STORE_NAME).map_err(|error| store_error(&format!("open store {STORE_NAME}"), error))?;
        Ok(SpinStore { bucket })
    }

    /// Whether `key` now holds exactly `written`.
    fn holds(&self, key: &str, written: &[u8]) -> Result<bool, StoreError> {
        Ok(self.get(key)?.as_deref() == Some(written))
    }
}

impl Store for SpinStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(|error| store_error(key, error))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(|error| store_error(key, error))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(|error| store_error(key, error))
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let cas = Cas::new(&self.bucket, key).map_err(|error| store_error(key, error))?;
        // `current()` also tells the backend what to compare against (Spin's SQLite store
        // compares with the value it last read here).
        let stored = cas.current().map_err(|error| store_error(key, error))?;
        if stored.as_deref() != current {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => self.holds(key, new),
            Err(CasError::CasFailed(_)) => Ok(false),
            Err(CasError::StoreError(error)) => Err(store_error(key, error)),
        }
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(|error| store_error(key, error))
    }
}

fn store_error(key: &str, error: kv::Error) -> StoreError {
    match error {
        kv::Error::NoSuchStore => {
            StoreError::Backend(format!("{key}: Spin has no key-value store named {STORE_NAME} for this component"))
        }
        kv::Error::AccessDenied => StoreError::Backend(format!(
            "{key}: access to the key-value store {STORE_NAME} is denied: list it in the component's key_value_stores"
        )),
        kv::Error::Other(message) => StoreError::Unavailable(format!("{key}: {message}")),
    }
}
