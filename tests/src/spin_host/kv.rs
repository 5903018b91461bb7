//! The key-value store the Spin host gives the levee component: `wasi:keyvalue/store` and
//! `wasi:keyvalue/atomics` (0.2.0-draft2) over an in-process map, with the strict semantics of
//! levee's store port (levee_core::store): compare-and-swap byte for byte with absent == absent,
//! a lost race is `cas-failed` (never an error), `increment` atomic over ASCII decimal.
//!
//! Only the store labelled `default` opens, as spin.toml grants the component
//! (`key_value_stores = ["default"]`). Stores are shared per data directory ([`KvStore::for_dir`])
//! so that a test restarting a server over the same `data_dir` finds what the component stored.
//! `KvStore` implements `levee_core::store::Store` too, so tests can read or tamper with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use levee_core::store::{MemoryStore, Store, StoreError};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

use super::bindings::wasi::keyvalue::{atomics, store};

/// The only store label that opens.
pub const DEFAULT_STORE: &str = "default";

/// An in-process key-value store, one per data directory: levee-core's reference store.
#[derive(Debug, Default)]
pub struct KvStore {
    entries: MemoryStore,
}

impl KvStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store of a data directory, shared by every server started over it in this process.
    pub fn for_dir(dir: &Path) -> Arc<KvStore> {
        static STORES: OnceLock<Mutex<HashMap<PathBuf, Arc<KvStore>>>> = OnceLock::new();
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut stores = STORES.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        stores.entry(key).or_default().clone()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Result<Vec<String>, StoreError> {
        self.entries.keys()
    }
}

impl Store for KvStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.entries.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.entries.set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.entries.delete(key)
    }

    fn compare_and_swap(&self, key: &str, current: Option<&[u8]>, new: &[u8]) -> Result<bool, StoreError> {
        self.entries.compare_and_swap(key, current, new)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.entries.increment(key, delta)
    }
}

/// A `wasi:keyvalue/store.bucket`: the open `default` store.
#[derive(Debug)]
pub struct Bucket;

/// A `wasi:keyvalue/atomics.cas`: the key and the value it held when the handle was made.
#[derive(Debug)]
pub struct Cas {
    key: String,
    snapshot: Option<Vec<u8>>,
}

/// What the key-value host functions see of a request's store data.
pub struct KvHost<'a> {
    pub table: &'a mut ResourceTable,
    pub store: &'a KvStore,
}

struct KvData;

impl HasData for KvData {
    type Data<'a> = KvHost<'a>;
}

/// Adds `wasi:keyvalue/store` and `wasi:keyvalue/atomics` to a linker.
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>, host: fn(&mut T) -> KvHost<'_>) -> wasmtime::Result<()> {
    store::add_to_linker::<T, KvData>(linker, host)?;
    atomics::add_to_linker::<T, KvData>(linker, host)
}

fn store_error(error: StoreError) -> store::Error {
    store::Error::Other(error.to_string())
}

impl store::Host for KvHost<'_> {
    fn open(&mut self, identifier: String) -> wasmtime::Result<Result<Resource<Bucket>, store::Error>> {
        if identifier != DEFAULT_STORE {
            return Ok(Err(store::Error::NoSuchStore));
        }
        Ok(Ok(self.table.push(Bucket)?))
    }
}

impl store::HostBucket for KvHost<'_> {
    fn get(&mut self, _: Resource<Bucket>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(self.store.get(&key).map_err(store_error))
    }

    fn set(&mut self, _: Resource<Bucket>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.store.set(&key, &value).map_err(store_error))
    }

    fn delete(&mut self, _: Resource<Bucket>, key: String) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.store.delete(&key).map_err(store_error))
    }

    fn exists(&mut self, _: Resource<Bucket>, key: String) -> wasmtime::Result<Result<bool, store::Error>> {
        Ok(self.store.get(&key).map(|value| value.is_some()).map_err(store_error))
    }

    /// Every key in one page: the tests' stores are small.
    fn list_keys(
        &mut self,
        _: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        Ok(self.store.keys().map(|keys| store::KeyResponse { keys, cursor: None }).map_err(store_error))
    }

    fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvHost<'_> {
    fn increment(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        Ok(self.store.increment(&key, delta).map_err(store_error))
    }

    fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let Cas { key, snapshot } = self.table.delete(cas)?;
        match self.store.compare_and_swap(&key, snapshot.as_deref(), &value) {
            Ok(true) => Ok(Ok(())),
            // A fresh handle over the value that won, as the interface asks.
            Ok(false) => match self.store.get(&key) {
                Ok(current) => {
                    let fresh = self.table.push(Cas { key, snapshot: current })?;
                    Ok(Err(atomics::CasError::CasFailed(fresh)))
                }
                Err(error) => Ok(Err(atomics::CasError::StoreError(store_error(error)))),
            },
            Err(error) => Ok(Err(atomics::CasError::StoreError(store_error(error)))),
        }
    }
}

impl atomics::HostCas for KvHost<'_> {
    fn new(&mut self, _: Resource<Bucket>, key: String) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let snapshot = match self.store.get(&key) {
            Ok(snapshot) => snapshot,
            Err(error) => return Ok(Err(store_error(error))),
        };
        Ok(Ok(self.table.push(Cas { key, snapshot })?))
    }

    fn current(&mut self, cas: Resource<Cas>) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.snapshot.clone()))
    }

    fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_store_keeps_the_store_contract() {
        levee_core::store::contract::check_store_contract(&KvStore::new());
    }

    #[test]
    fn only_the_default_store_opens() {
        let store = KvStore::new();
        let mut table = ResourceTable::new();
        let mut host = KvHost { table: &mut table, store: &store };
        assert!(matches!(store::Host::open(&mut host, "other".into()).unwrap(), Err(store::Error::NoSuchStore)));
        assert!(store::Host::open(&mut host, DEFAULT_STORE.into()).unwrap().is_ok());
    }

    #[test]
    fn cas_handles_swap_only_over_their_snapshot() {
        use atomics::{Host as _, HostCas as _};
        let store = KvStore::new();
        let mut table = ResourceTable::new();
        let mut host = KvHost { table: &mut table, store: &store };
        let bucket = || Resource::<Bucket>::new_borrow(0);

        // Absent == absent: a handle made on an absent key inserts, once.
        let first = host.new(bucket(), "k".into()).unwrap().unwrap();
        let second = host.new(bucket(), "k".into()).unwrap().unwrap();
        assert_eq!(host.current(Resource::new_borrow(first.rep())).unwrap().unwrap(), None);
        assert!(host.swap(first, b"one".to_vec()).unwrap().is_ok());
        let Err(atomics::CasError::CasFailed(fresh)) = host.swap(second, b"two".to_vec()).unwrap() else {
            panic!("a stale insert-if-absent must be cas-failed");
        };
        // The fresh handle holds the value that won, and swaps over it.
        assert_eq!(host.current(Resource::new_borrow(fresh.rep())).unwrap().unwrap(), Some(b"one".to_vec()));
        assert!(host.swap(fresh, b"two".to_vec()).unwrap().is_ok());
        assert_eq!(store.get("k").unwrap().as_deref(), Some(&b"two"[..]));

        assert_eq!(host.increment(bucket(), "n".into(), 5).unwrap().unwrap(), 5);
        assert_eq!(host.increment(bucket(), "n".into(), -2).unwrap().unwrap(), 3);
        assert_eq!(store.get("n").unwrap().as_deref(), Some(&b"3"[..]));
        store.set("text", b"abc").unwrap();
        assert!(matches!(host.increment(bucket(), "text".into(), 1).unwrap(), Err(store::Error::Other(_))));
    }

    #[test]
    fn stores_are_shared_per_directory() {
        let one = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        KvStore::for_dir(one.path()).set("k", b"v").unwrap();
        assert_eq!(KvStore::for_dir(one.path()).get("k").unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(KvStore::for_dir(other.path()).get("k").unwrap(), None);
    }
}
