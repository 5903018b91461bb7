//! The wasmtime policy engine: rule plugins as WebAssembly components, each evaluation in a
//! fresh, limited instance.
//!
//! - `sandbox`: the engine configuration, the per-evaluation store and its limits, and how a
//!   failure is named.
//! - `convert`: facts and decisions between levee-core and the WIT bindings.
//! - `preinit`: a plugin configured once with its params and snapshotted (wasmtime-wizer), so
//!   each case's instance starts configured.
//! - `frozen`: plugins built against an earlier, frozen contract, forwarded to the latest.
//! - `validate`: what a plugin must be before it is loaded, each refusal named.
//! - `builtin`: the default policies, compiled from guest-policies/ by build.rs.
//! - `runner`: `levee policy test`, one plugin against fixture cases, with its resource use.
//! - `scaffold`: `levee policy new`, a plugin project on the SDK.
//! - `bench_support`: what the policy benchmark needs to run the components on bare wasmtime.

#[doc(hidden)]
pub mod bench_support;
pub mod builtin;
#[cfg(test)]
mod contract_tests;
mod convert;
mod frozen;
mod preinit;
pub mod runner;
mod sandbox;
pub mod scaffold;
pub mod validate;
mod wasi;

pub use sandbox::{LoadedPolicySpec, PolicySource, SandboxLimits, SandboxMaxima, WasmPolicyEngine};

// The latest contract, `levee:policy@0.2.0` (`wit/policy.wit`).
wasmtime::component::bindgen!({
    path: "../../wit",
    world: "policy",
});
