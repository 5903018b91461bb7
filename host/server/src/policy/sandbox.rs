//! Sandboxing: one engine and one pre-instantiated component per policy, built when its chain
//! is activated (a `levee:policy@0.2.0` plugin configured with its params and snapshotted
//! first, `preinit`); each evaluation gets a new store with a fuel budget, an epoch deadline and
//! a memory cap, and a fresh instance from the pooling allocator. Whatever goes wrong is named
//! and reported as a `PolicyFailure`, which the core turns into a fail-closed decision.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use levee_core::engine::{
    ChainKey, ChainPlugin, ChainRefusal, Facts, PluginInfo, PolicyEngine, PolicyEvaluation, PolicyFailure,
    PolicyIdentity, PolicyLimits,
};
use levee_core::registry_changes::check_params;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

use super::builtin;
use super::convert;
use super::frozen;
use super::levee::policy::types as wit;
use super::preinit::{self, PreinitError};
use super::validate::{self, Rejection};
use super::wasi::{self, Determinants, HasWasiSession, WasiSession};
use super::{Policy, PolicyPre};

/// How often the epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Instances the pool keeps slots for: the most evaluations that can run at once.
const POOLED_INSTANCES: u32 = 256;

/// The budget of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxLimits {
    /// Fuel (roughly, Wasm instructions) per evaluation.
    pub fuel: u64,
    /// Wall-clock deadline per evaluation, in milliseconds.
    pub deadline_ms: u64,
    /// Linear memory cap per instance, in bytes.
    pub memory_bytes: u64,
}

impl SandboxLimits {
    /// These limits with each override that is set taking the place of the default.
    pub fn overridden_by(self, overrides: PolicyLimits) -> SandboxLimits {
        SandboxLimits {
            fuel: overrides.fuel.unwrap_or(self.fuel),
            deadline_ms: overrides.deadline_ms.unwrap_or(self.deadline_ms),
            memory_bytes: overrides.memory_bytes.unwrap_or(self.memory_bytes),
        }
    }
}

impl Default for SandboxLimits {
    /// 10 million fuel (Shopify Functions allow 11 million instructions), 100 ms, 16 MiB.
    fn default() -> Self {
        SandboxLimits { fuel: 10_000_000, deadline_ms: 100, memory_bytes: 16 << 20 }
    }
}

/// The most any chain link may be given (`sandbox_max` in levee.toml). A chain asking for more
/// is refused before it is recorded, naming the link and the limit; the memory maximum is also
/// the size of the pool's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxMaxima {
    pub fuel: u64,
    pub deadline_ms: u64,
    pub memory_bytes: u64,
}

impl Default for SandboxMaxima {
    /// Ten times the default fuel, a second, 64 MiB.
    fn default() -> Self {
        SandboxMaxima { fuel: 100_000_000, deadline_ms: 1_000, memory_bytes: 64 << 20 }
    }
}

impl SandboxMaxima {
    /// These maxima, raised where `limits` ask for more: for running one plugin by hand
    /// (`levee policy test`), where the limits given are the ones wanted.
    pub fn covering(self, limits: SandboxLimits) -> SandboxMaxima {
        SandboxMaxima {
            fuel: self.fuel.max(limits.fuel),
            deadline_ms: self.deadline_ms.max(limits.deadline_ms),
            memory_bytes: self.memory_bytes.max(limits.memory_bytes),
        }
    }

    /// The first limit of `limits` above its maximum: the field's name and why.
    pub fn exceeded_by(&self, limits: SandboxLimits) -> Option<(&'static str, String)> {
        let checks = [
            ("fuel", limits.fuel, self.fuel, ""),
            ("deadline_ms", limits.deadline_ms, self.deadline_ms, " ms"),
            ("memory_bytes", limits.memory_bytes, self.memory_bytes, " bytes"),
        ];
        checks.into_iter().find(|(_, asked, most, _)| asked > most).map(|(field, asked, most, unit)| {
            (field, format!("{field} {asked}{unit} is over this host's maximum of {most}{unit} (sandbox_max)"))
        })
    }
}

/// Where a policy's component comes from.
#[derive(Debug, Clone)]
pub enum PolicySource {
    Builtin(&'static [u8]),
    Bytes(Vec<u8>),
}

/// A policy of the chain, as configured.
#[derive(Debug, Clone)]
pub struct LoadedPolicySpec {
    pub name: String,
    pub source: PolicySource,
    pub params: serde_json::Value,
    pub limits: SandboxLimits,
}

impl LoadedPolicySpec {
    /// The component's bytes.
    fn bytes(&self) -> &[u8] {
        match &self.source {
            PolicySource::Builtin(bytes) => bytes,
            PolicySource::Bytes(bytes) => bytes,
        }
    }
}

/// A policy ready to run: its identity, what it says of itself, limits, and how each case's
/// instance is made and called.
struct ReadyPolicy {
    identity: PolicyIdentity,
    info: PluginInfo,
    limits: SandboxLimits,
    contract: Contract,
    /// Whether it imports the deterministic WASI subset, which then needs its clock and seed.
    uses_wasi: bool,
}

/// How a plugin is instantiated and called, by the contract it was built against.
enum Contract {
    /// `levee:policy@0.2.0`, configured once when its chain was activated: each case's instance
    /// starts from the configured image and is only asked to evaluate.
    Configured(PolicyPre<SandboxState>),
    /// `levee:policy@0.2.0` that could not be snapshotted (`preinit`): each case's instance is
    /// configured with `params` before it evaluates.
    ConfiguredPerCase { pre: PolicyPre<SandboxState>, params: String },
    /// The frozen `levee:policy@0.1.0`: `params` go with every evaluation.
    Frozen0_1 { pre: frozen::PolicyPre<SandboxState>, params: String },
}

/// A plugin compiled, linked and asked what it is, not yet given its params.
struct LoadedPlugin {
    digest: String,
    info: wit::PolicyInfo,
    linker: Linker<SandboxState>,
    world: World,
    uses_wasi: bool,
}

/// The contract a plugin's exports match, with its pre-instantiated component.
enum World {
    Latest(PolicyPre<SandboxState>),
    Frozen0_1(frozen::PolicyPre<SandboxState>),
}

/// What each evaluation's store holds: the memory cap, whether it was hit, the most memory
/// the instance asked for and got, and its deterministic WASI.
pub(super) struct SandboxState {
    memory_cap: usize,
    memory_cap_hit: bool,
    peak_memory: usize,
    wasi: WasiSession,
}

impl SandboxState {
    /// Whether the instance has called WASI (and so may hold a WASI handle).
    pub(super) fn wasi_was_called(&self) -> bool {
        self.wasi.was_called()
    }
}

impl HasWasiSession for SandboxState {
    fn wasi_session(&mut self) -> &mut WasiSession {
        &mut self.wasi
    }
}

impl ResourceLimiter for SandboxState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            self.memory_cap_hit = true;
            return Err(wasmtime::Error::msg(format!("memory cap of {} bytes exceeded", self.memory_cap)));
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 10_000)
    }
}

/// The chain of rule plugins on wasmtime.
pub struct WasmPolicyEngine {
    engine: Engine,
    /// The loaded chain. It is replaced whole, and each evaluation holds the chain it started
    /// with, so a swap never changes a decision in flight.
    chain: RwLock<Arc<LoadedChain>>,
    /// The chain running in shadow beside it, if any (chain 0: none).
    shadow: RwLock<Arc<LoadedChain>>,
    /// Limits for a plugin whose chain link sets none.
    defaults: SandboxLimits,
    /// The most any plugin may be given; the memory maximum is the pool's slot size.
    maxima: SandboxMaxima,
    cache: Option<CompiledCache>,
    /// Evaluations run at most this many at a time (a case's chain holds one slot while its
    /// policies run one after the other): deadlines are wall-clock, so more than the machine
    /// has cores would let contention, not the policy, break them.
    running: EvaluationSlots,
    /// Whether 0.2.0 plugins are configured once and snapshotted (always, but for the policy
    /// benchmark's line that measures configuring every case's instance instead).
    preinitialize: bool,
    _ticker: EpochTicker,
}

/// A counting semaphore over evaluations (std only: evaluations run on blocking threads).
struct EvaluationSlots {
    free: std::sync::Mutex<usize>,
    released: std::sync::Condvar,
}

impl EvaluationSlots {
    fn new(slots: usize) -> Self {
        EvaluationSlots { free: std::sync::Mutex::new(slots.max(1)), released: std::sync::Condvar::new() }
    }

    /// Runs `work` once a slot is free.
    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        let mut free = self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        *free -= 1;
        drop(free);
        let result = work();
        *self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) += 1;
        self.released.notify_one();
        result
    }
}

impl WasmPolicyEngine {
    /// Compiles and pre-instantiates every policy, and checks each answers `describe()`.
    ///
    /// With a `compiled_cache` folder, compiled components are kept there by digest and engine
    /// settings, so a restart loads them instead of compiling again.
    /// `defaults` are the limits of plugins loaded later (`load_chain`) whose link sets none;
    /// no plugin, at start-up or later, may be given more than `maxima`.
    pub fn new(
        specs: Vec<LoadedPolicySpec>,
        compiled_cache: Option<&Path>,
        defaults: SandboxLimits,
        maxima: SandboxMaxima,
    ) -> anyhow::Result<Self> {
        Self::build(specs, compiled_cache, defaults, maxima, true)
    }

    /// The engine `new` makes, but configuring each case's instance of a 0.2.0 plugin instead of
    /// snapshotting it once: what the policy benchmark compares pre-initialization with.
    #[doc(hidden)]
    pub fn configuring_every_case(specs: Vec<LoadedPolicySpec>) -> anyhow::Result<Self> {
        Self::build(specs, None, SandboxLimits::default(), SandboxMaxima::default(), false)
    }

    fn build(
        specs: Vec<LoadedPolicySpec>,
        compiled_cache: Option<&Path>,
        defaults: SandboxLimits,
        maxima: SandboxMaxima,
        preinitialize: bool,
    ) -> anyhow::Result<Self> {
        if let Some((field, reason)) = maxima.exceeded_by(defaults) {
            anyhow::bail!("sandbox.{field}: the default {reason}");
        }
        if let Some((spec, (_, reason))) =
            specs.iter().find_map(|spec| maxima.exceeded_by(spec.limits).map(|exceeded| (spec, exceeded)))
        {
            anyhow::bail!("policy {}: {reason}", spec.name);
        }
        let engine = build_engine(maxima.memory_bytes)?;
        let cache = compiled_cache.map(|folder| CompiledCache::new(&engine, folder));
        // Ticking before the plugins are loaded: their `describe` and `configure` have deadlines.
        let ticker = EpochTicker::start(engine.clone());
        let policies = specs
            .into_iter()
            .map(|spec| prepare(&engine, spec, cache.as_ref(), preinitialize))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let running = EvaluationSlots::new(cores.min(POOLED_INSTANCES as usize));
        let chain = RwLock::new(Arc::new(LoadedChain { key: ChainKey::default(), policies }));
        let shadow = RwLock::new(Arc::new(LoadedChain { key: ChainKey::default(), policies: Vec::new() }));
        Ok(WasmPolicyEngine { engine, chain, shadow, defaults, maxima, cache, running, preinitialize, _ticker: ticker })
    }

    /// Validates, compiles (or loads compiled), configures and pre-instantiates every plugin of
    /// a chain.
    fn prepare_chain(&self, chain: Vec<ChainPlugin>) -> Result<Vec<ReadyPolicy>, String> {
        chain
            .into_iter()
            .map(|plugin| {
                let spec = self.spec_of(plugin).map_err(|(_, reason)| reason)?;
                prepare(&self.engine, spec, self.cache.as_ref(), self.preinitialize)
                    .map_err(|error| format!("{error:#}"))
            })
            .collect()
    }

    /// How each plugin of the active chain is called, in chain order (for tests).
    #[cfg(test)]
    pub(super) fn contracts(&self) -> Vec<&'static str> {
        let describe = |policy: &ReadyPolicy| match policy.contract {
            Contract::Configured(_) => "0.2.0 configured once",
            Contract::ConfiguredPerCase { .. } => "0.2.0 configured per case",
            Contract::Frozen0_1 { .. } => "0.1.0 params with every case",
        };
        self.current().policies.iter().map(describe).collect()
    }

    fn current(&self) -> Arc<LoadedChain> {
        self.chain.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn current_shadow(&self) -> Arc<LoadedChain> {
        self.shadow.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// The spec of a chain plugin: its bytes (or the built-in of that name) and its limits,
    /// which must be within this host's maxima. A refusal names the limit at fault, if one is.
    fn spec_of(&self, plugin: ChainPlugin) -> Result<LoadedPolicySpec, (Option<&'static str>, String)> {
        let source = match plugin.bytes {
            Some(bytes) => PolicySource::Bytes(bytes),
            None => PolicySource::Builtin(
                builtin::by_name(&plugin.name)
                    .ok_or_else(|| (None, format!("no built-in policy is named {}", plugin.name)))?,
            ),
        };
        let limits = self.defaults.overridden_by(plugin.limits);
        if let Some((field, reason)) = self.maxima.exceeded_by(limits) {
            return Err((Some(field), format!("policy {}: {reason}", plugin.name)));
        }
        Ok(LoadedPolicySpec { name: plugin.name, source, params: plugin.params, limits })
    }

    /// Runs every policy of a chain on one case, each in a fresh instance, holding one
    /// evaluation slot for the whole chain and converting the facts once.
    fn evaluate_chain(&self, policies: &[ReadyPolicy], facts: &Facts) -> Vec<PolicyEvaluation> {
        if policies.is_empty() {
            return Vec::new();
        }
        self.running.run(|| {
            let wit_facts = convert::facts_to_wit(facts);
            policies.iter().map(|policy| self.evaluate_now(policy, facts, &wit_facts)).collect()
        })
    }

    fn evaluate_now(&self, policy: &ReadyPolicy, facts: &Facts, wit_facts: &wit::Facts) -> PolicyEvaluation {
        let started = Instant::now();
        let determinants = if policy.uses_wasi {
            Determinants::for_case(&facts.case_id, facts.submitted_at)
        } else {
            Determinants::outside_a_case()
        };
        let mut store = new_store(&self.engine, &policy.limits, determinants);
        let outcome = run_evaluate(&mut store, policy, wit_facts);
        let fuel_left = store.get_fuel().unwrap_or(0);
        let result = outcome.map_err(|error| name_failure(&error, store.data(), &policy.limits));
        PolicyEvaluation {
            policy: policy.identity.clone(),
            result,
            fuel_used: policy.limits.fuel.saturating_sub(fuel_left),
            elapsed_micros: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            peak_memory_bytes: store.data().peak_memory as u64,
        }
    }
}

impl PolicyEngine for WasmPolicyEngine {
    fn chain(&self) -> Vec<PolicyIdentity> {
        self.current().policies.iter().map(|policy| policy.identity.clone()).collect()
    }

    fn evaluate(&self, facts: &Facts) -> Vec<PolicyEvaluation> {
        let chain = self.current();
        self.evaluate_chain(&chain.policies, facts)
    }

    fn inspect(&self, bytes: &[u8]) -> Result<PluginInfo, String> {
        let loaded = load(&self.engine, "upload", bytes, &self.defaults, self.cache.as_ref()).map_err(|error| {
            let text = format!("{error:#}");
            text.strip_prefix("policy upload: ").map(str::to_owned).unwrap_or(text)
        })?;
        Ok(plugin_info(loaded.info))
    }

    fn is_builtin(&self, name: &str) -> bool {
        builtin::by_name(name).is_some()
    }

    fn check_chain(&self, chain: Vec<ChainPlugin>) -> Result<Vec<PluginInfo>, ChainRefusal> {
        let check = |(index, plugin)| {
            let spec = self
                .spec_of(plugin)
                .map_err(|(field, reason)| ChainRefusal { field, ..ChainRefusal::of_link(index, reason) })?;
            let refused = |field, reason| ChainRefusal { field, ..ChainRefusal::of_link(index, reason) };
            let cache = self.cache.as_ref();
            let loaded = load(&self.engine, &spec.name, spec.bytes(), &spec.limits, cache)
                .map_err(|error| refused(None, format!("{error:#}")))?;
            // The schema first, for its clearer message; then the plugin's own `configure`.
            check_params(&spec.name, &loaded.info.params_schema, &spec.params)
                .map_err(|reason| refused(Some("params"), reason))?;
            make_ready(&self.engine, loaded, spec, cache, self.preinitialize).map(|ready| ready.info).map_err(|error| {
                let blames_params =
                    error.downcast_ref::<ConfigureRefused>().is_some_and(|refused| refused.blames_params);
                let field = blames_params.then_some("params");
                refused(field, format!("{error:#}"))
            })
        };
        chain.into_iter().enumerate().map(check).collect()
    }

    fn load_chain(&self, chain: Vec<ChainPlugin>, key: ChainKey) -> Result<(), String> {
        let policies = self.prepare_chain(chain)?;
        *self.chain.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(LoadedChain { key, policies });
        tracing::info!(chain = key.chain, taxonomy = key.taxonomy, "policy chain loaded");
        Ok(())
    }

    fn loaded_chain(&self) -> ChainKey {
        self.current().key
    }

    fn load_shadow(&self, chain: Option<Vec<ChainPlugin>>, key: ChainKey) -> Result<(), String> {
        let policies = match chain {
            Some(chain) => self.prepare_chain(chain)?,
            None => Vec::new(),
        };
        *self.shadow.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(LoadedChain { key, policies });
        Ok(())
    }

    fn loaded_shadow(&self) -> ChainKey {
        self.current_shadow().key
    }

    fn evaluate_shadow(&self, facts: &Facts) -> Option<Vec<PolicyEvaluation>> {
        let shadow = self.current_shadow();
        (shadow.key.chain != 0).then(|| self.evaluate_chain(&shadow.policies, facts))
    }

    fn evaluate_candidate(
        &self,
        chain: Vec<ChainPlugin>,
        facts: &[Facts],
    ) -> Result<Vec<Vec<PolicyEvaluation>>, String> {
        let policies = self.prepare_chain(chain)?;
        Ok(facts.iter().map(|facts| self.evaluate_chain(&policies, facts)).collect())
    }
}

/// A chain ready to run, and which it is.
struct LoadedChain {
    key: ChainKey,
    policies: Vec<ReadyPolicy>,
}

/// The engine's settings without the sandbox's limits: the component model and a pooling
/// allocator sized for small policies. `build_engine` adds fuel and epochs; the policy
/// benchmark runs bare wasmtime on these settings, to measure what the limits cost.
///
/// When an instance ends, its memory is put back to the component's image. With the kernel's
/// `PAGEMAP_SCAN` (Linux 6.7 and later; `Auto` does without it elsewhere) only the pages the
/// plugin wrote are copied back, up to `linear_memory_keep_resident`; without it, that many
/// bytes are reset whether written or not, so it stays at 1 MiB (BENCHMARKS.md, issue 9).
pub fn bare_config(memory_ceiling: u64) -> anyhow::Result<Config> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOLED_INSTANCES)
        .total_core_instances(POOLED_INSTANCES)
        .total_memories(POOLED_INSTANCES)
        .total_tables(POOLED_INSTANCES)
        .max_memory_size(usize::try_from(memory_ceiling)?)
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(1 << 14)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Bounds are checked by the compiled code rather than by guard pages and signals: a
        // fresh instance then needs no `mprotect` of its slot (and no TLB shootdown on the
        // other cores) when it is made or when its memory grows, and a slot reserves the
        // ceiling rather than 4 GiB and a guard.
        .signals_based_traps(false)
        .memory_guard_size(0)
        .memory_reservation(memory_ceiling);
    Ok(config)
}

/// The bare settings with fuel and epoch interruption: the engine levee runs plugins on.
fn build_engine(memory_ceiling: u64) -> anyhow::Result<Engine> {
    let mut config = bare_config(memory_ceiling)?;
    config.consume_fuel(true).epoch_interruption(true);
    Engine::new(&config).map_err(|error| anyhow!("cannot configure the wasmtime engine: {error}"))
}

/// Loads a policy (`load`) and makes it ready to run with its params: a 0.2.0 plugin is
/// configured and snapshotted (`preinit`); a 0.1.0 plugin keeps its params for every call.
fn prepare(
    engine: &Engine,
    spec: LoadedPolicySpec,
    cache: Option<&CompiledCache>,
    preinitialize: bool,
) -> anyhow::Result<ReadyPolicy> {
    let loaded = load(engine, &spec.name, spec.bytes(), &spec.limits, cache)?;
    make_ready(engine, loaded, spec, cache, preinitialize)
}

/// A loaded plugin given its params: configured and snapshotted (0.2.0), or keeping them for
/// every call (0.1.0).
fn make_ready(
    engine: &Engine,
    loaded: LoadedPlugin,
    spec: LoadedPolicySpec,
    cache: Option<&CompiledCache>,
    preinitialize: bool,
) -> anyhow::Result<ReadyPolicy> {
    let bytes = spec.bytes();
    let params = serde_json::to_string(&spec.params).context("encode policy parameters")?;
    let contract = match loaded.world {
        World::Frozen0_1(pre) => Contract::Frozen0_1 { pre, params },
        World::Latest(pre) if preinitialize => {
            preinitialize_plugin(engine, &loaded.linker, pre, &spec, bytes, params, cache)?
        }
        World::Latest(pre) => configure_per_case(engine, pre, &spec, params)?,
    };
    tracing::info!(policy = %spec.name, version = %loaded.info.version, digest = %loaded.digest, "policy loaded");
    Ok(ReadyPolicy {
        identity: PolicyIdentity { name: spec.name, version: loaded.info.version.clone(), digest: loaded.digest },
        info: plugin_info(loaded.info),
        limits: spec.limits,
        contract,
        uses_wasi: loaded.uses_wasi,
    })
}

/// Validates and compiles a policy (or loads it compiled), links it against the deterministic
/// WASI subset (a policy may import nothing else but the contract's types), finds which
/// contract it was built against, and asks it to describe itself.
fn load(
    engine: &Engine,
    name: &str,
    bytes: &[u8],
    limits: &SandboxLimits,
    cache: Option<&CompiledCache>,
) -> anyhow::Result<LoadedPlugin> {
    let digest = hex::encode(Sha256::digest(bytes));
    let component =
        compile(engine, bytes, &digest, cache).map_err(|rejection| anyhow!("policy {name}: {rejection}"))?;
    let mut linker: Linker<SandboxState> = Linker::new(engine);
    wasi::add_to_linker(&mut linker).map_err(|error| anyhow!("cannot link the WASI subset: {error}"))?;
    let uses_wasi = component.component_type().imports(engine).any(|(name, _)| wasi::is_wasi(name));
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|error| anyhow!("policy {name}: imports something levee does not provide: {error}"))?;
    let world = match PolicyPre::new(instance_pre.clone()) {
        Ok(pre) => World::Latest(pre),
        Err(latest_error) => frozen::PolicyPre::new(instance_pre)
            .map(World::Frozen0_1)
            .map_err(|_| anyhow!("policy {name}: {}", Rejection::WrongWorld(format!("{latest_error:#}"))))?,
    };
    let mut store = new_store(engine, limits, Determinants::outside_a_case());
    let described = match &world {
        World::Latest(pre) => {
            pre.instantiate(&mut store).and_then(|policy: Policy| policy.levee_policy_rules().call_describe(&mut store))
        }
        World::Frozen0_1(pre) => pre
            .instantiate(&mut store)
            .and_then(|policy| policy.levee_policy_rules().call_describe(&mut store))
            .map(frozen::info),
    };
    let info = described.map_err(|error| {
        let failure = name_failure(&EvaluationError::Wasm(error), store.data(), limits);
        anyhow!("policy {name}: describe() {failure}")
    })?;
    Ok(LoadedPlugin { digest, info, linker, world, uses_wasi })
}

/// Compiles a component (or loads it compiled, with a cache) after validating it.
fn compile(engine: &Engine, bytes: &[u8], digest: &str, cache: Option<&CompiledCache>) -> Result<Component, Rejection> {
    match cache {
        Some(cache) => cache.load_or_compile(engine, bytes, digest),
        None => validate::check(engine, bytes),
    }
}

/// Gives a 0.2.0 plugin its params once, under the link's limits, and snapshots the configured
/// instance as the image every case's instance starts from. A plugin that refuses its params,
/// traps or runs out of budget in `configure` is refused, named; one wizer cannot snapshot (or
/// whose snapshot does not compile, say over the size limit) is configured in each case's
/// instance instead (after its params were checked once here).
fn preinitialize_plugin(
    engine: &Engine,
    linker: &Linker<SandboxState>,
    pre: PolicyPre<SandboxState>,
    spec: &LoadedPolicySpec,
    bytes: &[u8],
    params: String,
    cache: Option<&CompiledCache>,
) -> anyhow::Result<Contract> {
    let name = &spec.name;
    let compile_instrumented = |instrumented: &preinit::Instrumented<'_>| {
        let digest = hex::encode(Sha256::digest(&instrumented.bytes));
        compile(engine, &instrumented.bytes, &digest, cache)
            .map_err(|rejection| PreinitError::CannotSnapshot(rejection.to_string()))
    };
    // The store, and so the link's deadline, starts once the instrumented plugin is compiled.
    let mut store = new_store(engine, &spec.limits, Determinants::outside_a_case());
    let configured = preinit::instrument(bytes).and_then(|instrumented| {
        let component = compile_instrumented(&instrumented)?;
        store = new_store(engine, &spec.limits, Determinants::outside_a_case());
        preinit::snapshot_configured(linker, &mut store, &instrumented, &component, &params)
    });
    // The snapshot is compiled, not cached: it changes with every set of params (each matrix or
    // taxonomy change, each backtest candidate), and the cache keeps what it holds forever.
    let snapshot_ready = |snapshot: Vec<u8>| {
        let component = validate::check(engine, &snapshot).map_err(|rejection| rejection.to_string())?;
        linker.instantiate_pre(&component).and_then(PolicyPre::new).map_err(|error| format!("{error:#}"))
    };
    match configured.and_then(|snapshot| {
        snapshot_ready(snapshot).map_err(|reason| PreinitError::CannotSnapshot(format!("its snapshot: {reason}")))
    }) {
        Ok(configured) => Ok(Contract::Configured(configured)),
        Err(PreinitError::ConfigureFailed(error)) => Err(configure_refused(name, &error, &store, &spec.limits)),
        Err(PreinitError::CannotSnapshot(reason)) => {
            tracing::warn!(policy = %name, %reason, "not pre-initialized: each case's instance is configured first");
            configure_per_case(engine, pre, spec, params)
        }
    }
}

/// A 0.2.0 plugin configured in each case's instance before it evaluates, after its params
/// were checked once here by the same `configure`.
fn configure_per_case(
    engine: &Engine,
    pre: PolicyPre<SandboxState>,
    spec: &LoadedPolicySpec,
    params: String,
) -> anyhow::Result<Contract> {
    let mut store = new_store(engine, &spec.limits, Determinants::outside_a_case());
    let configured = pre
        .instantiate(&mut store)
        .map_err(EvaluationError::Instantiate)
        .and_then(|policy| configure(&policy, &mut store, &params));
    match configured {
        Ok(()) => Ok(Contract::ConfiguredPerCase { pre, params }),
        Err(error) => Err(configure_refused(&spec.name, &error, &store, &spec.limits)),
    }
}

/// Calls a 0.2.0 plugin's `configure` with `params`: the plugin refusing them, trapping or
/// breaking a limit is an error naming which.
pub(super) fn configure(policy: &Policy, store: &mut Store<SandboxState>, params: &str) -> Result<(), EvaluationError> {
    match policy.levee_policy_rules().call_configure(store, params).map_err(EvaluationError::Wasm)? {
        Ok(()) => Ok(()),
        Err(refusal) => Err(EvaluationError::Policy(convert::policy_error_from_wit(refusal))),
    }
}

/// The refusal of a plugin whose `configure` failed, naming how.
fn configure_refused(
    name: &str,
    error: &EvaluationError,
    store: &Store<SandboxState>,
    limits: &SandboxLimits,
) -> anyhow::Error {
    let failure = name_failure(error, store.data(), limits);
    let blames_params = matches!(failure, PolicyFailure::PolicyError { .. } | PolicyFailure::Trap { .. });
    anyhow::Error::new(ConfigureRefused { message: format!("policy {name}: configure() {failure}"), blames_params })
}

/// A 0.2.0 plugin configured with `params` and snapshotted, as `configure` makes it, on the
/// default limits: for the policy benchmark, which runs the same image on bare wasmtime.
pub fn configured_snapshot(bytes: &[u8], params: &serde_json::Value) -> anyhow::Result<Vec<u8>> {
    let engine = build_engine(SandboxMaxima::default().memory_bytes)?;
    validate::check(&engine, bytes).map_err(|rejection| anyhow!("{rejection}"))?;
    let mut linker: Linker<SandboxState> = Linker::new(&engine);
    wasi::add_to_linker(&mut linker).map_err(|error| anyhow!("cannot link the WASI subset: {error}"))?;
    let failed = |error: PreinitError| match error {
        PreinitError::CannotSnapshot(reason) => anyhow!("not pre-initialized: {reason}"),
        PreinitError::ConfigureFailed(_) => anyhow!("configure() failed"),
    };
    let instrumented = preinit::instrument(bytes).map_err(failed)?;
    let component = validate::check(&engine, &instrumented.bytes).map_err(|rejection| anyhow!("{rejection}"))?;
    let mut store = new_store(&engine, &SandboxLimits::default(), Determinants::outside_a_case());
    let params = serde_json::to_string(params)?;
    preinit::snapshot_configured(&linker, &mut store, &instrumented, &component, &params).map_err(failed)
}

/// A plugin's `configure` failed on a link's params: a refusal or a trap names the link's
/// `params`; a limit it broke names the link as a whole.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct ConfigureRefused {
    message: String,
    blames_params: bool,
}

fn plugin_info(info: wit::PolicyInfo) -> PluginInfo {
    PluginInfo {
        name: info.name,
        version: info.version,
        description: info.description,
        params_schema: info.params_schema,
    }
}

/// Compiled components on disk, named by the component's sha256 and the engine's compatibility
/// hash, so that a restart (or another policy with the same bytes) does not compile again.
struct CompiledCache {
    folder: PathBuf,
    engine_hash: String,
}

impl CompiledCache {
    fn new(engine: &Engine, folder: &Path) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompiledCache { folder: folder.to_path_buf(), engine_hash: format!("{:016x}", hasher.finish()) }
    }

    /// Validates the bytes, then loads the compiled form if this engine made it before, or
    /// compiles and keeps it. A cache that cannot be written is only logged.
    fn load_or_compile(&self, engine: &Engine, bytes: &[u8], digest: &str) -> Result<Component, Rejection> {
        validate::check_header(bytes)?;
        let path = self.folder.join(format!("{digest}-{}.cwasm", self.engine_hash));
        if path.exists() {
            // SAFETY: levee wrote this file itself, into its own data directory, under a name
            // made of the sha256 of the exact component bytes and this engine's compatibility
            // hash; wasmtime also checks the engine header when it loads it. Anyone who can
            // write there can already replace the levee binary.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return validate::check_imports(engine, &component).map(|()| component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "compiled cache entry unusable; recompiling")
                }
            }
        }
        let component = validate::check(engine, bytes)?;
        if let Err(error) = self.keep(&component, &path) {
            tracing::warn!(path = %path.display(), %error, "could not keep the compiled component");
        }
        Ok(component)
    }

    fn keep(&self, component: &Component, path: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.folder)?;
        // Unique to this process and thread: two hosts or two loads may keep the same file.
        let temporary = path.with_extension(format!("{}-{:?}.tmp", std::process::id(), std::thread::current().id()));
        std::fs::write(&temporary, component.serialize().map_err(|error| anyhow!("{error}"))?)?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }
}

/// A store for one evaluation, with its budget set.
fn new_store(engine: &Engine, limits: &SandboxLimits, determinants: Determinants) -> Store<SandboxState> {
    let memory_cap = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
    let state =
        SandboxState { memory_cap, memory_cap_hit: false, peak_memory: 0, wasi: WasiSession::new(determinants) };
    let mut store = Store::new(engine, state);
    store.limiter(|state| state);
    // Only fails if fuel is not enabled, and it always is (build_engine).
    let _ = store.set_fuel(limits.fuel);
    store.set_epoch_deadline(limits.deadline_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1));
    store
}

fn run_evaluate(
    store: &mut Store<SandboxState>,
    policy: &ReadyPolicy,
    facts: &wit::Facts,
) -> Result<levee_core::engine::PolicyDecision, EvaluationError> {
    let answer = match &policy.contract {
        Contract::Configured(pre) => {
            let instance = pre.instantiate(&mut *store).map_err(EvaluationError::Instantiate)?;
            instance.levee_policy_rules().call_evaluate(&mut *store, facts).map_err(EvaluationError::Wasm)?
        }
        Contract::ConfiguredPerCase { pre, params } => {
            let instance = pre.instantiate(&mut *store).map_err(EvaluationError::Instantiate)?;
            configure(&instance, store, params)?;
            instance.levee_policy_rules().call_evaluate(&mut *store, facts).map_err(EvaluationError::Wasm)?
        }
        Contract::Frozen0_1 { pre, params } => {
            let instance = pre.instantiate(&mut *store).map_err(EvaluationError::Instantiate)?;
            let answer = instance
                .levee_policy_rules()
                .call_evaluate(&mut *store, &frozen::facts(facts), params)
                .map_err(EvaluationError::Wasm)?;
            frozen::answer(answer)
        }
    };
    match answer {
        Ok(decision) => Ok(convert::decision_from_wit(decision)),
        Err(error) => Err(EvaluationError::Policy(convert::policy_error_from_wit(error))),
    }
}

pub(super) enum EvaluationError {
    /// No instance could be made: the pool is exhausted, or the policy's initial memory is
    /// over its cap.
    Instantiate(wasmtime::Error),
    Wasm(wasmtime::Error),
    Policy(PolicyFailure),
}

/// Names what went wrong: out of fuel, past the deadline, over the memory cap, or a trap (with
/// the end of what the plugin wrote to stderr, if anything).
fn name_failure(error: &EvaluationError, state: &SandboxState, limits: &SandboxLimits) -> PolicyFailure {
    match name_failure_cause(error, state, limits) {
        PolicyFailure::Trap { message } => match state.wasi.stderr_tail() {
            Some(stderr) => PolicyFailure::Trap { message: format!("{message}; stderr: {stderr}") },
            None => PolicyFailure::Trap { message },
        },
        failure => failure,
    }
}

fn name_failure_cause(error: &EvaluationError, state: &SandboxState, limits: &SandboxLimits) -> PolicyFailure {
    if state.memory_cap_hit {
        return PolicyFailure::MemoryLimit { limit_bytes: limits.memory_bytes };
    }
    let error = match error {
        EvaluationError::Policy(failure) => return failure.clone(),
        EvaluationError::Instantiate(error) => {
            return PolicyFailure::Unavailable { message: format!("no sandbox instance: {error:#}") };
        }
        EvaluationError::Wasm(error) => error,
    };
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => PolicyFailure::FuelExhausted { limit: limits.fuel },
        Some(Trap::Interrupt) => PolicyFailure::DeadlineExceeded { limit_ms: limits.deadline_ms },
        Some(trap) => PolicyFailure::Trap { message: trap.to_string() },
        None => PolicyFailure::Trap { message: format!("{error:#}") },
    }
}

/// Advances the engine's epoch every `EPOCH_TICK` until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("levee-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        EpochTicker { stop, thread }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
