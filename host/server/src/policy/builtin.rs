//! The default rule plugins, built from guest-policies/ by build.rs and embedded in the binary.

/// The approval-matrix policy (guest-policies/threshold).
pub const THRESHOLD: &[u8] = include_bytes!(env!("LEVEE_THRESHOLD_WASM"));
/// Exception code → queue, owning team and SLA (guest-policies/routing).
pub const ROUTING: &[u8] = include_bytes!(env!("LEVEE_ROUTING_WASM"));

/// Where build.rs left the deliberately hostile test plugin (guest-policies/hostile). It is not
/// embedded: only the sandbox tests load it, by path.
#[doc(hidden)]
pub const HOSTILE_WASM_PATH: &str = env!("LEVEE_HOSTILE_WASM");

/// Where build.rs left the key-value snooping test plugin (guest-policies/kv-snooper). It is not
/// embedded: only the isolation test of levee on Spin (tests/api/spin.rs) loads it, by path.
#[doc(hidden)]
pub const KV_SNOOPER_WASM_PATH: &str = env!("LEVEE_KV_SNOOPER_WASM");

/// Where build.rs left the test plugin built against the frozen `levee:policy@0.1.0`
/// (guest-policies/frozen-v0-1). Not embedded: only the tests of old plugins load it, by path.
#[doc(hidden)]
pub const FROZEN_V0_1_WASM_PATH: &str = env!("LEVEE_FROZEN_V0_1_WASM");

/// The bytes of a built-in policy by name.
pub fn by_name(name: &str) -> Option<&'static [u8]> {
    match name {
        "threshold" => Some(THRESHOLD),
        "routing" => Some(ROUTING),
        _ => None,
    }
}
