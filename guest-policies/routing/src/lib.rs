//! The routing policy: maps a case's exception code to the queue and team that own it and
//! their SLA. It never objects (its outcome is always auto-approve, "no objection"); it only
//! gives routing advice. Params (parsed and checked once, in `configure`):
//!
//! ```json
//! {"default": {"queue": "approvals", "team": "support-ops", "sla_minutes": 1440},
//!  "codes": {"DUPLICATE_CHARGE": {"queue": "billing-approvals", "team": "billing-ops",
//!                                 "sla_minutes": 480}}}
//! ```

#![no_std]

extern crate alloc;
// Natively, std supplies the panic handler and allocator (and unwinding for tests); on
// wasm32 the SDK does, and the component imports nothing.
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod params;

use alloc::format;
use alloc::string::ToString;
use alloc::vec;

use levee_policy_sdk::{Decision, Facts, Policy, PolicyError, PolicyInfo, parse_params};

use crate::params::{PARAMS_SCHEMA, RoutingParams};

/// The signal given when a code has no entry and the default route was used.
pub const UNROUTED_CODE_SIGNAL: &str = "unrouted-code";

/// The routing policy, exported as the component's `rules` interface.
pub struct Routing;

impl Policy for Routing {
    type Params = RoutingParams;

    fn configure(params: &str) -> Result<RoutingParams, PolicyError> {
        let params: RoutingParams = parse_params(params)?;
        params.validate()?;
        Ok(params)
    }

    fn evaluate(facts: &Facts, params: &RoutingParams) -> Result<Decision, PolicyError> {
        Ok(route_case(facts, params))
    }

    fn describe() -> PolicyInfo {
        PolicyInfo {
            name: "routing".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Routes a case to the queue and team that own its exception code, \
                          with their SLA; never objects to the case."
                .to_string(),
            params_schema: PARAMS_SCHEMA.to_string(),
        }
    }
}

levee_policy_sdk::export_policy!(Routing);

/// The decision for `facts`: no objection, plus the code's route or the default one.
fn route_case(facts: &Facts, params: &RoutingParams) -> Decision {
    let code = facts.exception_code.as_str();
    match params.codes.get(code) {
        Some(route) => {
            Decision { route: Some(route.to_route()), ..Decision::auto_approve(format!("routing/code/{code}")) }
        }
        None => Decision {
            route: Some(params.default.to_route()),
            signals: vec![UNROUTED_CODE_SIGNAL.to_string()],
            ..Decision::auto_approve("routing/default")
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use levee_policy_sdk::{CaseKind, Outcome, Route, testing};

    const PARAMS: &str = r#"{
        "default": {"queue": "approvals", "team": "support-ops", "sla_minutes": 1440},
        "codes": {"DUPLICATE_CHARGE": {"queue": "billing-approvals", "team": "billing-ops",
                                       "sla_minutes": 480}}
    }"#;

    fn evaluate_code(code: &str, params: &str) -> Result<Decision, PolicyError> {
        let mut facts = testing::facts(CaseKind::Refund, 40_000, "USD");
        facts.exception_code = code.to_string();
        Routing::evaluate(&facts, &Routing::configure(params)?)
    }

    #[test]
    fn a_known_code_routes_to_its_owner() {
        let decision = evaluate_code("DUPLICATE_CHARGE", PARAMS).unwrap();
        assert_eq!(decision.outcome, Outcome::AutoApprove);
        assert_eq!(decision.rule_id, "routing/code/DUPLICATE_CHARGE");
        let expected =
            Route { queue: "billing-approvals".to_string(), team: "billing-ops".to_string(), sla_minutes: 480 };
        assert_eq!(decision.route, Some(expected));
        assert!(decision.signals.is_empty());
        assert!(decision.required_evidence.is_empty());
    }

    #[test]
    fn an_unknown_code_takes_the_default_route() {
        let decision = evaluate_code("LOST_PARCEL", PARAMS).unwrap();
        assert_eq!(decision.outcome, Outcome::AutoApprove);
        assert_eq!(decision.rule_id, "routing/default");
        let route = decision.route.unwrap();
        assert_eq!((route.queue.as_str(), route.sla_minutes), ("approvals", 1440));
        assert_eq!(decision.signals, [UNROUTED_CODE_SIGNAL]);
    }

    #[test]
    fn codes_are_optional() {
        let params = r#"{"default": {"queue": "q", "team": "t", "sla_minutes": 60}}"#;
        let decision = evaluate_code("DUPLICATE_CHARGE", params).unwrap();
        assert_eq!(decision.rule_id, "routing/default");
    }

    #[test]
    fn params_without_a_default_are_invalid() {
        let result = evaluate_code("DUPLICATE_CHARGE", r#"{"codes": {}}"#);
        assert!(matches!(result, Err(PolicyError::InvalidParams(m)) if m.contains("default")));
    }

    #[test]
    fn an_empty_queue_is_invalid() {
        let params = r#"{"default": {"queue": "", "team": "t", "sla_minutes": 60}}"#;
        let result = evaluate_code("X", params);
        assert!(matches!(result, Err(PolicyError::InvalidParams(m)) if m.contains("queue")));
    }

    #[test]
    fn describe_names_the_policy_and_gives_a_json_schema() {
        let info = Routing::describe();
        assert_eq!(info.name, "routing");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        let schema: serde_json::Value = serde_json::from_str(&info.params_schema).unwrap();
        assert_eq!(schema["required"][0], "default");
    }
}
