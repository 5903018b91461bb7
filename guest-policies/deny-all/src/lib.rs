//! A deny-all adapter for the key-value store: a TEST FIXTURE mirroring Spin's `deny_all.wasm`,
//! never a component to deploy.
//!
//! Spin composes its deny-all adapter into every component dependency that does not inherit the
//! parent's configuration (docs/spin.md, "Isolation"): the adapter exports the Spin capability
//! interfaces the dependency imports and answers every call with an error, so the dependency
//! cannot reach the parent's store. This component does the same for the two interfaces of
//! levee's world that hold data, and the tests plug it into a rule plugin
//! (`guest-policies/kv-snooper`) the way Spin does:
//!
//! - `wasi:keyvalue/store@0.2.0-draft2`: `open` returns `error::access-denied`;
//! - `wasi:keyvalue/atomics@0.2.0-draft2`: `increment`, `cas.new` and `swap` return
//!   `error::access-denied` (`swap` as `cas-error::store-error(access-denied)`).
//!
//! No `bucket` or `cas` resource can ever be created (their Rust types are uninhabited), but
//! their methods are implemented all the same and answer `access-denied` too.
//!
//! It is `no_std` and links the policy SDK only for its wasm32 runtime (allocator, panic
//! handler, `cabi_realloc`), so the component imports nothing.

#![no_std]

extern crate alloc;
// Natively, std supplies the panic handler and allocator; on wasm32 the SDK does.
#[cfg(not(target_arch = "wasm32"))]
extern crate std;
// Linked for its wasm32 runtime only.
use levee_policy_sdk as _;

use alloc::string::String;
use alloc::vec::Vec;

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package levee:deny-all;

            world deny-all {
                export wasi:keyvalue/store@0.2.0-draft2;
                export wasi:keyvalue/atomics@0.2.0-draft2;
            }
        ",
        path: "../../host/spin/wit/deps/keyvalue-2024-10-17",
        world: "levee:deny-all/deny-all",
    });
}

use bindings::exports::wasi::keyvalue::atomics::{self, CasError};
use bindings::exports::wasi::keyvalue::store::{self, BucketBorrow, Error, KeyResponse};

/// The component: every export answers `access-denied`.
pub struct DenyAll;

/// A bucket that cannot exist: `open` never returns one.
pub enum DeniedBucket {}

/// A compare-and-swap handle that cannot exist: `cas.new` never returns one.
pub enum DeniedCas {}

impl store::Guest for DenyAll {
    type Bucket = DeniedBucket;

    fn open(_identifier: String) -> Result<store::Bucket, Error> {
        Err(Error::AccessDenied)
    }
}

impl store::GuestBucket for DeniedBucket {
    fn get(&self, _key: String) -> Result<Option<Vec<u8>>, Error> {
        Err(Error::AccessDenied)
    }

    fn set(&self, _key: String, _value: Vec<u8>) -> Result<(), Error> {
        Err(Error::AccessDenied)
    }

    fn delete(&self, _key: String) -> Result<(), Error> {
        Err(Error::AccessDenied)
    }

    fn exists(&self, _key: String) -> Result<bool, Error> {
        Err(Error::AccessDenied)
    }

    fn list_keys(&self, _cursor: Option<String>) -> Result<KeyResponse, Error> {
        Err(Error::AccessDenied)
    }
}

impl atomics::Guest for DenyAll {
    type Cas = DeniedCas;

    fn increment(_bucket: BucketBorrow<'_>, _key: String, _delta: i64) -> Result<i64, Error> {
        Err(Error::AccessDenied)
    }

    fn swap(_cas: atomics::Cas, _value: Vec<u8>) -> Result<(), CasError> {
        Err(CasError::StoreError(Error::AccessDenied))
    }
}

impl atomics::GuestCas for DeniedCas {
    fn new(_bucket: BucketBorrow<'_>, _key: String) -> Result<atomics::Cas, Error> {
        Err(Error::AccessDenied)
    }

    fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        Err(Error::AccessDenied)
    }
}

// The export glue's symbol names (`wasi:keyvalue/store@0.2.0-draft2#open`) are not valid in a
// native linker's version script: export on wasm32 only.
#[cfg(target_arch = "wasm32")]
bindings::export!(DenyAll with_types_in bindings);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    // Every other export needs a `bucket` or `cas`, which no call can create.
    #[test]
    fn open_is_denied() {
        assert!(matches!(<DenyAll as store::Guest>::open("default".to_string()), Err(Error::AccessDenied)));
    }
}
