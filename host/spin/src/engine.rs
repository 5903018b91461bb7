//! The policy-engine port over the rule plugins spin.toml plugs into this component's slots
//! (`threshold`, then `routing`), as component dependencies that inherit no configuration.
//!
//! What differs from the native sandbox (docs/spin.md): the plugins run inside this
//! component's instance, so a plugin that traps fails the whole request (500, nothing
//! written) and Spin's per-request limits bound its time and memory, not levee's per-plugin
//! fuel, deadline and memory cap. The component cannot read its dependencies' bytes, so a
//! plugin's digest is the SHA-256 of what it says of itself (`describe()`), and the bytes are
//! pinned by the deployed Spin application. Uploads are refused: a plugin is deployed, not
//! uploaded.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use levee_core::engine::{ChainKey, ChainPlugin, Facts, PluginInfo, PolicyEngine, PolicyEvaluation, PolicyIdentity};
use levee_core::ledger::sha256_of_json;

use crate::bindings::levee::policy::types as wit;
use crate::bindings::{routing, threshold};

/// Facts and decisions between levee-core's types and these bindings (shared with the native host).
mod convert {
    use crate::bindings::levee::policy::types as wit;

    include!("../../../wit/convert.rs");
}
use convert::{decision_from_wit, facts_to_wit, policy_error_from_wit};

/// The plugin slots, in chain order.
pub const SLOTS: [&str; 2] = ["threshold", "routing"];

/// Why an upload cannot work here, and what to do instead.
pub const UPLOADS_REFUSED: &str = "levee on Spin cannot load uploaded components at run time: a rule plugin is a \
    component dependency of the levee component. Build it for wasm32-wasip2 (exporting levee:policy/rules@0.1.0), \
    point its slot in spin.toml at the file (`threshold = { path = \"…\", export = \"levee:policy/rules@0.1.0\" }` \
    under [component.levee.dependencies]) and redeploy (docs/spin.md)";

/// One slot's calls.
struct Slot {
    evaluate: fn(&wit::Facts, &str) -> Result<wit::Decision, wit::PolicyError>,
    describe: fn() -> wit::PolicyInfo,
}

fn slot(name: &str) -> Option<Slot> {
    match name {
        "threshold" => Some(Slot { evaluate: threshold::evaluate, describe: threshold::describe }),
        "routing" => Some(Slot { evaluate: routing::evaluate, describe: routing::describe }),
        _ => None,
    }
}

/// The plugged-in chain, with each slot's parameters.
pub struct SlotEngine {
    loaded: Mutex<(ChainKey, BTreeMap<String, String>)>,
}

impl SlotEngine {
    /// The chain from the configuration (key 0), with each slot's parameters as JSON.
    pub fn new(params: impl Fn(&str) -> serde_json::Value) -> SlotEngine {
        let params = SLOTS.iter().map(|name| ((*name).to_owned(), params(name).to_string())).collect();
        SlotEngine { loaded: Mutex::new((ChainKey::default(), params)) }
    }

    fn params(&self) -> BTreeMap<String, String> {
        self.loaded.lock().map(|loaded| loaded.1.clone()).unwrap_or_default()
    }
}

fn identity(name: &str, info: &wit::PolicyInfo) -> PolicyIdentity {
    let described = serde_json::json!({
        "slot": name, "name": info.name, "version": info.version,
        "description": info.description, "params_schema": info.params_schema,
    });
    PolicyIdentity { name: name.to_owned(), version: info.version.clone(), digest: sha256_of_json(&described) }
}

impl PolicyEngine for SlotEngine {
    fn chain(&self) -> Vec<PolicyIdentity> {
        SLOTS.iter().filter_map(|name| slot(name).map(|slot| identity(name, &(slot.describe)()))).collect()
    }

    fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation> {
        let params = self.params();
        let wit_facts = facts_to_wit(facts);
        SLOTS
            .iter()
            .filter_map(|name| slot(name).map(|slot| (name, slot)))
            .map(|(name, slot)| {
                let policy = identity(name, &(slot.describe)());
                let started = Instant::now();
                let answer = (slot.evaluate)(&wit_facts, params.get(*name).map(String::as_str).unwrap_or("{}"));
                PolicyEvaluation {
                    policy,
                    result: answer.map(decision_from_wit).map_err(policy_error_from_wit),
                    fuel_used: 0,
                    elapsed_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    peak_memory_bytes: 0,
                }
            })
            .collect()
    }

    fn accepts_uploads(&self) -> Result<(), String> {
        Err(UPLOADS_REFUSED.to_owned())
    }

    fn inspect(&self, _bytes: &[u8]) -> Result<PluginInfo, String> {
        Err(UPLOADS_REFUSED.to_owned())
    }

    fn is_builtin(&self, name: &str) -> bool {
        SLOTS.contains(&name)
    }

    /// A chain of the slots' plugins, each with new parameters (the taxonomy changed, or a chain
    /// of them was activated). A chain that names anything else cannot run here.
    fn load_chain(&self, chain: Vec<ChainPlugin>, key: ChainKey) -> Result<(), String> {
        let names: Vec<&str> = chain.iter().map(|plugin| plugin.name.as_str()).collect();
        if names != SLOTS || chain.iter().any(|plugin| plugin.bytes.is_some()) {
            return Err(format!("levee on Spin runs its slots {SLOTS:?} in order, not the chain {names:?}"));
        }
        let params = chain.into_iter().map(|plugin| (plugin.name, plugin.params.to_string())).collect();
        let mut loaded = self.loaded.lock().map_err(|_| "the engine's lock is poisoned".to_owned())?;
        *loaded = (key, params);
        Ok(())
    }

    fn loaded_chain(&self) -> ChainKey {
        self.loaded.lock().map(|loaded| loaded.0).unwrap_or_default()
    }

    fn load_shadow(&self, chain: Option<Vec<ChainPlugin>>, _key: ChainKey) -> Result<(), String> {
        match chain {
            None => Ok(()),
            Some(_) => Err("levee on Spin has no shadow chain: its plugins are fixed at deploy time".to_owned()),
        }
    }

    fn loaded_shadow(&self) -> ChainKey {
        ChainKey::default()
    }

    fn evaluate_shadow(&self, _facts: &Facts) -> Option<Vec<PolicyEvaluation>> {
        None
    }

    fn evaluate_candidate(
        &self,
        _chain: Vec<ChainPlugin>,
        _facts: &[Facts],
    ) -> Result<Vec<Vec<PolicyEvaluation>>, String> {
        Err("levee on Spin cannot backtest a candidate chain: its plugins are fixed at deploy time".to_owned())
    }
}
