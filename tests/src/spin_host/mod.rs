//! The Spin backend of the black-box tests (`LEVEE_TEST_BACKEND=spin`): no Spin binary can be
//! installed here, so the tests host the levee-spin component (host/spin, built by build.rs)
//! under the wasmtime crates, as Spin would: composed with its rule plugins (compose.rs), held to
//! the imports Spin provides (imports.rs), served per request over HTTP (server.rs) with Spin's
//! key-value store (kv.rs), variables (variables.rs) and a wall clock from levee's clock port
//! (clock.rs).

mod bindings;
pub mod clock;
pub mod compose;
pub mod imports;
pub mod kv;
pub mod server;
pub mod variables;

use std::sync::OnceLock;

pub use compose::{Configuration, compose, compose_with};
pub use imports::check_imports;
pub use kv::KvStore;
pub use server::{SpinConfig, SpinServer, start};

/// Where build.rs left the levee-spin component.
pub const LEVEE_SPIN_WASM: &str = env!("LEVEE_SPIN_WASM");

/// The slots of the levee component and the built-in plugins spin.toml puts in them, in chain
/// order.
pub const DEFAULT_PLUGINS: &[&str] = &["threshold", "routing"];

/// levee-spin composed with the built-in threshold and routing plugins, as `spin build` +
/// spin.toml's dependencies make it; composed once per process.
pub fn composed_levee() -> anyhow::Result<Vec<u8>> {
    static COMPOSED: OnceLock<Result<Vec<u8>, String>> = OnceLock::new();
    let composed = COMPOSED.get_or_init(|| {
        let component = std::fs::read(LEVEE_SPIN_WASM).map_err(|error| format!("read {LEVEE_SPIN_WASM}: {error}"))?;
        let plugins: Vec<(&str, &[u8])> = DEFAULT_PLUGINS
            .iter()
            .map(|name| (*name, levee::policy::builtin::by_name(name).expect("a built-in plugin")))
            .collect();
        compose(&component, &plugins).map_err(|error| format!("{error:#}"))
    });
    composed.clone().map_err(|error| anyhow::anyhow!("{error}"))
}

#[cfg(test)]
mod tests;
