//! The shared store for many hosts: Redis, through a pool of synchronous connections (r2d2).
//!
//! Every levee key becomes one Redis string under the deployment's prefix. The port maps onto
//! Redis commands and scripts, each atomic on the server:
//! - `compare_and_swap` is one Lua script (`COMPARE_AND_SWAP`);
//! - `commit_batch` is another (`COMMIT_BATCH`): it checks every expected value, then writes;
//!   the ledger store commits a ledger slot with its projections this way, in one round trip;
//! - `increment` is `INCRBY`; the batch forms are `MGET` and `MSET`.
//!
//! Failures: a Redis that is down, slow (past `command_timeout_ms`), loading, read-only, busy,
//! unable to persist or out of memory is `StoreError::Unavailable` (the API answers 503 with
//! `Retry-After`). A connection that failed in any way but a plain error reply is never used
//! again: a half-sent command or a late reply would put it out of step with Redis. A write is
//! never retried here: one whose answer was lost may have been applied, and only the core knows
//! how to settle that (the ledger slot it claimed, or the submission's idempotency key). A read
//! that found its connection dead (Redis restarted while it sat in the pool) is retried once on
//! a fresh one, and after any connection failure every pooled connection proves itself with a
//! `PING` before its next command.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use levee_core::store::redis_scripts::{self, COMMIT_BATCH, COMPARE_AND_SWAP, ScriptCall};
use levee_core::store::{Batch, Store, StoreError};
use redis::{ConnectionLike, ErrorKind, RedisError, ServerErrorKind};
use serde::{Deserialize, Serialize};

/// `store = { type = "redis", url = "redis://…" }` in levee.toml, or `--store redis://…`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: String,
    /// Put before every key, so that several deployments can share one Redis.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// A PEM file of the CA that signed the server's certificate (`rediss://` only) if it is
    /// not one the system trusts.
    #[serde(default)]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Connections kept open; requests beyond this wait for one.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// How long to wait for a connection (made or pooled) before answering 503.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long one command may take before its request answers 503.
    #[serde(default = "default_command_timeout_ms")]
    pub command_timeout_ms: u64,
}

fn default_prefix() -> String {
    "levee:".to_owned()
}

fn default_pool_size() -> u32 {
    32
}

fn default_connect_timeout_ms() -> u64 {
    2_000
}

fn default_command_timeout_ms() -> u64 {
    2_000
}

impl RedisConfig {
    /// The defaults for `url`.
    pub fn new(url: &str) -> Self {
        RedisConfig {
            url: url.to_owned(),
            prefix: default_prefix(),
            tls_ca: None,
            pool_size: default_pool_size(),
            connect_timeout_ms: default_connect_timeout_ms(),
            command_timeout_ms: default_command_timeout_ms(),
        }
    }

    /// The URL without its password, for messages and logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("prefix", &self.prefix)
            .field("tls_ca", &self.tls_ca)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("command_timeout_ms", &self.command_timeout_ms)
            .finish()
    }
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact(url: &str) -> String {
    redact_credentials(url)
}

/// Every `scheme://user:secret@` in `text` with its secret replaced by `***`: for messages that
/// may quote a URL (a mistyped flag, a line of levee.toml).
pub fn redact_credentials(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        redacted.push_str(before);
        let authority_end = after.find(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace());
        let authority = &after[..authority_end.unwrap_or(after.len())];
        match authority.rsplit_once('@') {
            Some((credentials, host)) => {
                let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
                let user = if credentials.contains(':') { user } else { "" };
                redacted.push_str(&format!("{user}:***@{host}"));
            }
            None => redacted.push_str(authority),
        }
        rest = &after[authority.len()..];
    }
    redacted.push_str(rest);
    redacted
}

/// One pooled connection: stamped with the failure count it was last known good at, and
/// marked broken once anything but a plain error reply went wrong on it.
pub struct PooledConnection {
    connection: redis::Connection,
    checked_at_failure: u64,
    broken: bool,
}

/// Makes connections with the configured timeouts, for r2d2.
struct Connector {
    client: redis::Client,
    connect_timeout: Duration,
    command_timeout: Duration,
    failures: Arc<AtomicU64>,
}

impl r2d2::ManageConnection for Connector {
    type Connection = PooledConnection;
    type Error = RedisError;

    fn connect(&self) -> Result<PooledConnection, RedisError> {
        let connection = self.client.get_connection_with_timeout(self.connect_timeout)?;
        connection.set_read_timeout(Some(self.command_timeout))?;
        connection.set_write_timeout(Some(self.command_timeout))?;
        Ok(PooledConnection { connection, checked_at_failure: self.failures.load(Ordering::Acquire), broken: false })
    }

    fn is_valid(&self, pooled: &mut PooledConnection) -> Result<(), RedisError> {
        redis::cmd("PING").query::<()>(&mut pooled.connection)
    }

    fn has_broken(&self, pooled: &mut PooledConnection) -> bool {
        pooled.broken || !pooled.connection.is_open()
    }
}

/// Logs why connections cannot be made, naming the Redis, at most once per interval: during an
/// outage r2d2 retries in the background all the time.
struct ConnectFailureLog {
    location: String,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ConnectFailureLog {
    const INTERVAL: Duration = Duration::from_secs(10);
}

impl r2d2::HandleError<RedisError> for ConnectFailureLog {
    fn handle_error(&self, error: RedisError) {
        let Ok(mut last) = self.last.lock() else { return };
        if last.is_some_and(|at| at.elapsed() < Self::INTERVAL) {
            return;
        }
        *last = Some(std::time::Instant::now());
        tracing::warn!("cannot connect to Redis at {}: {error}", self.location);
    }
}

impl std::fmt::Debug for ConnectFailureLog {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("ConnectFailureLog").field("location", &self.location).finish()
    }
}

/// A Redis database (or the part of one under a prefix).
pub struct RedisStore {
    pool: r2d2::Pool<Connector>,
    prefix: String,
    /// Connection failures seen so far: a pooled connection older than the last one is pinged
    /// before use.
    failures: Arc<AtomicU64>,
    compare_and_swap: redis::Script,
    commit_batch: redis::Script,
    /// For messages: where this store is, without a password.
    location: String,
}

impl RedisStore {
    /// Connects, checks that Redis answers, and warns if Redis may lose acknowledged writes.
    pub fn open(config: &RedisConfig) -> anyhow::Result<Self> {
        let location = config.redacted_url();
        if !(config.url.starts_with("redis://") || config.url.starts_with("rediss://")) {
            let scheme = config.url.split_once("://").map_or("no scheme", |(scheme, _)| scheme);
            bail!("store.url ({scheme}): expected a redis:// or rediss:// URL");
        }
        let client = client(config).with_context(|| format!("Redis URL {location}"))?;
        if config.pool_size == 0 {
            bail!("store.pool_size must be at least 1");
        }
        let failures = Arc::new(AtomicU64::new(0));
        let connector = Connector {
            client,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms.max(1)),
            command_timeout: Duration::from_millis(config.command_timeout_ms.max(1)),
            failures: failures.clone(),
        };
        let pool = r2d2::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(0))
            .test_on_check_out(false)
            .connection_timeout(Duration::from_millis(config.connect_timeout_ms.max(1)))
            // Connections a load balancer may have dropped silently are not kept long.
            .idle_timeout(Some(Duration::from_secs(60)))
            .max_lifetime(Some(Duration::from_secs(600)))
            .error_handler(Box::new(ConnectFailureLog { location: location.clone(), last: Default::default() }))
            .build_unchecked(connector);
        let store = RedisStore {
            pool,
            prefix: config.prefix.clone(),
            failures,
            compare_and_swap: redis::Script::new(COMPARE_AND_SWAP),
            commit_batch: redis::Script::new(COMMIT_BATCH),
            location,
        };
        store.ping().with_context(|| format!("reach Redis at {}", store.location))?;
        store.warn_unless_durable();
        Ok(store)
    }

    /// Where this store is, without a password.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.run(|connection| redis::cmd("PING").query::<()>(connection))
    }

    /// levee acknowledges a write once Redis has it: only an append-only file synced on every
    /// write keeps it through a crash of the Redis host, and only `noeviction` keeps Redis from
    /// deleting ledger entries when it is full (docs/operations.md).
    fn warn_unless_durable(&self) {
        let setting = |name: &str| {
            self.run(|connection| redis::cmd("CONFIG").arg("GET").arg(name).query::<Vec<String>>(connection))
                .map(|pair| pair.get(1).cloned().unwrap_or_default())
        };
        let wanted = [("appendonly", "yes"), ("appendfsync", "always"), ("maxmemory-policy", "noeviction")];
        for (name, value) in wanted {
            match setting(name) {
                Ok(actual) if actual == value => {}
                Ok(actual) => tracing::warn!(
                    "Redis at {} has {name} {actual}: levee needs {name} {value}, or it may lose writes it has \
                     acknowledged (docs/operations.md)",
                    self.location
                ),
                Err(error) => {
                    tracing::info!(
                        "cannot read the settings of Redis at {} ({error}); make sure it has appendonly yes, \
                         appendfsync always and maxmemory-policy noeviction (docs/operations.md)",
                        self.location
                    );
                    return;
                }
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one of levee's Lua scripts (`redis_scripts`): 1 means it wrote.
    fn run_script(&self, script: &redis::Script, call: &ScriptCall) -> Result<bool, StoreError> {
        let mut invocation = script.prepare_invoke();
        for key in &call.keys {
            invocation.key(key);
        }
        for arg in &call.args {
            invocation.arg(arg.as_slice());
        }
        self.run(|connection| invocation.invoke::<i64>(connection)).map(|wrote| wrote == 1)
    }

    /// Runs a write on a pooled connection, mapping failures to the port's errors.
    fn run<T>(&self, command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        let mut pooled = self.checkout()?;
        let result = command(&mut pooled.connection);
        result.map_err(|error| self.failed(&mut pooled, &error))
    }

    /// Runs a read; if its connection turns out dead (it sat in the pool while Redis
    /// restarted), once more on a fresh one. Reads change nothing, so a retry is safe.
    fn read<T>(&self, command: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, StoreError> {
        let mut pooled = self.checkout()?;
        match command(&mut pooled.connection) {
            Ok(value) => Ok(value),
            Err(error) if error.is_connection_dropped() => {
                let first = self.failed(&mut pooled, &error);
                drop(pooled);
                let mut fresh = self.checkout().map_err(|_| first)?;
                command(&mut fresh.connection).map_err(|error| self.failed(&mut fresh, &error))
            }
            Err(error) => Err(self.failed(&mut pooled, &error)),
        }
    }

    /// Files a failed command: a connection that may be out of step is retired, and a failed
    /// connection makes every pooled one prove itself before its next use.
    fn failed(&self, pooled: &mut PooledConnection, error: &RedisError) -> StoreError {
        if retires_connection(error) {
            pooled.broken = true;
        }
        if is_connection_failure(error) {
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
        store_error(&self.location, error)
    }

    /// A connection from the pool; if a connection failed since this one was last known good,
    /// it is pinged first. One that does not answer is retired; if the ping timed out, Redis
    /// itself is slow, and the request gives up at once rather than try the next one.
    fn checkout(&self) -> Result<r2d2::PooledConnection<Connector>, StoreError> {
        let unavailable = |error: r2d2::Error| {
            StoreError::Unavailable(format!("no connection to Redis at {}: {error}", self.location))
        };
        for _ in 0..=self.pool.max_size() {
            let mut pooled = self.pool.get().map_err(unavailable)?;
            let failures = self.failures.load(Ordering::Acquire);
            if pooled.checked_at_failure == failures {
                return Ok(pooled);
            }
            match redis::cmd("PING").query::<()>(&mut pooled.connection) {
                Ok(()) => {
                    pooled.checked_at_failure = failures;
                    return Ok(pooled);
                }
                Err(error) => {
                    let failure = self.failed(&mut pooled, &error);
                    if error.is_timeout() || !is_connection_failure(&error) {
                        return Err(failure);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(format!("no working connection to Redis at {}", self.location)))
    }
}

fn client(config: &RedisConfig) -> anyhow::Result<redis::Client> {
    if config.url.starts_with("rediss://") {
        crate::install_tls_provider();
    }
    let Some(ca) = &config.tls_ca else { return Ok(redis::Client::open(config.url.as_str())?) };
    if !config.url.starts_with("rediss://") {
        bail!("store.tls_ca is set, but the URL is not rediss://");
    }
    let root_cert = std::fs::read(ca).with_context(|| format!("read store.tls_ca {}", ca.display()))?;
    let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(root_cert) };
    Ok(redis::Client::build_with_tls(config.url.as_str(), certificates)?)
}

/// The connection broke or never came: the pool's other connections may be stale too.
fn is_connection_failure(error: &RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal() || error.is_timeout()
}

/// Whether a connection must not be used again after `error`: anything but a plain error reply
/// may have left it out of step (a half-sent command, a reply it could not parse), and a
/// replica that answers READONLY after a failover stays a replica.
fn retires_connection(error: &RedisError) -> bool {
    !matches!(error.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
        || matches!(error.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown))
}

/// Redis error replies that pass: loading, failing over, busy with a script, unable to write its
/// files (`MISCONF`, a full disk), short of replicas, out of memory.
const TRANSIENT_REPLIES: &[&str] = &["BUSY", "MISCONF", "NOREPLICAS", "OOM"];

/// Worth retrying later (503), or a real error (500)?
fn store_error(location: &str, error: &RedisError) -> StoreError {
    let transient = is_connection_failure(error)
        || matches!(
            error.kind(),
            ErrorKind::Server(
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ReadOnly
            )
        )
        || error.code().is_some_and(|code| TRANSIENT_REPLIES.contains(&code));
    let message = format!("Redis at {location}: {error}");
    if transient { StoreError::Unavailable(message) } else { StoreError::Backend(message) }
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(key);
        self.read(|connection| redis::cmd("GET").arg(&key).query(connection))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|key| self.key(key)).collect();
        self.read(|connection| redis::cmd("MGET").arg(&keys).query(connection))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let key = self.key(key);
        self.run(|connection| redis::cmd("SET").arg(&key).arg(value).query(connection))
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut command = redis::cmd("MSET");
        for (key, value) in entries {
            command.arg(self.key(key)).arg(value.as_slice());
        }
        self.run(|connection| command.query(connection))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let key = self.key(key);
        self.run(|connection| redis::cmd("DEL").arg(&key).query(connection))
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        let call = redis_scripts::compare_and_swap_call(self.key(key), current, new);
        self.run_script(&self.compare_and_swap, &call)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        let key = self.key(key);
        self.run(|connection| redis::cmd("INCRBY").arg(&key).arg(delta).query(connection))
    }

    fn atomic_batches(&self) -> bool {
        true
    }

    fn commit_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        let call = redis_scripts::commit_batch_call(batch, |key| self.key(key));
        self.run_script(&self.commit_batch, &call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(redact("redis://:hunter2@db:6379/0"), "redis://:***@db:6379/0");
        assert_eq!(redact("rediss://levee:hunter2@db:6380"), "rediss://levee:***@db:6380");
        assert_eq!(redact("redis://db:6379"), "redis://db:6379");
        assert_eq!(redact("redis://hunter2@db"), "redis://:***@db");
        let line = r#"3 | store = { type = "redis", url = "valkeys://u:hunter2@db:1/0", prefx = "a" }"#;
        assert_eq!(
            redact_credentials(line),
            r#"3 | store = { type = "redis", url = "valkeys://u:***@db:1/0", prefx = "a" }"#
        );
        let debug = format!("{:?}", RedisConfig::new("redis://:hunter2@db"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn only_redis_urls_are_opened() {
        let error = format!("{:#}", RedisStore::open(&RedisConfig::new("redis+unix:///s?pass=hunter2")).err().unwrap());
        assert!(error.contains("expected a redis:// or rediss:// URL"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn an_unreachable_redis_is_named_without_its_password() {
        let mut config = RedisConfig::new("redis://:hunter2@127.0.0.1:1");
        config.connect_timeout_ms = 200;
        let error = format!("{:#}", RedisStore::open(&config).err().expect("nothing listens on port 1"));
        assert!(error.contains("reach Redis at redis://:***@127.0.0.1:1"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_ca_file_needs_a_tls_url() {
        let mut config = RedisConfig::new("redis://127.0.0.1:1");
        config.tls_ca = Some("ca.pem".into());
        let error = format!("{:#}", RedisStore::open(&config).err().expect("refused"));
        assert!(error.contains("not rediss://"), "{error}");
    }
}
