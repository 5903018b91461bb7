//! A rule plugin that reaches for the key-value store: a TEST FIXTURE for the isolation tests
//! of levee on Spin (docs/spin.md, "Isolation"), never a policy to deploy.
//!
//! Besides exporting `levee:policy/rules@0.1.0` like every plugin, it imports
//! `wasi:keyvalue/store@0.2.0-draft2`, Spin's key-value store. Plugged into a policy runner on
//! Spin, it must get nothing: the runner's component is granted no store, and a dependency
//! inherits none of its component's configuration. Its `evaluate` ignores the facts and params
//! and:
//!
//! - calls `open("default")`;
//! - on `Ok(bucket)` (the store was reached: isolation failed), reads `ledger/head`, writes
//!   `snooped/<case-id>` = `b"snooper was here"` and auto-approves with rule id
//!   `kv-snooper/reached-store` and the signal `store-reached:<length of ledger/head's value,
//!   or "absent">`;
//! - on `Err(e)` (isolation held), returns `Err(Internal("the key-value store refused:
//!   Error::AccessDenied"))`, naming the error variant (wit-bindgen's `Debug` form). A refused
//!   read or write after a successful open is reported the same way.
//!
//! Like the other plugins it is `no_std` and the SDK supplies its wasm32 runtime, so its only
//! imports are the store and the types-only `levee:policy/types@0.1.0`.

#![no_std]

extern crate alloc;
// Natively, std supplies the panic handler and allocator (and unwinding for tests); on
// wasm32 the SDK does.
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use levee_policy_sdk::{Decision, Facts, Policy, PolicyError, PolicyInfo};

/// The bindings for the store import. Natively its functions are stubs that panic: only the
/// pure helpers below are unit-tested.
mod bindings {
    wit_bindgen::generate!({
        inline: "
            package levee:kv-snooper;

            world kv-snooper {
                import wasi:keyvalue/store@0.2.0-draft2;
            }
        ",
        path: "../wit/keyvalue-2024-10-17",
        world: "levee:kv-snooper/kv-snooper",
        with: { "wasi:keyvalue/store@0.2.0-draft2": generate },
    });
}

use bindings::wasi::keyvalue::store;

/// The store the levee component keeps everything in (spin.toml's `key_value_stores`).
pub const STORE: &str = "default";
/// The key read from the store: the head of levee's ledger.
pub const READ_KEY: &str = "ledger/head";
/// The prefix of the key written, followed by the case id.
pub const WRITE_PREFIX: &str = "snooped/";
/// The value written.
pub const WRITTEN_VALUE: &[u8] = b"snooper was here";
/// The rule id of the decision returned when the store was reached.
pub const REACHED_RULE_ID: &str = "kv-snooper/reached-store";

/// The snooper, exported as the component's `rules` interface.
pub struct KvSnooper;

impl Policy for KvSnooper {
    type Params = ();

    fn configure(_params: &str) -> Result<(), PolicyError> {
        Ok(())
    }

    fn evaluate(facts: &Facts, _params: &()) -> Result<Decision, PolicyError> {
        let bucket = store::open(STORE).map_err(refused)?;
        let head = bucket.get(READ_KEY).map_err(refused)?;
        bucket.set(&written_key(&facts.case_id), WRITTEN_VALUE).map_err(refused)?;
        Ok(reached(head.as_deref()))
    }

    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "kv-snooper".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test fixture for plugin isolation: tries to read and write the key-value \
                          store and reports whether it could. Never deploy it."
                .to_string(),
            params_schema: r#"{"type": "object"}"#.to_string(),
        }
    }
}

levee_policy_sdk::export_policy!(KvSnooper);

/// `snooped/<case-id>`.
fn written_key(case_id: &str) -> String {
    format!("{WRITE_PREFIX}{case_id}")
}

/// The decision when the store answered: auto-approve, reporting what `ledger/head` held.
fn reached(head: Option<&[u8]>) -> Decision {
    let seen = head.map_or_else(|| "absent".to_string(), |value| value.len().to_string());
    let mut decision = Decision::auto_approve(REACHED_RULE_ID);
    decision.signals = Vec::from([format!("store-reached:{seen}")]);
    decision
}

/// The error when the store refused: `Internal("the key-value store refused: Error::AccessDenied")`.
fn refused(error: store::Error) -> PolicyError {
    PolicyError::Internal(format!("the key-value store refused: {error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_policy_sdk::Outcome;

    #[test]
    fn reaching_the_store_auto_approves_and_says_what_it_saw() {
        let decision = reached(Some(b"0123456789"));
        assert_eq!(decision.outcome, Outcome::AutoApprove);
        assert_eq!(decision.rule_id, "kv-snooper/reached-store");
        assert_eq!(decision.signals, ["store-reached:10"]);
        assert_eq!(reached(None).signals, ["store-reached:absent"]);
    }

    #[test]
    fn a_refusal_names_the_error_variant() {
        let error = refused(store::Error::AccessDenied);
        assert_eq!(error, PolicyError::Internal("the key-value store refused: Error::AccessDenied".to_string()));
    }

    #[test]
    fn writes_under_the_case_id() {
        assert_eq!(written_key("c-42"), "snooped/c-42");
    }

    #[test]
    fn describe_names_the_fixture() {
        let info = KvSnooper::describe();
        assert_eq!(info.name, "kv-snooper");
    }
}
