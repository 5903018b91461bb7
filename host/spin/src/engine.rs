//! The policy-engine port on Spin: each rule plugin runs in a component of its own (the policy
//! runner, `policy-runner/`, with the plugin plugged in as its dependency), and levee calls it
//! through Spin's local service chaining, `POST http://policy-<name>.spin.internal/evaluate`.
//!
//! A plugin that traps ends only its own instance: Spin answers the call 500 and levee records
//! the case as failed closed, as `levee serve`'s sandbox does. A plugin that does not answer
//! within its deadline fails closed the same way. Limits (docs/spin.md): Spin 4 sets no
//! execution deadline on an instance, so a plugin that loops keeps running on a worker thread
//! after levee has stopped waiting for it; memory is capped per instance by Spin's
//! `max_instance_memory` (runtime config or `--max-instance-memory`), not per plugin; there is
//! no fuel. The runner names the plugin by the SHA-256 of its file. Uploads are refused: a
//! plugin is deployed with the application, not uploaded.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use levee_core::engine::{
    ChainKey, ChainPlugin, Facts, PluginInfo, PolicyEngine, PolicyEvaluation, PolicyFailure, PolicyIdentity,
    RemoteDecision, RemoteEvaluation,
};

use crate::outbound::{self, Answer};

/// The chain when the `policies` variable is empty: levee's built-in plugins.
pub const BUILTIN: [&str; 2] = ["threshold", "routing"];

/// How long levee waits for a plugin's answer when its chain link sets no `deadline_ms`. Longer
/// than `levee serve`'s 100 ms: it also covers Spin making the runner's instance, and requests
/// queued behind others on a busy host.
const DEFAULT_DEADLINE_MS: u64 = 2_000;

/// Why an upload cannot work here, and what to do instead.
pub const UPLOADS_REFUSED: &str = "levee on Spin cannot load uploaded components at run time: a rule plugin is \
    deployed with the application as a component of its own. Build it for wasm32-wasip2 (exporting \
    levee:policy/rules@0.1.0), add a `policy-<name>` component to spin.toml that plugs it into the policy runner, \
    grant levee `http://policy-<name>.spin.internal`, name it in the `policies` variable and redeploy (docs/spin.md)";

/// One plugin of the chain as levee calls it.
#[derive(Debug, Clone)]
struct Link {
    name: String,
    /// `None`: the runner's own (`params` variable of its component).
    params: Option<serde_json::Value>,
    deadline_ms: u64,
}

/// The chain of plugin components.
pub struct ChainedEngine {
    loaded: Mutex<(ChainKey, Vec<Link>)>,
}

impl ChainedEngine {
    /// The chain the `policies` variable names (comma-separated, in order); the built-in
    /// plugins if it is empty.
    pub fn chain_from(variable: Option<&str>) -> Result<Vec<String>, String> {
        let names: Vec<String> = variable
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return Ok(BUILTIN.iter().map(|name| (*name).to_owned()).collect());
        }
        if let Some(bad) = names.iter().find(|name| !is_component_name(name)) {
            return Err(format!(
                "the `policies` variable names {bad:?}: a plugin's name is lower-case letters, digits and '-' \
                 (its component is policy-<name>)"
            ));
        }
        Ok(names)
    }

    /// The chain from the configuration (key 0), with the built-in plugins' parameters.
    pub fn new(chain: Vec<String>, params: impl Fn(&str) -> serde_json::Value) -> ChainedEngine {
        let links = chain
            .into_iter()
            .map(|name| {
                let params = BUILTIN.contains(&name.as_str()).then(|| params(&name));
                Link { name, params, deadline_ms: DEFAULT_DEADLINE_MS }
            })
            .collect();
        ChainedEngine { loaded: Mutex::new((ChainKey::default(), links)) }
    }

    fn links(&self) -> Vec<Link> {
        self.loaded.lock().map(|loaded| loaded.1.clone()).unwrap_or_default()
    }
}

fn is_component_name(name: &str) -> bool {
    name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && name.starts_with(|first: char| first.is_ascii_lowercase())
}

/// The runner of plugin `name`.
fn authority(name: &str) -> String {
    format!("policy-{name}.spin.internal")
}

/// The plugin behind `link` as its runner describes it; if the runner cannot say, by its name
/// alone (version "unknown", no digest).
fn identify(link: &Link) -> PolicyIdentity {
    let deadline = Duration::from_millis(link.deadline_ms);
    let described = match outbound::call(&authority(&link.name), "GET", "/describe", &[], deadline) {
        Answer::Status(200, body) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|described| serde_json::from_value::<PolicyIdentity>(described["policy"].clone()).ok()),
        _ => None,
    };
    match described {
        Some(policy) => PolicyIdentity { name: link.name.clone(), ..policy },
        None => PolicyIdentity { name: link.name.clone(), version: "unknown".to_owned(), digest: String::new() },
    }
}

fn evaluate_link(link: &Link, facts: &Facts) -> PolicyEvaluation {
    let started = Instant::now();
    let asked = RemoteEvaluation { facts: facts.clone(), params: link.params.clone() };
    let (policy, result) = match serde_json::to_vec(&asked) {
        Err(error) => (identify(link), Err(PolicyFailure::Unavailable { message: error.to_string() })),
        Ok(body) => {
            let deadline = Duration::from_millis(link.deadline_ms);
            decided(link, outbound::call(&authority(&link.name), "POST", "/evaluate", &body, deadline))
        }
    };
    PolicyEvaluation {
        policy,
        result,
        fuel_used: 0,
        elapsed_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        peak_memory_bytes: 0,
    }
}

/// What the runner's answer means for the case: a decision, or a failure that fails closed.
fn decided(link: &Link, answer: Answer) -> (PolicyIdentity, Result<levee_core::engine::PolicyDecision, PolicyFailure>) {
    // The plugin failed to decide: named as its runner describes it, which a trap in
    // `evaluate` does not prevent.
    let failed = |failure| (identify(link), Err(failure));
    match answer {
        Answer::TimedOut => failed(PolicyFailure::DeadlineExceeded { limit_ms: link.deadline_ms }),
        Answer::Unreachable(message) => failed(PolicyFailure::Unavailable { message }),
        Answer::Status(200, body) => match serde_json::from_slice::<RemoteDecision>(&body) {
            Ok(decision) => {
                let policy = PolicyIdentity { name: link.name.clone(), ..decision.policy };
                (policy, decision.result)
            }
            Err(error) => failed(PolicyFailure::Malformed { message: format!("the runner's answer: {error}") }),
        },
        // Spin answers 500 when the runner's instance trapped (the plugin trapped, panicked or
        // ran out of memory); the runner itself answers 4xx/5xx with a reason.
        Answer::Status(status, body) => failed(PolicyFailure::Trap {
            message: format!("HTTP {status} from {}: {}", authority(&link.name), String::from_utf8_lossy(&body).trim()),
        }),
    }
}

impl PolicyEngine for ChainedEngine {
    fn chain(&self) -> Vec<PolicyIdentity> {
        self.links().iter().map(identify).collect()
    }

    fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation> {
        self.links().iter().map(|link| evaluate_link(link, facts)).collect()
    }

    fn accepts_uploads(&self) -> Result<(), String> {
        Err(UPLOADS_REFUSED.to_owned())
    }

    fn inspect(&self, _bytes: &[u8]) -> Result<PluginInfo, String> {
        Err(UPLOADS_REFUSED.to_owned())
    }

    fn is_builtin(&self, name: &str) -> bool {
        self.links().iter().any(|link| link.name == name)
    }

    /// The deployed chain with new parameters or deadlines (the taxonomy changed, or a chain of
    /// the same plugins was activated). A chain that names anything else cannot run here.
    fn load_chain(&self, chain: Vec<ChainPlugin>, key: ChainKey) -> Result<(), String> {
        let mut loaded = self.loaded.lock().map_err(|_| "the engine's lock is poisoned".to_owned())?;
        let deployed: Vec<&str> = loaded.1.iter().map(|link| link.name.as_str()).collect();
        let asked: Vec<&str> = chain.iter().map(|plugin| plugin.name.as_str()).collect();
        if asked != deployed || chain.iter().any(|plugin| plugin.bytes.is_some()) {
            return Err(format!(
                "levee on Spin runs its deployed plugins {deployed:?} in order, not the chain {asked:?}"
            ));
        }
        let links = chain
            .into_iter()
            .zip(loaded.1.iter())
            .map(|(plugin, deployed)| Link {
                name: plugin.name,
                params: deployed.params.as_ref().map(|_| plugin.params),
                deadline_ms: plugin.limits.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS),
            })
            .collect();
        *loaded = (key, links);
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
