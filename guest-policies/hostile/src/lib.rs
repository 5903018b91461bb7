//! A deliberately misbehaving rule plugin: a TEST FIXTURE for the host's sandbox tests,
//! never a policy to deploy. Its params pick the misbehaviour, `{"mode": "..."}`, and when:
//! in every `evaluate` (the default), or in `configure` (`"when": "configure"`), where the host
//! must refuse the chain rather than record anything:
//!
//! - `trap`: executes `unreachable` (natively: `unreachable!()`).
//! - `panic`: panics, which on wasm32 traps through the SDK's panic handler.
//! - `loop`: spins forever; the host must stop it with its fuel or epoch limit.
//! - `grow`: allocates and fills ever more memory until allocation fails (which traps); the
//!   host's memory limit must stop it.
//! - `malformed`: returns require-approval with `approvals_needed: 0` and an empty reason,
//!   which the host must reject as malformed output.
//! - `error`: returns `Err(Internal("hostile error"))`.
//! - `recurse`: recurses without end; the host's stack limit must stop it.
//! - `huge`: returns a decision with a 4 MiB reason and 50,000 signals, which the host must
//!   refuse as malformed output.
//! - `approve`: behaves, auto-approving with rule id `hostile/approve`.
//! - `probe` (wasm32 only): auto-approves, reporting in its signals what WASI answered for the
//!   clocks (after sleeping an hour), random bytes, environment, arguments and preopens.
//! - `stderr` (wasm32 only): writes to stdout and stderr, then traps.
//!
//! An unknown mode is `InvalidParams`.

#![no_std]

extern crate alloc;
// Natively, std supplies the panic handler and allocator (and unwinding for tests); on
// wasm32 the SDK does. The component imports WASI only for the probe modes.
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod misbehaviour;
#[cfg(target_arch = "wasm32")]
mod wasi_probe;

use alloc::string::ToString;

use levee_policy_sdk::{Decision, Facts, Policy, PolicyError, PolicyInfo, parse_params};
use serde::Deserialize;

/// `{"mode": "trap" | "panic" | "loop" | "grow" | "recurse" | "huge" | "malformed" | "error" | "approve" | "probe" | "stderr", "when": "evaluate" | "configure"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostileParams {
    mode: Mode,
    #[serde(default)]
    when: When,
}

/// When the misbehaviour happens.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum When {
    #[default]
    Evaluate,
    Configure,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    Trap,
    Panic,
    Loop,
    Grow,
    Recurse,
    Huge,
    Malformed,
    Error,
    Approve,
    Probe,
    Stderr,
}

const PARAMS_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "urn:levee:policy:hostile:params",
  "title": "levee hostile test plugin params",
  "type": "object",
  "required": ["mode"],
  "additionalProperties": false,
  "properties": {
    "mode": {"enum": ["trap", "panic", "loop", "grow", "recurse", "huge", "malformed", "error", "approve", "probe", "stderr"]},
    "when": {"enum": ["evaluate", "configure"], "default": "evaluate"}
  }
}"#;

/// The hostile test plugin, exported as the component's `rules` interface.
pub struct Hostile;

impl Policy for Hostile {
    type Params = HostileParams;

    fn configure(params: &str) -> Result<HostileParams, PolicyError> {
        let params: HostileParams = parse_params(params)?;
        if params.when == When::Configure {
            misbehave(params.mode)?;
        }
        Ok(params)
    }

    fn evaluate(_facts: &Facts, params: &HostileParams) -> Result<Decision, PolicyError> {
        match params.when {
            When::Evaluate => misbehave(params.mode),
            When::Configure => Ok(Decision::auto_approve("hostile/configured")),
        }
    }

    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "hostile".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test fixture for the host's sandbox: traps, panics, loops, exhausts \
                          memory, returns malformed output or an error, as its params say. \
                          Never deploy it."
                .to_string(),
            params_schema: PARAMS_SCHEMA.to_string(),
        }
    }
}

levee_policy_sdk::export_policy!(Hostile);

fn misbehave(mode: Mode) -> Result<Decision, PolicyError> {
    match mode {
        Mode::Trap => misbehaviour::trap(),
        Mode::Panic => panic!("hostile panic"),
        Mode::Loop => misbehaviour::spin_forever(),
        Mode::Grow => misbehaviour::grow_until_allocation_fails(),
        Mode::Recurse => {
            Ok(Decision::auto_approve(alloc::format!("hostile/depth-{}", misbehaviour::recurse_forever(0))))
        }
        Mode::Huge => Ok(misbehaviour::huge_decision()),
        Mode::Malformed => Ok(misbehaviour::malformed_decision()),
        Mode::Error => Err(PolicyError::Internal("hostile error".to_string())),
        Mode::Approve => Ok(Decision::auto_approve("hostile/approve")),
        #[cfg(target_arch = "wasm32")]
        Mode::Probe => Ok(wasi_probe::probe()),
        #[cfg(target_arch = "wasm32")]
        Mode::Stderr => wasi_probe::write_then_trap(),
        #[cfg(not(target_arch = "wasm32"))]
        Mode::Probe | Mode::Stderr => Err(PolicyError::Internal("this mode calls WASI: wasm32 only".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use levee_policy_sdk::{ApproverLevel, CaseKind, Outcome, testing};

    fn evaluate(params: &str) -> Result<Decision, PolicyError> {
        Hostile::evaluate(&testing::facts(CaseKind::Refund, 100, "USD"), &Hostile::configure(params)?)
    }

    #[test]
    fn configure_misbehaves_when_asked_to() {
        let refused = Hostile::configure(r#"{"mode": "error", "when": "configure"}"#);
        assert_eq!(refused.unwrap_err(), PolicyError::Internal("hostile error".to_string()));
        let fine = Hostile::configure(r#"{"mode": "approve", "when": "configure"}"#).unwrap();
        let decision = Hostile::evaluate(&testing::facts(CaseKind::Refund, 100, "USD"), &fine).unwrap();
        assert_eq!(decision.rule_id, "hostile/configured");
    }

    #[test]
    fn malformed_asks_for_zero_approvals_with_no_reason() {
        let decision = evaluate(r#"{"mode": "malformed"}"#).unwrap();
        let Outcome::RequireApproval(requirement) = decision.outcome else {
            panic!("expected require-approval");
        };
        assert_eq!(requirement.approvals_needed, 0);
        assert_eq!(requirement.reason, "");
        assert_eq!(requirement.level, ApproverLevel::Lead);
    }

    #[test]
    fn error_returns_an_internal_error() {
        let result = evaluate(r#"{"mode": "error"}"#);
        assert_eq!(result.unwrap_err(), PolicyError::Internal("hostile error".to_string()));
    }

    #[test]
    fn approve_auto_approves() {
        let decision = evaluate(r#"{"mode": "approve"}"#).unwrap();
        assert_eq!(decision, Decision::auto_approve("hostile/approve"));
    }

    #[test]
    #[should_panic]
    fn trap_traps() {
        let _ = evaluate(r#"{"mode": "trap"}"#);
    }

    #[test]
    #[should_panic(expected = "hostile panic")]
    fn panic_panics() {
        let _ = evaluate(r#"{"mode": "panic"}"#);
    }

    #[test]
    fn an_unknown_mode_is_invalid_params() {
        let result = evaluate(r#"{"mode": "explode"}"#);
        assert!(matches!(result, Err(PolicyError::InvalidParams(m)) if m.contains("explode")));
    }

    #[test]
    fn describe_names_the_fixture() {
        let info = Hostile::describe();
        assert_eq!(info.name, "hostile");
        serde_json::from_str::<serde_json::Value>(&info.params_schema).unwrap();
    }
}
