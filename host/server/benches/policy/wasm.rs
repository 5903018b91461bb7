//! The built-in components on bare wasmtime, for comparison with levee's engine: the same
//! components, the same bindings and conversions, the same engine settings and pooling
//! allocator, but none of levee's bookkeeping and, unless asked, none of the sandbox's limits
//! (no fuel, no epoch deadline, no memory limiter). `fresh` makes a new instance of each policy
//! for each case, in one store per case, which is the least a fresh-instance design can cost;
//! `fresh_metered` does the same with fuel and epoch interruption on, to show what those cost;
//! `reused` keeps one instance of each policy for every case, which fresh instances give up.
//! Every line runs the components levee runs: configured once with their params and
//! snapshotted (`configured_snapshot`).

use anyhow::{Context, anyhow};
use levee::policy::bench_support::{bare_config, configured_snapshot, decision_from_wit, facts_to_wit};
use levee::policy::levee::policy::types as wit;
use levee::policy::{Policy, PolicyPre, builtin};
use levee_core::engine::{Facts, PolicyDecision};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};

use crate::Chain;

/// levee's default budget of fuel per evaluation.
const FUEL: u64 = 10_000_000;

/// Both policies configured with their params and snapshotted as levee does it (so each
/// instance starts with its params parsed), pre-instantiated on an engine with or without fuel
/// and epoch interruption.
struct Components {
    engine: Engine,
    policies: Vec<PolicyPre<()>>,
    metered: bool,
}

impl Components {
    fn load(
        threshold_params: &serde_json::Value,
        routing_params: &serde_json::Value,
        metered: bool,
    ) -> anyhow::Result<Self> {
        let mut config = bare_config()?;
        config.consume_fuel(metered).epoch_interruption(metered);
        let engine = Engine::new(&config).map_err(|error| anyhow!("{error}"))?;
        let linker = Linker::<()>::new(&engine);
        let policies = [(builtin::THRESHOLD, threshold_params), (builtin::ROUTING, routing_params)]
            .into_iter()
            .map(|(bytes, params)| {
                let configured = configured_snapshot(bytes, params).context("configure")?;
                let component = Component::new(&engine, &configured).map_err(|error| anyhow!("{error}"))?;
                let pre = linker.instantiate_pre(&component).map_err(|error| anyhow!("{error}"))?;
                PolicyPre::new(pre).map_err(|error| anyhow!("{error}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Components { engine, policies, metered })
    }

    /// A store for one case; when metered, with levee's fuel and a deadline that is never
    /// reached (no epoch ticks here).
    fn store(&self) -> Store<()> {
        let mut store = Store::new(&self.engine, ());
        if self.metered {
            let _ = store.set_fuel(FUEL);
            store.set_epoch_deadline(u64::MAX / 2);
        }
        store
    }
}

fn call(policy: &Policy, store: &mut Store<()>, facts: &wit::Facts) -> PolicyDecision {
    let answer = policy.levee_policy_rules().call_evaluate(&mut *store, facts).expect("the policy runs");
    decision_from_wit(answer.unwrap_or_else(|error| panic!("the policy refused the case: {error:?}")))
}

/// A fresh instance of each policy per case.
pub struct Fresh(Components);

pub fn fresh(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> anyhow::Result<Fresh> {
    Ok(Fresh(Components::load(threshold_params, routing_params, false)?))
}

/// The same with fuel and epoch interruption compiled in and set on each store.
pub fn fresh_metered(
    threshold_params: &serde_json::Value,
    routing_params: &serde_json::Value,
) -> anyhow::Result<Fresh> {
    Ok(Fresh(Components::load(threshold_params, routing_params, true)?))
}

impl Chain for Fresh {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let wit_facts = facts_to_wit(facts);
        let mut store = self.0.store();
        self.0
            .policies
            .iter()
            .map(|pre| {
                let policy = pre.instantiate(&mut store).expect("a pooled instance");
                call(&policy, &mut store, &wit_facts)
            })
            .collect()
    }
}

/// One instance of each policy, made once and called for every case.
pub struct Reused {
    store: Store<()>,
    policies: Vec<Policy>,
}

pub fn reused(threshold_params: &serde_json::Value, routing_params: &serde_json::Value) -> anyhow::Result<Reused> {
    let components = Components::load(threshold_params, routing_params, false)?;
    let mut store = components.store();
    let policies = components
        .policies
        .into_iter()
        .map(|pre| pre.instantiate(&mut store).map_err(|error| anyhow!("{error}")))
        .collect::<anyhow::Result<_>>()?;
    Ok(Reused { store, policies })
}

impl Chain for Reused {
    fn decide(&mut self, facts: &Facts) -> Vec<PolicyDecision> {
        let wit_facts = facts_to_wit(facts);
        self.policies.iter().map(|policy| call(policy, &mut self.store, &wit_facts)).collect()
    }
}
