//! The store on Redis through Spin's outbound Redis (`fermyon:spin/redis@2.0.0`), for many Spin
//! hosts sharing one store. Every levee key is one Redis string under the deployment's prefix;
//! compare-and-swap and batches are the Lua scripts `levee serve --store redis://` runs
//! (`levee_core::store::redis_scripts`), each atomic on the server and one round trip.
//!
//! Spin opens a connection per `open`, so per request. A write is never retried here: one
//! whose answer was lost may have been applied, and only the core knows how to settle that.
//!
//! Commits take turns: `begin_exclusive` takes a hold on the ledger (`SET … NX PX`, a key with a
//! token of this request's and a short expiry), waits its turn for it, and `end_exclusive` lets
//! it go (only if the token is still this request's). Without it, concurrent requests (each a
//! Spin instance of its own) race for the ledger's head and the losers read and try again. The
//! hold only orders commits: their correctness is still the batch script's check, so a hold
//! that expires under a slow commit, or a writer that takes none, costs a retry, never a write.
//! Durability is Redis's: run it with `appendonly yes` and `appendfsync always` for an answered
//! write to survive a Redis crash (docs/operations.md).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use levee_core::store::redis_scripts::{self, COMMIT_BATCH, COMPARE_AND_SWAP, ScriptCall};
use levee_core::store::{Batch, Store, StoreError};
use spin_sdk::redis::{Connection, Error, RedisParameter, RedisResult};

use super::SingleThreaded;
use crate::environment::variable;

/// Where Redis is, from the `redis_*` variables.
pub struct RedisSettings {
    /// `host:port`; spin.toml's `allowed_outbound_hosts` grants `redis://{{ redis_address }}`.
    address: String,
    password: String,
    database: u32,
    /// Put before every key, so that several deployments can share one Redis.
    prefix: String,
}

impl RedisSettings {
    pub fn from_variables() -> Result<RedisSettings, String> {
        let address = variable("redis_address")?.unwrap_or_default();
        if address.trim().is_empty() {
            return Err("the `store` variable is `redis` but `redis_address` is empty: give host:port".into());
        }
        let database = match variable("redis_database")?.as_deref().map(str::trim) {
            None | Some("") => 0,
            Some(number) => number
                .parse()
                .map_err(|_| format!("the `redis_database` variable is {number:?}: expected a database number"))?,
        };
        Ok(RedisSettings {
            address: address.trim().to_owned(),
            password: variable("redis_password")?.unwrap_or_default(),
            database,
            prefix: variable("redis_prefix")?.unwrap_or_else(|| "levee:".to_owned()),
        })
    }

    fn url(&self) -> String {
        let credentials =
            if self.password.is_empty() { String::new() } else { format!(":{}@", percent_encode(&self.password)) };
        format!("redis://{credentials}{}/{}", self.address, self.database)
    }
}

/// The key of the hold on the ledger, under the prefix.
const HOLD_KEY: &str = "spin/commit-hold";

/// How long a hold lasts if its holder never lets it go (an instance that died mid-commit).
const HOLD_MILLIS: i64 = 2_000;

/// How long a commit waits for the hold before it goes ahead without one (and its batch's check
/// decides, as for any writer that takes none).
const HOLD_WAIT: Duration = Duration::from_secs(5);

/// The longest pause between two tries for the hold.
const HOLD_PAUSE_MICROS: u64 = 2_000;

/// Lets the hold go if it is still this token's.
const RELEASE_HOLD: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

pub struct SpinRedisStore {
    connection: SingleThreaded<Connection>,
    prefix: String,
    /// For messages: where Redis is, never its password.
    address: String,
    /// The token of the hold this request has, if it has it.
    hold: Mutex<Option<String>>,
}

impl SpinRedisStore {
    pub fn open(settings: RedisSettings) -> Result<SpinRedisStore, StoreError> {
        let connection = Connection::open(&settings.url())
            .map_err(|error| redis_error(&format!("connect to Redis at {}", settings.address), error))?;
        Ok(SpinRedisStore {
            connection: SingleThreaded(connection),
            prefix: settings.prefix,
            address: settings.address,
            hold: Mutex::new(None),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn execute(&self, command: &str, arguments: Vec<RedisParameter>) -> Result<Vec<RedisResult>, StoreError> {
        self.connection
            .0
            .execute(command, &arguments)
            .map_err(|error| redis_error(&format!("{command} on Redis at {}", self.address), error))
    }

    /// Runs one of levee's Lua scripts: 1 means it wrote.
    fn run_script(&self, script: &str, call: &ScriptCall) -> Result<bool, StoreError> {
        let mut arguments = vec![binary(script.as_bytes()), RedisParameter::Int64(call.keys.len() as i64)];
        arguments.extend(call.keys.iter().map(|key| binary(key.as_bytes())));
        arguments.extend(call.args.iter().map(|arg| binary(arg)));
        match self.execute("EVAL", arguments)?.as_slice() {
            [RedisResult::Int64(wrote)] => Ok(*wrote == 1),
            other => Err(StoreError::Backend(format!("a levee script answered {other:?}, not 0 or 1"))),
        }
    }
}

impl Store for SpinRedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get_many(&[key.to_owned()])?.pop().flatten())
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let answers = self.execute("MGET", keys.iter().map(|key| binary(self.key(key).as_bytes())).collect())?;
        if answers.len() != keys.len() {
            return Err(StoreError::Backend(format!("MGET of {} keys answered {} values", keys.len(), answers.len())));
        }
        answers
            .into_iter()
            .map(|answer| match answer {
                RedisResult::Nil => Ok(None),
                RedisResult::Binary(bytes) => Ok(Some(bytes)),
                other => Err(StoreError::Backend(format!("MGET answered {other:?}"))),
            })
            .collect()
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.set_many(&[(key.to_owned(), value.to_vec())])
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let arguments =
            entries.iter().flat_map(|(key, value)| [binary(self.key(key).as_bytes()), binary(value)]).collect();
        self.execute("MSET", arguments).map(|_| ())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.execute("DEL", vec![binary(self.key(key).as_bytes())]).map(|_| ())
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.run_script(COMPARE_AND_SWAP, &redis_scripts::compare_and_swap_call(self.key(key), current, new))
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        match self.execute("INCRBY", vec![binary(self.key(key).as_bytes()), RedisParameter::Int64(delta)])?.as_slice() {
            [RedisResult::Int64(value)] => Ok(*value),
            other => Err(StoreError::Backend(format!("INCRBY {key} answered {other:?}"))),
        }
    }

    fn atomic_batches(&self) -> bool {
        true
    }

    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        self.run_script(COMMIT_BATCH, &redis_scripts::commit_batch_call(batch, |key| self.key(key)))
    }

    /// Takes the hold on the ledger when its turn comes; after `HOLD_WAIT`, goes ahead without.
    fn begin_exclusive(&self) -> Result<bool, StoreError> {
        let token = format!(
            "{:016x}{:016x}",
            wasi::random::insecure::get_insecure_random_u64(),
            wasi::random::insecure::get_insecure_random_u64()
        );
        let hold_key = self.key(HOLD_KEY);
        let started = Instant::now();
        loop {
            let arguments = vec![
                binary(hold_key.as_bytes()),
                binary(token.as_bytes()),
                binary(b"NX"),
                binary(b"PX"),
                RedisParameter::Int64(HOLD_MILLIS),
            ];
            // `SET … NX` answers OK when it set the key, nil when another holds it.
            let taken = self.execute("SET", arguments)?.iter().any(|answer| !matches!(answer, RedisResult::Nil));
            if taken {
                *self.hold.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(token);
                return Ok(true);
            }
            if started.elapsed() >= HOLD_WAIT {
                return Ok(false);
            }
            super::pause_randomly(HOLD_PAUSE_MICROS);
        }
    }

    fn end_exclusive(&self) -> Result<(), StoreError> {
        let held = self.hold.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        let Some(token) = held else { return Ok(()) };
        let arguments = vec![
            binary(RELEASE_HOLD.as_bytes()),
            RedisParameter::Int64(1),
            binary(self.key(HOLD_KEY).as_bytes()),
            binary(token.as_bytes()),
        ];
        self.execute("EVAL", arguments).map(|_| ())
    }
}

fn binary(bytes: &[u8]) -> RedisParameter {
    RedisParameter::Binary(bytes.to_vec())
}

/// Every failure but a malformed address or answer is worth retrying later (503).
fn redis_error(what: &str, error: Error) -> StoreError {
    match error {
        Error::InvalidAddress => {
            StoreError::Backend(format!("{what}: not a usable Redis address (the `redis_address` variable)"))
        }
        Error::TypeError => StoreError::Backend(format!("{what}: Redis answered a value of another type")),
        Error::TooManyConnections => StoreError::Unavailable(format!("{what}: too many connections")),
        Error::Other(message) => StoreError::Unavailable(format!("{what}: {message}")),
    }
}

/// A password as it goes in a URL's userinfo.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
