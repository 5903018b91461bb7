//! Storage backends for the core's `Store` port, chosen by a tagged configuration.
//!
//! - `redb`: the embedded default, one file in the data directory.
//! - `redis`: one Redis shared by any number of hosts (`--store redis://…`, docs/operations.md).
//! - memory: levee-core's `MemoryStore`, for throwaway runs.

pub mod redb;
pub mod redis;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee_core::store::{MemoryStore, Store};
use serde::Deserialize;

pub use self::redb::RedbStore;
pub use self::redis::{RedisConfig, RedisStore};

/// Which backend to use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// The embedded store; `path` defaults to `<data>/levee.redb`, and `cache_mib` (the memory
    /// redb keeps the file's pages in) to `redb::DEFAULT_CACHE_MIB`.
    Redb {
        path: Option<PathBuf>,
        #[serde(default)]
        cache_mib: Option<u64>,
    },
    /// A Redis shared by every host (`rediss://` for TLS).
    Redis(RedisConfig),
    /// Nothing survives a restart.
    Memory,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Redb { path: None, cache_mib: None }
    }
}

impl StoreConfig {
    /// `--store`: `redb`, `memory`, or a `redis://` or `rediss://` URL (which keeps the rest of a
    /// Redis section of the file: prefix, TLS CA, pool, timeouts).
    pub fn with_flag(self, flag: &str) -> anyhow::Result<StoreConfig> {
        Ok(match flag {
            "redb" => match self {
                redb @ StoreConfig::Redb { .. } => redb,
                _ => StoreConfig::default(),
            },
            "memory" => StoreConfig::Memory,
            url if url.starts_with("redis://") || url.starts_with("rediss://") => match self {
                StoreConfig::Redis(config) => StoreConfig::Redis(RedisConfig { url: url.to_owned(), ..config }),
                _ => StoreConfig::Redis(RedisConfig::new(url)),
            },
            other => anyhow::bail!(
                "--store {}: expected redb, memory, or a redis:// or rediss:// URL",
                self::redis::redact_credentials(other)
            ),
        })
    }

    /// What a person reads in a log: the kind of store and where it is, without a password.
    pub fn describe(&self, data_dir: &Path) -> String {
        match self {
            StoreConfig::Redb { path, cache_mib } => format!(
                "redb at {} ({} MiB cache)",
                path.clone().unwrap_or_else(|| redb_path(data_dir)).display(),
                self::redb::cache_mib(*cache_mib)
            ),
            StoreConfig::Redis(config) => format!("Redis at {} under {:?}", config.redacted_url(), config.prefix),
            StoreConfig::Memory => "memory (nothing survives a restart)".to_owned(),
        }
    }
}

/// The redb file of a data directory.
pub fn redb_path(data_dir: &Path) -> PathBuf {
    data_dir.join("levee.redb")
}

/// Opens the configured backend.
pub fn open(config: &StoreConfig, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Redb { path, cache_mib } => {
            let path = path.clone().unwrap_or_else(|| redb_path(data_dir));
            Arc::new(RedbStore::open_with_cache(&path, self::redb::cache_bytes(*cache_mib)?)?)
        }
        StoreConfig::Redis(config) => Arc::new(RedisStore::open(config)?),
        StoreConfig::Memory => Arc::new(MemoryStore::new()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_section_reads_with_its_defaults() {
        let config: StoreConfig =
            toml::from_str("type = \"redis\"\nurl = \"redis://db:6379\"\nprefix = \"acme:\"").unwrap();
        let StoreConfig::Redis(redis) = config else { panic!("not redis: {config:?}") };
        assert_eq!((redis.prefix.as_str(), redis.pool_size, redis.command_timeout_ms), ("acme:", 32, 2_000));
        let unknown = toml::from_str::<StoreConfig>("type = \"redis\"\nurl = \"redis://db\"\nprefx = \"a\"");
        assert!(unknown.unwrap_err().to_string().contains("prefx"));
    }

    #[test]
    fn the_store_flag_keeps_the_files_redis_settings() {
        let file = StoreConfig::Redis(RedisConfig { prefix: "acme:".into(), ..RedisConfig::new("redis://old") });
        let StoreConfig::Redis(redis) = file.with_flag("rediss://new:6380").unwrap() else { panic!() };
        assert_eq!((redis.url.as_str(), redis.prefix.as_str()), ("rediss://new:6380", "acme:"));
        assert_eq!(StoreConfig::default().with_flag("memory").unwrap(), StoreConfig::Memory);
        let error = StoreConfig::default().with_flag("valkeys://:hunter2@db").unwrap_err().to_string();
        assert!(error.contains("expected redb, memory, or a redis://"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let file = StoreConfig::Redb { path: Some("/srv/levee.redb".into()), cache_mib: Some(256) };
        assert_eq!(file.clone().with_flag("redb").unwrap(), file, "--store redb keeps the file's path and cache");
    }

    #[test]
    fn the_redb_cache_is_bounded_and_can_be_set() {
        let config: StoreConfig = toml::from_str("type = \"redb\"\ncache_mib = 256").unwrap();
        assert_eq!(config, StoreConfig::Redb { path: None, cache_mib: Some(256) });
        assert_eq!(self::redb::cache_bytes(Some(256)).unwrap(), 256 << 20);
        assert_eq!(self::redb::cache_bytes(None).unwrap(), (self::redb::DEFAULT_CACHE_MIB << 20) as usize);
        let error = self::redb::cache_bytes(Some(0)).unwrap_err().to_string();
        assert!(error.contains("store.cache_mib is 0"), "{error}");
        let error = self::redb::cache_bytes(Some(u64::MAX)).unwrap_err().to_string();
        assert!(error.contains("more memory than this machine can address"), "{error}");
        let unknown = toml::from_str::<StoreConfig>("type = \"redb\"\ncache = 256").unwrap_err().to_string();
        assert!(unknown.contains("cache"), "{unknown}");
    }
}
