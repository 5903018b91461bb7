//! Storage backends for the core's `Store` port, chosen by a tagged configuration.
//!
//! - `redb`: the embedded default, one file in the data directory.
//! - memory: levee-core's `MemoryStore`, for throwaway runs.

pub mod redb;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use levee_core::store::{MemoryStore, Store};
use serde::Deserialize;

pub use self::redb::RedbStore;

/// Which backend to use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StoreConfig {
    /// The embedded store; `path` defaults to `<data>/levee.redb`.
    Redb { path: Option<PathBuf> },
    /// Nothing survives a restart.
    Memory,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig::Redb { path: None }
    }
}

/// The redb file of a data directory.
pub fn redb_path(data_dir: &Path) -> PathBuf {
    data_dir.join("levee.redb")
}

/// Opens the configured backend.
pub fn open(config: &StoreConfig, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match config {
        StoreConfig::Redb { path } => {
            let path = path.clone().unwrap_or_else(|| redb_path(data_dir));
            Arc::new(RedbStore::open(&path)?)
        }
        StoreConfig::Memory => Arc::new(MemoryStore::new()),
    })
}
