//! What the policy benchmark (`benches/policy.rs`) needs to run levee's built-in components on
//! bare wasmtime beside the engine: the engine's settings without the sandbox's limits, and the
//! conversions between levee's facts and decisions and the WIT bindings. Not an API: hidden
//! from the documentation, and nothing else uses it.

pub use super::convert::{decision_from_wit, facts_to_wit};
pub use super::sandbox::configured_snapshot;
use super::sandbox::{SandboxMaxima, bare_config as bare_config_with_ceiling};

/// The settings of the engine `levee serve` builds with the default limits (its pooling
/// allocator included), without fuel and epoch interruption.
pub fn bare_config() -> anyhow::Result<wasmtime::Config> {
    bare_config_with_ceiling(SandboxMaxima::default().memory_bytes)
}
