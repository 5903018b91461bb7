//! A TEST FIXTURE, never a policy to deploy: a rule plugin built against the frozen contract
//! `levee:policy@0.1.0` (`wit/frozen/v0.1.0`), with its own bindings, as a team's plugin built
//! before 0.2.0 was. levee must keep loading it and deciding with it unchanged: the params go
//! with every `evaluate`, and the facts are 0.1.0's (customer history only).
//!
//! Params: `{"tag": "...", "repeat_refunds": N}`. A refund whose customer had at least N refunds
//! in 90 days asks for lead approval, naming them and their total; anything else auto-approves.
//! Both rule ids carry the tag, so a test sees the params reached this call.

#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Deserialize;

wit_bindgen::generate!({ path: "../../wit/frozen/v0.1.0", world: "policy" });

use exports::levee::policy::rules::Guest;
use levee::policy::types::{
    ApprovalRequirement, ApproverLevel, CaseKind, Decision, Facts, Outcome, PolicyError, PolicyInfo,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    tag: String,
    repeat_refunds: u32,
}

pub struct FrozenV0_1;

impl Guest for FrozenV0_1 {
    fn evaluate(facts: Facts, params: String) -> Result<Decision, PolicyError> {
        let params: Params = serde_json::from_str(&params)
            .map_err(|error| PolicyError::InvalidParams(format!("params do not parse: {error}")))?;
        let history = &facts.history;
        let repeat = facts.kind == CaseKind::Refund && history.refunds_90d >= params.repeat_refunds;
        let outcome = if repeat {
            Outcome::RequireApproval(ApprovalRequirement {
                level: ApproverLevel::Lead,
                approvals_needed: 1,
                sla_minutes: None,
                reason: format!(
                    "{} refunds in 90 days, {} minor units in all",
                    history.refunds_90d, history.refunded_90d_minor_units
                ),
            })
        } else {
            Outcome::AutoApprove
        };
        let rule = if repeat { "repeat" } else { "fine" };
        Ok(Decision {
            outcome,
            required_evidence: Vec::new(),
            route: None,
            signals: Vec::new(),
            rule_id: format!("frozen-v0-1/{}/{rule}", params.tag),
        })
    }

    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "frozen-v0-1".to_string(),
            version: "0.1.0".to_string(),
            description: "Test fixture: a plugin on the frozen levee:policy@0.1.0 contract. Never deploy it."
                .to_string(),
            params_schema: r#"{"type": "object", "required": ["tag", "repeat_refunds"]}"#.to_string(),
        }
    }
}

#[cfg(target_arch = "wasm32")]
export!(FrozenV0_1);

// The SDK is linked for its wasm32 runtime only.
use levee_policy_sdk as _;
