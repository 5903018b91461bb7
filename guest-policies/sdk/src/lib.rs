//! The levee policy SDK: everything a rule plugin (a WebAssembly component of the
//! `levee:policy` world in `wit/policy.wit`) needs, and nothing that imports from the host.
//!
//! A policy crate is a `no_std` `cdylib` that implements [`Guest`] and exports it:
//!
//! ```
//! use levee_policy_sdk::{Decision, Facts, Guest, PolicyError, PolicyInfo};
//!
//! struct AlwaysApprove;
//!
//! impl Guest for AlwaysApprove {
//!     fn evaluate(_facts: Facts, _params: String) -> Result<Decision, PolicyError> {
//!         Ok(Decision::auto_approve("always-approve/all"))
//!     }
//!
//!     fn describe() -> PolicyInfo {
//!         PolicyInfo {
//!             name: "always-approve".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Never objects.".into(),
//!             params_schema: r#"{"type": "object"}"#.into(),
//!         }
//!     }
//! }
//!
//! levee_policy_sdk::export_policy!(AlwaysApprove);
//! ```
//!
//! Built with `cargo build --release --target wasm32-wasip2`, that crate is a component
//! that exports `levee:policy/rules@0.1.0` and imports nothing: on wasm32 this SDK supplies
//! the global allocator (dlmalloc over the component's own linear memory), the panic handler
//! (a trap) and `cabi_realloc`. Natively the same crate links `std`, so its decision logic
//! is unit-tested with a plain `cargo test`.
//!
//! Besides the generated types, re-exported here under short paths, the SDK has small
//! helpers: [`parse_params`], level ordering ([`ApproverLevel::rank`],
//! [`ApproverLevel::one_level_up`]), the names used in params ([`LevelName`], [`KindName`]),
//! [`CodeFlags::has`], money formatting ([`format_minor_units`], [`Money::display`]),
//! [`Decision`] constructors and [`testing::facts`] for unit tests.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

mod decisions;
mod flags;
mod levels;
mod money;
mod names;
mod params;
pub mod testing;
#[cfg(target_arch = "wasm32")]
mod wasm_runtime;

/// The bindings `wit-bindgen` generates for the `policy` world. Use the re-exports at the
/// crate root instead; this module is public only because [`export_policy!`] names it.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy",
        // The generated macro is `#[macro_export]`ed so that `export_policy!`, expanded in a
        // policy crate, can call it.
        pub_export_macro: true,
        export_macro_name: "export_policy_bindings",
        default_bindings_module: "levee_policy_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

/// Exports a type implementing [`Guest`] as the component's `levee:policy/rules` interface.
/// Call it once, at the root of a policy crate: `levee_policy_sdk::export_policy!(MyPolicy);`
///
/// It expands to the wit-bindgen export glue on wasm32 only. Natively it expands to nothing:
/// the glue's symbol names (`levee:policy/rules@0.1.0#evaluate`) are not valid in a native
/// linker's version script, and native builds exist to unit-test the policy by calling its
/// [`Guest`] methods directly.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::export_policy_bindings!($policy with_types_in $crate::bindings);
    };
}

pub use bindings::exports::levee::policy::rules::Guest;
pub use bindings::levee::policy::types::{
    ApprovalRequirement, ApproverLevel, CaseKind, CodeFlags, CustomerHistory, Decision, EvidenceKind, Facts, Money,
    Outcome, PolicyError, PolicyInfo, Route,
};

pub use money::format_minor_units;
pub use names::{KindName, LevelName};
pub use params::parse_params;
