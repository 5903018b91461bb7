//! The built-in policies' own Rust (guest-policies/threshold and routing, which also build
//! natively for their unit tests), called as plain functions: the reference for what the rules
//! themselves cost. Like the components, the params are parsed once (`configure`), and each case
//! only decides.

use levee_core::engine::{Facts, PolicyDecision};
use levee_policy_sdk::Policy;
use levee_routing::Routing;
use levee_threshold::Threshold;

use crate::Chain;

/// Facts and decisions between levee-core and the SDK's bindings: the hosts' own conversion.
#[allow(dead_code)]
mod convert {
    use levee_policy_sdk as wit;
    include!("../../../../wit/convert.rs");
}

/// Both policies' params, as their `configure` made them from what levee passes.
pub struct NativeChain {
    threshold_params: <Threshold as Policy>::Params,
    routing_params: <Routing as Policy>::Params,
}

impl NativeChain {
    pub fn new(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> Self {
        fn refused<T>(error: levee_policy_sdk::PolicyError) -> T {
            panic!("params refused: {error:?}")
        }
        NativeChain {
            threshold_params: Threshold::configure(&threshold_params.to_string()).unwrap_or_else(refused),
            routing_params: Routing::configure(&routing_params.to_string()).unwrap_or_else(refused),
        }
    }
}

impl Chain for NativeChain {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let wit_facts = convert::facts_to_wit(facts);
        let threshold = Threshold::evaluate(&wit_facts, &self.threshold_params);
        let routing = Routing::evaluate(&wit_facts, &self.routing_params);
        [threshold, routing]
            .into_iter()
            .map(|answer| convert::decision_from_wit(answer.unwrap_or_else(|error| panic!("refused: {error:?}"))))
            .collect()
    }
}
