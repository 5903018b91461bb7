//! The levee policy SDK: everything a rule plugin (a WebAssembly component of the
//! `levee:policy` world in `wit/policy.wit`) needs, and nothing that imports from the host.
//!
//! A policy crate is a `no_std` `cdylib` that implements [`Policy`] and exports it:
//!
//! ```
//! use levee_policy_sdk::{Decision, Facts, Policy, PolicyError, PolicyInfo, parse_params};
//!
//! struct ApproveUpTo;
//!
//! #[derive(serde::Deserialize)]
//! struct Limit {
//!     up_to_minor_units: i64,
//! }
//!
//! impl Policy for ApproveUpTo {
//!     type Params = Limit;
//!
//!     fn configure(params: &str) -> Result<Limit, PolicyError> {
//!         parse_params(params)
//!     }
//!
//!     fn evaluate(facts: &Facts, limit: &Limit) -> Result<Decision, PolicyError> {
//!         if facts.amount.minor_units <= limit.up_to_minor_units {
//!             return Ok(Decision::auto_approve("approve-up-to/under"));
//!         }
//!         Ok(Decision::reject("over the limit", "approve-up-to/over"))
//!     }
//!
//!     fn describe() -> PolicyInfo {
//!         PolicyInfo {
//!             name: "approve-up-to".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Approves up to a limit.".into(),
//!             params_schema: r#"{"type": "object"}"#.into(),
//!         }
//!     }
//! }
//!
//! levee_policy_sdk::export_policy!(ApproveUpTo);
//! ```
//!
//! Built with `cargo build --release --target wasm32-wasip2`, that crate is a component
//! that exports `levee:policy/rules@0.2.0` and imports nothing: on wasm32 this SDK supplies
//! the global allocator (dlmalloc over the component's own linear memory), the panic handler
//! (a trap) and `cabi_realloc`. Natively the same crate links `std`, so its decision logic
//! is unit-tested with a plain `cargo test`, calling [`Policy::configure`] and
//! [`Policy::evaluate`] directly.
//!
//! The params are parsed once: `configure` runs when levee activates the chain, and levee
//! snapshots the configured instance, so every case's fresh instance starts with them parsed
//! ([`export_policy!`] keeps them). Parse and check everything in `configure`: what it refuses
//! refuses the chain, named, before anything is recorded.
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

mod configured;
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

/// A rule plugin: the params it takes once, how it decides a case with them, and what it says
/// of itself. [`export_policy!`] exports it as the component's `levee:policy/rules@0.2.0`.
pub trait Policy {
    /// The params, as `configure` makes them from the JSON levee gives.
    type Params: 'static;

    /// Parses and checks the params, once, before any case. An error refuses the chain that
    /// gives these params (usually `PolicyError::InvalidParams`, naming the field).
    fn configure(params: &str) -> Result<Self::Params, PolicyError>;

    /// Decides one case.
    fn evaluate(facts: &Facts, params: &Self::Params) -> Result<Decision, PolicyError>;

    /// Name, version and parameter schema.
    fn describe() -> PolicyInfo;
}

/// Exports a type implementing [`Policy`] as the component's `levee:policy/rules` interface.
/// Call it once, at the root of a policy crate: `levee_policy_sdk::export_policy!(MyPolicy);`
///
/// `configure` keeps the params in the instance's memory (which levee then snapshots);
/// `evaluate` before a successful `configure` is `PolicyError::Internal`, and a second
/// `configure` is refused.
///
/// It expands to the wit-bindgen export glue on wasm32 only. Natively it expands to nothing:
/// the glue's symbol names (`levee:policy/rules@0.2.0#evaluate`) are not valid in a native
/// linker's version script, and native builds exist to unit-test the policy by calling its
/// [`Policy`] methods directly.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        #[cfg(target_arch = "wasm32")]
        mod levee_policy_export {
            use $crate::Policy as _;

            static PARAMS: $crate::Configured<<super::$policy as $crate::Policy>::Params> = $crate::Configured::new();

            pub struct Exported;

            impl $crate::bindings::exports::levee::policy::rules::Guest for Exported {
                fn configure(params: $crate::__private::String) -> Result<(), $crate::PolicyError> {
                    PARAMS.set(super::$policy::configure(&params)?)
                }

                fn evaluate(facts: $crate::Facts) -> Result<$crate::Decision, $crate::PolicyError> {
                    super::$policy::evaluate(&facts, PARAMS.get()?)
                }

                fn describe() -> $crate::PolicyInfo {
                    super::$policy::describe()
                }
            }

            $crate::bindings::export_policy_bindings!(Exported with_types_in $crate::bindings);
        }
    };
}

#[doc(hidden)]
pub mod __private {
    pub use alloc::string::String;
}

pub use bindings::levee::policy::types::{
    ApprovalRequirement, ApproverLevel, CaseKind, CodeFlags, Decision, EvidenceKind, Facts, History, Money, Outcome,
    PolicyError, PolicyInfo, RefundsGranted, Route,
};
pub use configured::Configured;

pub use money::format_minor_units;
pub use names::{KindName, LevelName};
pub use params::parse_params;
