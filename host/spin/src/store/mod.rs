//! levee's storage port on Spin, over whichever of Spin's interfaces holds what the port asks:
//! an atomic compare-and-swap, an atomic increment, and an atomic conditional batch (a ledger
//! slot with its projections, written together or not at all).
//!
//! Spin's key-value interfaces do not hold it (docs/spin.md, read from Spin 4.0.2's source):
//! insert-if-absent is an upsert on its SQLite store, and its Redis store reports an aborted
//! compare-and-swap as a success. So levee uses:
//! - `sqlite` (the default): Spin's SQLite database `default`, one table of keys and values,
//!   each operation one SQL statement and a batch one `BEGIN IMMEDIATE` transaction
//!   (`sqlite`). Local `spin up` keeps it in `.spin/sqlite_db.db`; a runtime config can move it
//!   to a remote libSQL database.
//! - `redis`: Spin's outbound Redis, with the same Lua scripts `levee serve --store redis://`
//!   runs (`redis`).
//!
//! The `store` variable chooses; the `redis_*` variables say where Redis is.

mod redis;
mod sqlite;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use levee_core::store::Store;

use crate::environment::variable;

/// Opens the store the `store` variable names. The SQLite store reads `read_ahead` at once, in
/// one statement (the records building levee reads one by one); Redis answers each read in a
/// round trip of its own.
pub fn open(read_ahead: &[String]) -> Result<Arc<dyn Store>, String> {
    match Backend::chosen()? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStore::open(read_ahead).map_err(|error| error.to_string())?)),
        Backend::Redis => {
            let settings = redis::RedisSettings::from_variables()?;
            Ok(Arc::new(redis::SpinRedisStore::open(settings).map_err(|error| error.to_string())?))
        }
    }
}

/// How long the levee component keeps the store open after it has answered: the SQLite store's
/// `sqlite::LINGER` (why: there); nothing for Redis, whose connections Spin keeps itself.
pub fn linger_after_answer() -> Duration {
    match Backend::chosen() {
        Ok(Backend::Sqlite) => sqlite::LINGER,
        Ok(Backend::Redis) | Err(_) => Duration::ZERO,
    }
}

/// The backends levee can keep everything in on Spin.
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Redis,
}

impl Backend {
    /// The backend the `store` variable names (`sqlite` if it is empty), read once per instance
    /// (per request): `open` and the linger after the answer both ask.
    fn chosen() -> Result<Backend, String> {
        static CHOSEN: OnceLock<Result<Backend, String>> = OnceLock::new();
        CHOSEN.get_or_init(Backend::from_variable).clone()
    }

    fn from_variable() -> Result<Backend, String> {
        let chosen = variable("store")?.unwrap_or_default();
        match chosen.trim() {
            "" | "sqlite" => Ok(Backend::Sqlite),
            "redis" => Ok(Backend::Redis),
            other => Err(format!("the `store` variable is {other:?}: expected `sqlite` or `redis` (docs/spin.md)")),
        }
    }
}

/// Waits a random while of up to `max_micros` before trying a held database again: random, so
/// that waiting writers do not all come back at once.
pub(crate) fn pause_randomly(max_micros: u64) {
    let pause = wasi::random::insecure::get_insecure_random_u64() % max_micros.max(1);
    wasi::clocks::monotonic_clock::subscribe_duration(pause * 1_000).block();
}

/// The component is single-threaded: Spin runs one request per instance on one thread, so the
/// resource handles the stores hold are never shared across threads.
pub(crate) struct SingleThreaded<T>(pub T);

unsafe impl<T> Send for SingleThreaded<T> {}
unsafe impl<T> Sync for SingleThreaded<T> {}
