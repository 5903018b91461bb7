//! The built-in policies' own Rust (guest-policies/threshold and routing, which also build
//! natively for their unit tests), called as plain functions: the reference for what the rules
//! themselves cost. Like the components, each call parses its JSON params, since that is what
//! the plugins' `evaluate` does.

use levee_core::engine::{Facts, PolicyDecision};
use levee_policy_sdk::Guest;
use levee_routing::Routing;
use levee_threshold::Threshold;

use crate::Chain;

/// Facts and decisions between levee-core and the SDK's bindings: the hosts' own conversion.
#[allow(dead_code)]
mod convert {
    use levee_policy_sdk as wit;
    include!("../../../../wit/convert.rs");
}

/// Both policies' params, as levee passes them.
pub struct NativeChain {
    threshold_params: String,
    routing_params: String,
}

impl NativeChain {
    pub fn new(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> Self {
        NativeChain { threshold_params: threshold_params.to_string(), routing_params: routing_params.to_string() }
    }
}

impl Chain for NativeChain {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let threshold = Threshold::evaluate(convert::facts_to_wit(facts), self.threshold_params.clone());
        let routing = Routing::evaluate(convert::facts_to_wit(facts), self.routing_params.clone());
        [threshold, routing]
            .into_iter()
            .map(|answer| convert::decision_from_wit(answer.unwrap_or_else(|error| panic!("refused: {error:?}"))))
            .collect()
    }
}
