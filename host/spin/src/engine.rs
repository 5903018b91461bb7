//! The policy-engine port on Spin: each rule plugin runs in a component of its own (the policy
//! runner, `policy-runner/`, with the plugin plugged in as its dependency), and levee calls it
//! through Spin's local service chaining, `POST http://policy-<name>.spin.internal/evaluate`.
//!
//! A plugin that traps ends only its own instance: Spin answers the call 500 and levee records
//! the case as failed closed, as `levee serve`'s sandbox does. A plugin that does not answer
//! within its deadline fails closed the same way. Limits (docs/spin.md): Spin 4 gives an
//! instance no fuel and no deadline, so each plugin is plugged in metered (`levee-meter`): it
//! counts its own work and traps once it has spent its fuel, which is fixed when it is metered,
//! not per chain link; memory is capped per instance by Spin's `max_instance_memory` (runtime
//! config or `--max-instance-memory`), not per plugin. The runner names the plugin by the
//! SHA-256 of its file as built. Uploads are refused: a plugin is deployed with the
//! application, not uploaded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use levee_core::engine::{
    ChainKey, ChainPlugin, ChainRefusal, Facts, FileDigest, PluginInfo, PolicyDecision, PolicyEngine, PolicyEvaluation,
    PolicyFailure, PolicyIdentity, RemoteDecision, RemoteEvaluation,
};
use levee_core::store::Store;

use crate::outbound::{self, Answer, Call};

/// The chain when the `policies` variable is empty: levee's built-in plugins.
pub const BUILTIN: [&str; 2] = ["threshold", "routing"];

/// How long levee waits for a plugin's answer when its chain link sets no `deadline_ms`. Longer
/// than `levee serve`'s 100 ms: it also covers Spin making the runner's instance, and requests
/// queued behind others on a busy host.
const DEFAULT_DEADLINE_MS: u64 = 2_000;

/// The longest deadline a chain link may set when the `policy_deadline_max_ms` variable does
/// not say: levee waits no longer than this for one plugin's answer.
pub const DEFAULT_MAX_DEADLINE_MS: u64 = 5_000;

/// Why an upload cannot work here, and what to do instead.
pub const UPLOADS_REFUSED: &str = "levee on Spin cannot load uploaded components at run time: a rule plugin is \
    deployed with the application as a component of its own. Build it for wasm32-wasip2 (exporting \
    levee:policy/rules@0.2.0), add a `policy-<name>` component to spin.toml that plugs it into the policy runner, \
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
    files: PluginFiles,
    /// The longest deadline a link may set (`policy_deadline_max_ms`).
    max_deadline_ms: u64,
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

    /// The chain from the configuration (key 0), with the built-in plugins' parameters; what
    /// the runners last said of their files is kept in `store`.
    pub fn new(
        chain: Vec<String>,
        params: impl Fn(&str) -> serde_json::Value,
        store: Arc<dyn Store>,
        max_deadline_ms: u64,
    ) -> ChainedEngine {
        let files = PluginFiles::load(store, &chain);
        let links = chain
            .into_iter()
            .map(|name| {
                let params = BUILTIN.contains(&name.as_str()).then(|| params(&name));
                Link { name, params, deadline_ms: DEFAULT_DEADLINE_MS.min(max_deadline_ms) }
            })
            .collect();
        ChainedEngine { loaded: Mutex::new((ChainKey::default(), links)), files, max_deadline_ms }
    }

    /// The keys the engine reads when it is made for `chain`.
    pub fn keys_read(chain: &[String]) -> Vec<String> {
        chain.iter().map(|name| file_key(name)).collect()
    }

    fn links(&self) -> Vec<Link> {
        self.loaded.lock().map(|loaded| loaded.1.clone()).unwrap_or_default()
    }

    /// Runs `links` on one case: every runner at once, each with its deadline.
    fn evaluate_links(&self, links: &[Link], facts: &Facts) -> Vec<PolicyEvaluation> {
        let started = Instant::now();
        let calls: Vec<Result<Call, PolicyFailure>> =
            links.iter().map(|link| self.evaluation_call(link, facts)).collect();
        let mut answers = outbound::call_all(calls.iter().filter_map(|call| call.as_ref().ok())).into_iter();
        links
            .iter()
            .zip(calls)
            .map(|(link, call)| {
                let (policy, result) = match call {
                    Ok(_) => {
                        let answer = answers.next().unwrap_or_else(|| Answer::Unreachable("no answer".to_owned()));
                        self.decided(link, answer)
                    }
                    Err(failure) => (self.identify(link), Err(failure)),
                };
                PolicyEvaluation {
                    policy,
                    result,
                    fuel_used: 0,
                    elapsed_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
                    peak_memory_bytes: 0,
                }
            })
            .collect()
    }

    /// The deployed chain with `chain`'s parameters and deadlines; a chain that names anything
    /// else cannot run here.
    fn candidate_links(&self, chain: Vec<ChainPlugin>) -> Result<Vec<Link>, String> {
        let deployed = self.links();
        deployed_order(&deployed, &chain)?;
        Ok(chain
            .into_iter()
            .zip(deployed.iter())
            .map(|(plugin, deployed)| Link {
                name: plugin.name,
                params: deployed.params.as_ref().map(|_| plugin.params),
                // Never longer than the maximum, for a link recorded before it was lowered too.
                deadline_ms: plugin.limits.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS).min(self.max_deadline_ms),
            })
            .collect())
    }

    /// The plugin behind `link`: as a runner named it during this request, or as its runner
    /// describes it now; if the runner cannot say, by its name alone (version "unknown", no
    /// digest).
    fn identify(&self, link: &Link) -> PolicyIdentity {
        if let Some(identity) = self.files.identified(&link.name) {
            return identity;
        }
        match self.describe(link) {
            Some(Described { policy, file, .. }) => {
                self.files.learn(&link.name, PolicyIdentity { name: link.name.clone(), ..policy }, file)
            }
            None => PolicyIdentity { name: link.name.clone(), version: "unknown".to_owned(), digest: String::new() },
        }
    }

    /// What `link`'s runner says of its plugin now (`GET /describe`), if it answers.
    fn describe(&self, link: &Link) -> Option<Described> {
        let path = match self.files.known(&link.name) {
            Some(known) => format!("/describe?fingerprint={}&digest={}", known.fingerprint, known.digest),
            None => "/describe".to_owned(),
        };
        let deadline = Duration::from_millis(link.deadline_ms);
        let call = Call { authority: authority(&link.name), method: "GET", path, body: Vec::new(), deadline };
        match outbound::call(call) {
            Answer::Status(200, body) => serde_json::from_slice::<Described>(&body).ok(),
            _ => None,
        }
    }

    /// What each deployed plugin says of itself. A plugin that takes its runner's own params
    /// (its component's `params` variable) is given none by levee, so its schema does not
    /// apply to the link: it is reported as accepting anything.
    fn plugin_infos(&self, links: &[Link]) -> Result<Vec<PluginInfo>, ChainRefusal> {
        let info = |(index, link): (usize, &Link)| {
            let described = self.describe(link).ok_or_else(|| {
                ChainRefusal::of_link(index, format!("policy {}'s runner does not answer /describe", link.name))
            })?;
            let params_schema = match link.params {
                Some(_) => described.params_schema,
                None => "true".to_owned(),
            };
            let Described { policy, description, .. } = described;
            Ok(PluginInfo { name: policy.name, version: policy.version, description, params_schema })
        };
        links.iter().enumerate().map(info).collect()
    }

    /// The call that asks `link`'s runner to decide on `facts`.
    fn evaluation_call(&self, link: &Link, facts: &Facts) -> Result<Call, PolicyFailure> {
        let asked =
            RemoteEvaluation { facts: facts.clone(), params: link.params.clone(), known: self.files.known(&link.name) };
        let body =
            serde_json::to_vec(&asked).map_err(|error| PolicyFailure::Unavailable { message: error.to_string() })?;
        let deadline = Duration::from_millis(link.deadline_ms);
        Ok(Call { authority: authority(&link.name), method: "POST", path: "/evaluate".to_owned(), body, deadline })
    }

    /// What the runner's answer means for the case: a decision, or a failure that fails closed.
    fn decided(&self, link: &Link, answer: Answer) -> (PolicyIdentity, Result<PolicyDecision, PolicyFailure>) {
        // The plugin failed to decide: named as its runner describes it, which a trap in
        // `evaluate` does not prevent.
        let failed = |failure| (self.identify(link), Err(failure));
        match answer {
            Answer::TimedOut => failed(PolicyFailure::DeadlineExceeded { limit_ms: link.deadline_ms }),
            Answer::Unreachable(message) => failed(PolicyFailure::Unavailable { message }),
            Answer::Status(200, body) => match serde_json::from_slice::<RemoteDecision>(&body) {
                Ok(decision) => {
                    let policy = PolicyIdentity { name: link.name.clone(), ..decision.policy };
                    (self.files.learn(&link.name, policy, decision.file), decision.result)
                }
                Err(error) => failed(PolicyFailure::Malformed { message: format!("the runner's answer: {error}") }),
            },
            // Spin answers 500 when the runner's instance trapped (the plugin trapped, panicked,
            // ran out of memory or spent its metered fuel); the runner itself answers 4xx/5xx
            // with a reason.
            Answer::Status(status, body) => failed(PolicyFailure::Trap {
                message: format!(
                    "HTTP {status} from {}: {}",
                    authority(&link.name),
                    String::from_utf8_lossy(&body).trim()
                ),
            }),
        }
    }
}

/// What a runner's `GET /describe` says of its plugin, as far as levee keeps it.
#[derive(serde::Deserialize)]
struct Described {
    policy: PolicyIdentity,
    #[serde(default)]
    file: Option<FileDigest>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    params_schema: String,
}

/// Where levee keeps what plugin `name`'s runner last said of its file.
fn file_key(name: &str) -> String {
    format!("spin/plugin-file/{name}")
}

/// The plugins' files as their runners last described them, kept in levee's store so that a
/// runner need not hash its file on every call (`FileDigest`), and the identities the runners
/// gave during this request. A cache: a lost or stale record costs a hash, never a wrong digest,
/// since the runner checks the fingerprint against its file.
struct PluginFiles {
    store: Arc<dyn Store>,
    known: Mutex<BTreeMap<String, FileDigest>>,
    identified: Mutex<BTreeMap<String, PolicyIdentity>>,
}

impl PluginFiles {
    fn load(store: Arc<dyn Store>, names: &[String]) -> PluginFiles {
        let keys = ChainedEngine::keys_read(names);
        let stored = store.get_many(&keys).unwrap_or_else(|error| {
            tracing::warn!("the plugins' file digests could not be read, so the runners hash their files: {error}");
            vec![None; keys.len()]
        });
        let known = names
            .iter()
            .zip(stored)
            .filter_map(|(name, bytes)| Some((name.clone(), serde_json::from_slice(&bytes?).ok()?)))
            .collect();
        PluginFiles { store, known: Mutex::new(known), identified: Mutex::new(BTreeMap::new()) }
    }

    fn known(&self, name: &str) -> Option<FileDigest> {
        self.known.lock().ok()?.get(name).cloned()
    }

    fn identified(&self, name: &str) -> Option<PolicyIdentity> {
        self.identified.lock().ok()?.get(name).cloned()
    }

    /// Keeps what a runner said of plugin `name` (its file kept in the store if it changed), and
    /// returns the identity.
    fn learn(&self, name: &str, identity: PolicyIdentity, file: Option<FileDigest>) -> PolicyIdentity {
        if let Ok(mut identified) = self.identified.lock() {
            identified.insert(name.to_owned(), identity.clone());
        }
        if let Some(file) = file.filter(|file| self.known(name).as_ref() != Some(file)) {
            let stored = serde_json::to_vec(&file)
                .map_err(|error| error.to_string())
                .and_then(|bytes| self.store.set(&file_key(name), &bytes).map_err(|error| error.to_string()));
            if let Err(error) = stored {
                tracing::warn!("plugin {name}'s file digest could not be kept (its runner hashes it again): {error}");
            }
            if let Ok(mut known) = self.known.lock() {
                known.insert(name.to_owned(), file);
            }
        }
        identity
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

impl PolicyEngine for ChainedEngine {
    fn chain(&self) -> Vec<PolicyIdentity> {
        self.links().iter().map(|link| self.identify(link)).collect()
    }

    /// Every runner is asked at once (`outbound::call_all`); each link's time is until levee
    /// took its answer.
    fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation> {
        self.evaluate_links(&self.links(), facts)
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

    /// A chain runs here only as the deployed plugins in their order, each with the fuel and
    /// memory it was deployed with (its metered budget, its component's memory): a link may
    /// set its parameters and deadline (up to `policy_deadline_max_ms`), nothing else.
    fn check_chain(&self, chain: Vec<ChainPlugin>) -> Result<Vec<PluginInfo>, ChainRefusal> {
        for (index, plugin) in chain.iter().enumerate() {
            if plugin.limits.fuel.is_some() || plugin.limits.memory_bytes.is_some() {
                let reason = format!(
                    "levee on Spin cannot set policy {}'s fuel or memory: they are fixed when the plugin is deployed \
                     (its metered budget, its component's memory); leave fuel and memory_bytes out of the link",
                    plugin.name
                );
                let field = if plugin.limits.fuel.is_some() { "fuel" } else { "memory_bytes" };
                return Err(ChainRefusal { field: Some(field), ..ChainRefusal::of_link(index, reason) });
            }
            if let Some(asked) = plugin.limits.deadline_ms.filter(|asked| *asked > self.max_deadline_ms) {
                let reason = format!(
                    "deadline_ms {asked} ms is over this host's maximum of {} ms (the policy_deadline_max_ms variable)",
                    self.max_deadline_ms
                );
                return Err(ChainRefusal { field: Some("deadline_ms"), ..ChainRefusal::of_link(index, reason) });
            }
        }
        let deployed = {
            let loaded = self.loaded.lock().map_err(|_| ChainRefusal::of_chain("the engine's lock is poisoned"))?;
            deployed_order(&loaded.1, &chain).map_err(ChainRefusal::of_chain)?;
            loaded.1.clone()
        };
        self.plugin_infos(&deployed)
    }

    /// The deployed chain with new parameters or deadlines (the taxonomy changed, or a chain of
    /// the same plugins was activated). A chain that names anything else cannot run here.
    fn load_chain(&self, chain: Vec<ChainPlugin>, key: ChainKey) -> Result<(), String> {
        let links = self.candidate_links(chain)?;
        *self.loaded.lock().map_err(|_| "the engine's lock is poisoned".to_owned())? = (key, links);
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

    /// The deployed plugins with the candidate's parameters and deadlines, on each case in
    /// turn (backtests and the dry run before an activation).
    fn evaluate_candidate(
        &self,
        chain: Vec<ChainPlugin>,
        facts: &[Facts],
    ) -> Result<Vec<Vec<PolicyEvaluation>>, String> {
        let links = self.candidate_links(chain)?;
        Ok(facts.iter().map(|facts| self.evaluate_links(&links, facts)).collect())
    }
}

/// Refuses a chain that is not the deployed plugins in their order, or that brings a plugin's
/// bytes (levee on Spin cannot load uploaded plugins).
fn deployed_order(deployed: &[Link], chain: &[ChainPlugin]) -> Result<(), String> {
    let deployed: Vec<&str> = deployed.iter().map(|link| link.name.as_str()).collect();
    let asked: Vec<&str> = chain.iter().map(|plugin| plugin.name.as_str()).collect();
    if asked != deployed || chain.iter().any(|plugin| plugin.bytes.is_some()) {
        return Err(format!("levee on Spin runs its deployed plugins {deployed:?} in order, not the chain {asked:?}"));
    }
    Ok(())
}
